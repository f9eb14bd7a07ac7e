"""Resolves `--model` into something Ultralytics can load, without ever waiting on the network.

Accepted references, tried in this order:
- `models:/<name>/<version>` or `models:/<name>@<alias>`: a registry version (its weights come
  from MinIO; the run that trained it becomes the new run's parent);
- `s3://bucket/key.pt`: weights in MinIO;
- an existing local file (`.pt` weights or an architecture `.yaml`);
- an architecture yaml Ultralytics ships (`yolov8n.yaml`): training from scratch;
- a model name (`yolov8l`, `yolo11n.pt`): base weights imported into MinIO at
  `s3://models/base/<name>.pt` (`mini-streamio model import-base`), else Ultralytics' download
  when MINI_STREAMIO_ALLOW_DOWNLOADS=true (the file is then imported for next time), else an
  immediate error saying how to import them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from minio.error import S3Error

from mini_streamio.registry import RegisteredWeights, download_weights, resolve
from mini_streamio.settings import Settings
from mini_streamio.storage import ensure_bucket, minio_client

BASE_PREFIX = "base"
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ModelResolutionError(Exception):
    """The `--model` reference names nothing that can be loaded here; the message says what to do."""


@dataclass(frozen=True)
class ResolvedModel:
    reference: str
    kind: str  # registry | s3 | local | architecture | base
    # What Ultralytics' YOLO() is given: a local .pt/.yaml path or a packaged architecture name.
    source: str
    parent: RegisteredWeights | None = None


def resolve_model(settings: Settings, reference: str) -> ResolvedModel:
    reference = reference.strip()
    if not reference:
        raise ModelResolutionError("--model is empty")
    cache = settings.data_dir / "weights"
    if reference.startswith("models:/"):
        return _from_registry(settings, reference, cache)
    if reference.startswith("s3://"):
        return ResolvedModel(reference, "s3", str(_from_minio(settings, reference, cache)))
    local = Path(reference).expanduser()
    if local.is_file():
        return ResolvedModel(reference, "local", str(local.resolve()))
    if local.suffix in (".yaml", ".yml"):
        return ResolvedModel(reference, "architecture", _packaged_architecture(reference))
    if "/" in reference or reference.startswith((".", "~")) or local.suffix not in ("", ".pt"):
        raise ModelResolutionError(f"model file {reference!r} does not exist")
    return ResolvedModel(reference, "base", str(_base_weights(settings, reference, cache)))


def _from_registry(settings: Settings, reference: str, cache: Path) -> ResolvedModel:
    path = reference.removeprefix("models:/")
    if "@" in path:
        name, _, alias = path.partition("@")
        selector = f"@{alias}"
    else:
        name, _, selector = path.partition("/")
    if not name or not selector.strip("@"):
        raise ModelResolutionError(
            f"{reference!r} is not a registry reference: "
            "use models:/<name>/<version> or models:/<name>@<alias>"
        )
    registered = resolve(settings, selector, name=name)
    if registered is None:
        raise ModelResolutionError(
            f"the model registry has no version {selector!r} of {name!r} with weights "
            "(see `mini-streamio model list`)"
        )
    weights = download_weights(settings, registered, cache / "registry")
    return ResolvedModel(reference, "registry", str(weights), parent=registered)


def _from_minio(settings: Settings, uri: str, cache: Path) -> Path:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key.endswith(".pt"):
        raise ModelResolutionError(f"{uri!r} is not the MinIO address of a .pt file (s3://bucket/key.pt)")
    target = cache / "s3" / bucket / key
    if not _fetch_if_changed(settings, bucket, key, target):
        raise ModelResolutionError(f"no object at {uri}")
    return target


def _fetch_if_changed(settings: Settings, bucket: str, key: str, target: Path) -> bool:
    """Downloads bucket/key into target unless the cached copy has the same ETag; False if absent."""
    client = minio_client(settings)
    try:
        stat = client.stat_object(bucket, key)
    except S3Error as error:
        if error.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
            return False
        raise
    etag_file = target.with_name(f"{target.name}.etag")
    if target.exists() and etag_file.exists() and etag_file.read_text() == stat.etag:
        return True
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.part")
    client.fget_object(bucket, key, str(partial))
    partial.rename(target)
    etag_file.write_text(stat.etag or "")
    return True


def _packaged_architecture(reference: str) -> str:
    """Checks that Ultralytics ships this architecture (e.g. yolov8n.yaml = yolov8.yaml at scale n)."""
    from ultralytics.nn.tasks import yaml_model_load

    try:
        yaml_model_load(reference)
    except (FileNotFoundError, OSError):
        raise ModelResolutionError(
            f"{reference!r} is neither a local file nor an architecture Ultralytics ships "
            "(e.g. yolov8n.yaml, yolo11s.yaml)"
        ) from None
    return reference


def _base_weights(settings: Settings, reference: str, cache: Path) -> Path:
    name = reference.removesuffix(".pt")
    if not MODEL_NAME_PATTERN.match(name):
        raise ModelResolutionError(f"{reference!r} is not a model name")
    key = f"{BASE_PREFIX}/{name}.pt"
    target = cache / BASE_PREFIX / f"{name}.pt"
    if _fetch_if_changed(settings, settings.models_bucket, key, target):
        return target
    if not settings.allow_downloads:
        raise ModelResolutionError(
            f"no base weights for {name!r}: s3://{settings.models_bucket}/{key} does not exist and "
            "downloads are off (MINI_STREAMIO_ALLOW_DOWNLOADS=false). Import the file with "
            f"`npx mini-streamio model import-base /path/to/{name}.pt`, or train from scratch "
            f"with --model={name}.yaml"
        )
    return _download_and_import(settings, name, key, target)


def _download_and_import(settings: Settings, name: str, key: str, target: Path) -> Path:
    from ultralytics.utils.downloads import GITHUB_ASSETS_NAMES, attempt_download_asset

    if f"{name}.pt" not in GITHUB_ASSETS_NAMES:
        raise ModelResolutionError(f"{name!r} is not a model Ultralytics publishes (e.g. yolov8n, yolo11s)")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        attempt_download_asset(target)
    except ConnectionError as error:
        raise ModelResolutionError(f"downloading {name}.pt failed: {error}") from None
    if not target.is_file():
        raise ModelResolutionError(f"downloading {name}.pt produced no file")
    # Imported for next time, so other machines (and this one offline) find it in MinIO.
    client = minio_client(settings)
    ensure_bucket(client, settings.models_bucket)
    client.fput_object(settings.models_bucket, key, str(target))
    return target
