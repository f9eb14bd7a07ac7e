"""`python -m mini_streamio.exports_main <version> [--format F …] [--half | --int8 --data DATASET]`.

Run by `mini-streamio model export`. Prints one line per export (a JSON object with --json).
Exit status: 0 exported, 1 the export itself failed, 2 bad input (unknown version or format, a
runtime or GPU missing): the message names what is missing and nothing is stored.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mini_streamio.offline import configure_ultralytics
from mini_streamio.registry import RegisteredWeights
from mini_streamio.runtimes import (
    EXPORTABLE,
    ULTRALYTICS_FORMAT,
    ExportError,
    ExportOptions,
)
from mini_streamio.settings import Settings, SettingsError, get_settings
from mini_streamio.training.dataset import DatasetError
from mini_streamio.training.events import reserve_stdout

# `engine` is Ultralytics' name for a TensorRT export; both are accepted.
FORMAT_NAMES = {backend.value: backend for backend in EXPORTABLE} | {
    ULTRALYTICS_FORMAT[backend]: backend for backend in EXPORTABLE
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mini-streamio model export")
    parser.add_argument("version", help="registry version number, or @alias")
    parser.add_argument("--name", default=None, help="registered model name (default from settings)")
    parser.add_argument("--format", action="append", dest="formats", metavar="FORMAT", default=[])
    parser.add_argument("--half", action="store_true", help="fp16 weights")
    parser.add_argument("--int8", action="store_true", help="int8, calibrated on --data")
    parser.add_argument("--data", default=None, help="dataset (name[@version]) to calibrate int8 on")
    parser.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as error:
        return _bad_input(str(error))
    unknown = [name for name in args.formats if name not in FORMAT_NAMES]
    if unknown:
        return _bad_input(f"unknown format {unknown[0]!r}; choose from {', '.join(FORMAT_NAMES)}")
    from mini_streamio.exports import export_version, formats_setting
    from mini_streamio.registry import resolve
    from mini_streamio.runtimes import check_exportable

    backends = [FORMAT_NAMES[name] for name in args.formats] or formats_setting(settings)
    reference = args.version if args.version.startswith("@") else args.version.removeprefix("v")
    name = args.name or settings.registered_model_name
    registered = resolve(settings, reference, name)
    if registered is None:
        return _bad_input(f"model {name} has no version {args.version!r} with weights")
    if args.int8 and not args.data:
        return _bad_input("--int8 needs calibration images: pass --data <dataset>")
    try:
        for backend in backends:
            check_exportable(ExportOptions(backend, args.half, args.int8))
        data = _calibration_data(settings, args.data) if args.int8 else None
    except (ExportError, DatasetError) as error:
        return _bad_input(str(error))
    output = reserve_stdout()  # Ultralytics prints its export log to stdout
    configure_ultralytics(settings.data_dir / "ultralytics")
    for backend in backends:
        options = ExportOptions(backend, args.half, args.int8, data)
        try:
            registered = export_version(settings, registered, options)
        except Exception as error:
            return _failed(f"the {backend} export of {name} v{registered.version} failed: {error}")
        print(_describe(settings, registered, options, args.json), file=output)
    return 0


def _describe(
    settings: Settings, registered: RegisteredWeights, options: ExportOptions, as_json: bool
) -> str:
    name, version, entry = registered.name, registered.version, registered.exports[options.key]
    uri = f"s3://{settings.models_bucket}/{name}/{version}/{options.key}/"
    if as_json:
        return json.dumps({"name": name, "version": version, "format": options.backend, "uri": uri} | entry)
    return (
        f"{name} v{version}: {options.backend} ({entry['precision']}, {entry['bytes'] / 1e6:.1f} MB) at {uri}"
    )


def _calibration_data(settings: Settings, dataset: str) -> Path:
    from mini_streamio.training.dataset import fetch_dataset

    return fetch_dataset(settings, dataset).data_yaml


def _bad_input(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _failed(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
