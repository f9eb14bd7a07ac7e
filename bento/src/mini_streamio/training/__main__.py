"""`python -m mini_streamio.training --dataset=<ref> --model=<ref> [options] [key=value …]`.

The CLI (`mini-streamio train`) runs this with `--events=jsonl`: stdout then carries only JSON
events (one per line, contracts/trainer-event.schema.json) and all other output goes to stderr.
Exit status (contracts/trainer-exit-codes.schema.json): 0 finished, 1 failed, 2 bad arguments,
130 stopped by SIGINT/SIGTERM (the MLflow run is then KILLED).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

import yaml

from mini_streamio.contracts import train_default, trainer_exit_codes
from mini_streamio.offline import configure_ultralytics
from mini_streamio.settings import SettingsError, get_settings
from mini_streamio.training.events import EventSink, ReadableSink, reserve_stdout_for_events

# By the run's final status (FINISHED, FAILED, KILLED); argparse exits with "usage" (2) itself.
EXIT_CODES = {name.upper(): code for name, code in trainer_exit_codes().items() if name != "usage"}


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Fine-tune a YOLO detector on a dataset from MinIO, tracked in MLflow.",
        epilog="Other Ultralytics train arguments: --arg key=value (repeatable) or key=value at the end.",
    )
    parser.add_argument("--dataset", required=True, help="name, name@version or s3://bucket/prefix")
    parser.add_argument(
        "--model",
        required=True,
        help="yolov8l | yolov8n.yaml | s3://bucket/key.pt | ./local.pt | models:/<name>/<version> "
        "| models:/<name>@<alias>",
    )
    parser.add_argument("--epochs", type=int, default=train_default("epochs"))
    parser.add_argument("--imgsz", type=int, default=train_default("imgsz"))
    parser.add_argument(
        "--batch", type=float, default=train_default("batch"), help="images per batch, -1 for auto"
    )
    parser.add_argument("--device", default=None, help="cpu, 0, 0,1 … (default: first GPU, else CPU)")
    parser.add_argument("--experiment", default=train_default("experiment"), help="MLflow experiment")
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--register-as", default=None, help="registered model name (default from settings)")
    parser.add_argument("--no-register", action="store_true", help="do not register the best weights")
    parser.add_argument("--alias", default=None, help="point this registry alias at the new version")
    parser.add_argument("--demo", action="store_true", help="tag the registered version as a demo model")
    parser.add_argument("--description", default=None, help="description of the registered version")
    parser.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE", dest="args")
    parser.add_argument("--events", choices=("text", "jsonl"), default="text")
    parser.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop (run KILLED) when standard input closes, i.e. when the parent process dies",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE")
    return parser


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """`key=value` strings with YAML-typed values (`lr0=0.01` is a float, `cos_lr=true` a bool)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{pair!r} is not key=value")
        overrides[key.strip()] = yaml.safe_load(value) if value else ""
    return overrides


def check_overrides(overrides: dict[str, Any]) -> None:
    """Unknown or reserved Ultralytics arguments are refused before any run starts."""
    from ultralytics.utils import DEFAULT_CFG_DICT

    from mini_streamio.training.trainer import RESERVED_ARGS

    reserved = sorted(set(overrides) & RESERVED_ARGS)
    if reserved:
        raise ValueError(f"{', '.join(reserved)} cannot be overridden (set by mini-streamio)")
    unknown = sorted(set(overrides) - set(DEFAULT_CFG_DICT))
    if unknown:
        raise ValueError(f"unknown Ultralytics train argument(s): {', '.join(unknown)}")


def _raise_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _stop_when_stdin_closes() -> None:
    """The parent died or gave up: interrupt training so the run still ends KILLED."""
    import _thread

    def watch() -> None:
        # os.read, not sys.stdin: a daemon thread blocked inside a buffered reader holds its
        # lock, and the interpreter aborts at exit when it cannot take that lock.
        while os.read(0, 1024):
            pass
        _thread.interrupt_main()

    threading.Thread(target=watch, name="stdin-watch", daemon=True).start()


def _usage_error(events: EventSink, parser: argparse.ArgumentParser, message: str) -> NoReturn:
    events.emit("failed", status="FAILED", error=message)
    parser.error(message)


def main(argv: Sequence[str] | None = None, prog: str | None = None, entry: str = "cli") -> int:
    parser = build_parser(prog)
    options = parser.parse_args(argv)
    events: EventSink = reserve_stdout_for_events() if options.events == "jsonl" else ReadableSink()
    try:
        settings = get_settings()
    except SettingsError as error:
        events.emit("failed", status="FAILED", error=str(error))
        return 1
    configure_ultralytics(settings.data_dir / "ultralytics")
    try:
        overrides = parse_overrides([*options.args, *options.overrides])
        check_overrides(overrides)
    except ValueError as error:
        _usage_error(events, parser, str(error))
    signal.signal(signal.SIGTERM, _raise_interrupt)
    if options.stop_on_stdin_eof:
        _stop_when_stdin_closes()

    from mini_streamio.training.trainer import TrainRequest, train

    request = TrainRequest(
        dataset=options.dataset,
        model=options.model,
        epochs=options.epochs,
        imgsz=options.imgsz,
        batch=options.batch,
        device=options.device,
        experiment=options.experiment,
        run_name=options.run_name,
        register=not options.no_register,
        register_as=options.register_as,
        alias=options.alias,
        demo=options.demo,
        description=options.description,
        extra=overrides,
    )
    try:
        result = train(settings, request, events, entry=entry)
    except Exception as error:  # before a run exists: MLflow unreachable, bad settings …
        events.emit("failed", status="FAILED", error=f"{type(error).__name__}: {error}")
        return 1
    return EXIT_CODES[result.status]


if __name__ == "__main__":
    sys.exit(main())
