"""Exports of registered versions: made by Ultralytics, stored in MinIO beside best.pt, listed in a tag.

Layout: `s3://<models bucket>/<name>/<version>/<key>/<files>` (onnx: best.onnx; openvino:
best.xml, best.bin, metadata.yaml; tensorrt: best.engine), where the key is the backend, or
`<backend>-int8` for an int8 export (ExportOptions.key), which is kept beside the float one. The
version's `exports` tag lists what exists, as JSON `{key: {precision, imgsz, files, bytes}}`; a
reader trusts the tag only, and the
tag is written after every file is in place. Files are uploaded under a staging prefix first and then
copied to their keys, so a failed export leaves nothing half-written where a reader looks. The same
files are logged as MLflow artifacts of the version's run (`exports/<key>/`).

Entry point: `python -m mini_streamio.exports <version> [--format …]` (`mini-streamio model export`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from minio.commonconfig import CopySource

from mini_streamio.mlflow_rest import MlflowRest
from mini_streamio.registry import EXPORTS_TAG, RegisteredWeights, download_weights, resolve
from mini_streamio.runtimes import Backend, ExportOptions, export_weights
from mini_streamio.settings import Settings, settings_environment
from mini_streamio.storage import minio_client

logger = logging.getLogger(__name__)

# Ultralytics recognises an OpenVINO export by its directory's name.
MODEL_DIRECTORY = "best_openvino_model"
EXPORT_TIMEOUT_S = 1800  # a TensorRT engine of a large model takes minutes


def export_version(
    settings: Settings, registered: RegisteredWeights, options: ExportOptions
) -> RegisteredWeights:
    """Exports the version's weights for `options.backend`, stores the export and tags the version."""
    with _export_lock(settings, registered, options.key):
        return _export(settings, registered, options)


def export_or_fetch(settings: Settings, registered: RegisteredWeights, backend: Backend) -> tuple[Path, str]:
    """The local path of the version's export for `backend` and its precision, exporting it if missing.

    A version with an int8 export for `backend` (made only by hand: `model export --int8 --data …`)
    runs on it, the fastest; else on the backend's float export. Versions registered before
    exports existed get the float one here, on first load, and keep it. The service's workers load
    at once: the first exports, the others wait and then fetch its export.
    """
    int8 = ExportOptions(backend, int8=True).key
    key = int8 if int8 in registered.exports else backend.value
    with _export_lock(settings, registered, key, purpose="load"):
        if key not in registered.exports:
            registered = resolve(settings, registered.version, registered.name) or registered
        if key not in registered.exports:
            _export_in_subprocess(settings, registered, backend)
            registered = resolve(settings, registered.version, registered.name) or registered
        if key not in registered.exports:
            raise RuntimeError(f"the {key} export of {registered.name} v{registered.version} was not stored")
        entry = registered.exports[key]
        target = _cache_dir(settings, registered, key)
        if not (target / ".complete").exists():
            _download(settings, registered, key, target)
        return _served_path(target, entry), str(entry["precision"])


def _export_in_subprocess(settings: Settings, registered: RegisteredWeights, backend: Backend) -> None:
    """Exports through `python -m mini_streamio.exports_main`: the exporter needs torch and Ultralytics,
    which a process that serves ONNX or OpenVINO never imports otherwise."""
    name, version = registered.name, registered.version
    logger.info("%s v%s has no %s export yet: exporting it now", name, version, backend)
    command = [
        sys.executable,
        "-m",
        "mini_streamio.exports_main",
        version,
        "--name",
        name,
        "--format",
        backend,
    ]
    env = os.environ | settings_environment(settings)
    result = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"exporting {name} v{version} to {backend} failed: {result.stderr.strip()[-2000:]}"
        )


def _export(settings: Settings, registered: RegisteredWeights, options: ExportOptions) -> RegisteredWeights:
    cache = settings.data_dir / "weights"
    weights = download_weights(settings, registered, cache)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        exported = export_weights(weights, options, Path(tmp))
        entry = _store(settings, registered, options, exported)
        registered = replace(registered, exports={**registered.exports, options.key: entry})
        files = [exported] if exported.is_file() else [p for p in exported.iterdir() if p.is_file()]
        _install(files, _cache_dir(settings, registered, options.key))
    return registered


def _download(settings: Settings, registered: RegisteredWeights, key: str, target: Path) -> None:
    client = minio_client(settings)
    with tempfile.TemporaryDirectory(dir=settings.data_dir / "weights") as tmp:
        files = []
        for name in registered.exports[key]["files"]:
            client.fget_object(settings.models_bucket, f"{_prefix(registered, key)}/{name}", f"{tmp}/{name}")
            files.append(Path(tmp, name))
        _install(files, target)


def _store(
    settings: Settings, registered: RegisteredWeights, options: ExportOptions, exported: Path
) -> dict[str, Any]:
    files = [exported] if exported.is_file() else sorted(p for p in exported.iterdir() if p.is_file())
    client = minio_client(settings)
    bucket = settings.models_bucket
    prefix = _prefix(registered, options.key)
    staging = f"{registered.name}/{registered.version}/.staging-{uuid.uuid4().hex}"
    try:
        for file in files:
            client.fput_object(bucket, f"{staging}/{file.name}", str(file))
        for file in files:
            client.copy_object(bucket, f"{prefix}/{file.name}", CopySource(bucket, f"{staging}/{file.name}"))
    finally:
        for file in files:
            client.remove_object(bucket, f"{staging}/{file.name}")
    entry = {
        "precision": options.precision,
        "imgsz": _imgsz(exported),
        "files": [file.name for file in files],
        "bytes": sum(file.stat().st_size for file in files),
    }
    rest = MlflowRest(str(settings.mlflow_tracking_uri))
    if registered.run_id:
        artifact_uri = rest.get("runs/get", run_id=registered.run_id)["run"]["info"]["artifact_uri"]
        for file in files:
            rest.upload_artifact(artifact_uri, file, f"exports/{options.key}")
    # Re-read the tag: another export of this version may have finished since `registered` was read.
    current = rest.get("model-versions/get", name=registered.name, version=registered.version)
    tags = {tag["key"]: tag["value"] for tag in current["model_version"].get("tags", [])}
    exports = json.loads(tags.get(EXPORTS_TAG, "{}")) | {options.key: entry}
    tag = {
        "name": registered.name,
        "version": registered.version,
        "key": EXPORTS_TAG,
        "value": json.dumps(exports),
    }
    rest.post("model-versions/set-tag", tag)
    return entry


def _imgsz(exported: Path) -> int | list[int]:
    """The input size Ultralytics recorded in the export (onnx: in the model's metadata)."""
    import yaml

    metadata = exported / "metadata.yaml"
    if metadata.is_file():
        return yaml.safe_load(metadata.read_text())["imgsz"]  # type: ignore[no-any-return]
    if exported.suffix == ".onnx":
        import onnx

        props = {p.key: p.value for p in onnx.load(str(exported), load_external_data=False).metadata_props}
        return yaml.safe_load(props["imgsz"])  # type: ignore[no-any-return]
    return []


def _prefix(registered: RegisteredWeights, key: str) -> str:
    return f"{registered.name}/{registered.version}/{key}"


def _cache_dir(settings: Settings, registered: RegisteredWeights, key: str) -> Path:
    """Local copy of one export, named by its tag entry: a re-export (other precision) gets a new one."""
    entry = json.dumps(registered.exports[key], sort_keys=True).encode()
    digest = hashlib.sha256(entry).hexdigest()[:12]
    return settings.data_dir / "weights" / registered.name / registered.version / f"{key}-{digest}"


def _served_path(target: Path, entry: dict[str, Any]) -> Path:
    """What Ultralytics loads: the one file, or a directory named as it names them (`*_openvino_model`)."""
    files = entry["files"]
    return target / files[0] if len(files) == 1 else target / MODEL_DIRECTORY


def _install(files: list[Path], target: Path) -> None:
    """Copies an export's files into the local cache; `.complete` marks a whole copy."""
    shutil.rmtree(target, ignore_errors=True)
    directory = target if len(files) == 1 else target / MODEL_DIRECTORY
    directory.mkdir(parents=True)
    for file in files:
        shutil.copyfile(file, directory / file.name)
    (target / ".complete").touch()


@contextlib.contextmanager
def _export_lock(
    settings: Settings, registered: RegisteredWeights, key: str, purpose: str = "export"
) -> Iterator[None]:
    """One export (or one load, which may run an export in a child process) of a version's export
    (`key`) at a time among this machine's processes."""
    lock = settings.data_dir / "weights" / registered.name / registered.version / f".{key}.{purpose}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def export_all(
    settings: Settings, registered: RegisteredWeights, backends: list[Backend]
) -> RegisteredWeights:
    """The exports made at registration: each one that fails is logged and skipped, never fatal.

    A version whose export failed is exported again when the service first loads it.
    """
    for backend in backends:
        try:
            registered = export_version(settings, registered, ExportOptions(backend))
        except Exception as error:
            logger.warning(
                "%s v%s: %s export failed: %s", registered.name, registered.version, backend, error
            )
    return registered


def formats_setting(settings: Settings) -> list[Backend]:
    return [Backend(name) for name in settings.export_formats.split(",") if name]
