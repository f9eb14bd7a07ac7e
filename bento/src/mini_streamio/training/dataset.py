"""Dataset versions in MinIO, fetched into a local cache and verified before training.

Storage layout (bucket `datasets`, written by `mini-streamio dataset push`, read here):

    <name>/<version>/data.yaml                   train/val/test relative to the version, `names`
    <name>/<version>/<split>/images/<file>        split is one of train, val, test
    <name>/<version>/<split>/labels/<stem>.txt    YOLO rows `class xc yc w h`, normalised
    <name>/<version>/manifest.json                written LAST: its presence makes the version exist

- A version is content-addressed: `version` is the first 12 hex digits of `content_hash`, the
  sha256 of the canonical JSON `{"schema": 1, "names": [...], "files": [[path, sha256], ...]}`
  (files sorted by path). The same data always gets the same version, so re-pushing it is a
  no-op, and changed data (a file, a label, a class name) is a new version. Versions are
  immutable: nothing is written under a prefix once its manifest exists.
- The push computes that hash (cli/src/lib/datasets/manifest.ts, its only implementation); the
  trainer takes it as the manifest says and checks what matters here instead: every file it
  downloads against its sha256 in `files`, and `version` against the hash.
- Until its manifest exists, a version's prefix is its staging area: list, show and train ignore
  it, so a push that fails half-way leaves nothing visible (and the CLI removes what it wrote).
- The manifest holds the class names, counts and boxes per class per split, the creation time
  and, for every other object of the version, its sha256 and size (`files`), which the trainer
  checks after download. `name` alone means the version whose manifest is newest.

`s3://bucket/prefix` is accepted too: a prefix holding a manifest is read as above; any other
prefix must hold a YOLO export (data.yaml with train/val paths) and is fetched as it is,
identified by the hash of its object listing (keys, ETags, sizes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from minio import Minio
from minio.error import S3Error

from mini_streamio.dataset_rules import REQUIRED_SPLITS, SPLITS
from mini_streamio.settings import Settings
from mini_streamio.storage import minio_client
from mini_streamio.yolo_layout import class_names, image_files, split_folders

MANIFEST = "manifest.json"
DATA_YAML = "data.yaml"  # a version's, written by the push (cli/src/lib/datasets/manifest.ts)
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
VERSION_PATTERN = re.compile(r"^[0-9a-f]{12}$")
_VERIFIED_MARKER = ".verified"


class DatasetError(Exception):
    """The dataset reference cannot be resolved or its data is not what the manifest says."""


@dataclass(frozen=True)
class DatasetVersion:
    """A dataset version present in the local cache, checked against its manifest."""

    reference: str
    name: str
    version: str
    content_hash: str
    names: list[str]
    counts: dict[str, int]
    data_yaml: Path

    @property
    def root(self) -> Path:
        return self.data_yaml.parent


@dataclass(frozen=True)
class _Location:
    bucket: str
    prefix: str  # without a trailing slash


def fetch_dataset(settings: Settings, reference: str) -> DatasetVersion:
    """Resolves `name`, `name@version` or `s3://bucket/prefix` and returns the cached, verified copy."""
    client = minio_client(settings)
    if reference.startswith("s3://"):
        location = _parse_s3(reference)
        manifest = _read_manifest(client, location)
        if manifest is None:
            return _fetch_plain_prefix(settings, client, reference, location)
    else:
        name, _, version = reference.partition("@")
        if not NAME_PATTERN.match(name):
            raise DatasetError(
                f"dataset reference {reference!r} is not `name`, `name@version` or `s3://bucket/prefix`"
            )
        location = _version_location(settings, client, name, version)
        manifest = _read_manifest(client, location)
        if manifest is None:
            known = ", ".join(list_versions(client, settings.datasets_bucket, name)) or "none"
            raise DatasetError(f"dataset {name!r} has no version {version!r} (versions: {known})")
    return _fetch_manifest_version(settings, client, reference, location, manifest)


def list_versions(client: Minio, bucket: str, name: str) -> list[str]:
    """Versions of `name` that have a manifest, newest first."""
    if not client.bucket_exists(bucket):
        return []
    found: list[tuple[str, str]] = []
    for item in client.list_objects(bucket, prefix=f"{name}/"):
        version = (item.object_name or "").removeprefix(f"{name}/").rstrip("/")
        manifest = _read_manifest(client, _Location(bucket, f"{name}/{version}"))
        if manifest is not None:
            found.append((str(manifest.get("created_at", "")), version))
    return [version for _, version in sorted(found, reverse=True)]


def _version_location(settings: Settings, client: Minio, name: str, version: str) -> _Location:
    bucket = settings.datasets_bucket
    if version:
        if not VERSION_PATTERN.match(version):
            raise DatasetError(f"dataset version {version!r} is not 12 hex digits (see `dataset list`)")
        return _Location(bucket, f"{name}/{version}")
    versions = list_versions(client, bucket, name)
    if not versions:
        raise DatasetError(
            f"no dataset named {name!r} in s3://{bucket} (push one with `mini-streamio dataset push`)"
        )
    return _Location(bucket, f"{name}/{versions[0]}")


def _parse_s3(reference: str) -> _Location:
    bucket, _, prefix = reference.removeprefix("s3://").partition("/")
    if not bucket:
        raise DatasetError(f"{reference!r} names no bucket (expected s3://bucket/prefix)")
    return _Location(bucket, prefix.strip("/"))


def _key(location: _Location, path: str) -> str:
    return f"{location.prefix}/{path}" if location.prefix else path


def _read_manifest(client: Minio, location: _Location) -> dict[str, Any] | None:
    try:
        response = client.get_object(location.bucket, _key(location, MANIFEST))
    except S3Error as error:
        if error.code in ("NoSuchKey", "NoSuchBucket"):
            return None
        raise
    try:
        manifest: dict[str, Any] = json.loads(response.read())
    finally:
        response.close()
        response.release_conn()
    return manifest


def manifest_identity(manifest: dict[str, Any]) -> tuple[str, str, str, dict[str, str]]:
    """Name, version, content hash and {path: sha256} of a manifest. The hash is the push's (see
    the module's docstring): it must name the version, but is not computed again here."""
    name, version, digest = str(manifest["name"]), str(manifest["version"]), str(manifest["content_hash"])
    if not re.fullmatch(r"[0-9a-f]{64}", digest) or version != digest[:12]:
        raise DatasetError(
            f"manifest of {name}@{version}: version is not the start of its content_hash (corrupted)"
        )
    return name, version, digest, {path: str(meta["sha256"]) for path, meta in manifest["files"].items()}


def _fetch_manifest_version(
    settings: Settings, client: Minio, reference: str, location: _Location, manifest: dict[str, Any]
) -> DatasetVersion:
    name, version, digest, files = manifest_identity(manifest)
    if DATA_YAML not in files:
        raise DatasetError(f"manifest of {name}@{version} lists no {DATA_YAML}")
    target = settings.data_dir / "datasets" / name / version
    if not _is_verified(target, digest):
        _download_verified(client, location, files, target, digest)
    counts = {split: int(info["images"]) for split, info in manifest["splits"].items()}
    data_yaml = _local_data_yaml(target)
    return DatasetVersion(reference, name, version, digest, list(manifest["names"]), counts, data_yaml)


def _is_verified(target: Path, digest: str) -> bool:
    marker = target / _VERIFIED_MARKER
    return marker.exists() and marker.read_text() == digest


def _download_verified(
    client: Minio, location: _Location, files: dict[str, str], target: Path, digest: str
) -> None:
    """Downloads every file into a scratch directory, checks its sha256, then moves it into place."""
    partial = _scratch(target)
    mismatched: list[str] = []
    for path, expected in sorted(files.items()):
        local = partial / path
        local.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.fget_object(location.bucket, _key(location, path), str(local))
        except S3Error as error:
            raise DatasetError(f"s3://{location.bucket}/{_key(location, path)}: {error.code}") from None
        if _sha256(local) != expected:
            mismatched.append(path)
    if mismatched:
        shutil.rmtree(partial, ignore_errors=True)
        shown = ", ".join(mismatched[:10]) + (" …" if len(mismatched) > 10 else "")
        raise DatasetError(
            f"{len(mismatched)} file(s) of s3://{location.bucket}/{location.prefix} do not match "
            f"the manifest's sha256: {shown}"
        )
    (partial / _VERIFIED_MARKER).write_text(digest)
    _move_into_place(partial, target, digest)


def _scratch(target: Path) -> Path:
    """A download folder of this process's own, so that two trainings fetching at once do not collide."""
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    return partial


def _move_into_place(partial: Path, target: Path, digest: str) -> None:
    if _is_verified(target, digest):  # another process finished the same download first
        shutil.rmtree(partial, ignore_errors=True)
        return
    shutil.rmtree(target, ignore_errors=True)
    try:
        partial.rename(target)
    except OSError:
        if not _is_verified(target, digest):
            raise
        shutil.rmtree(partial, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _local_data_yaml(root: Path) -> Path:
    """The version's own data.yaml (the push wrote it, or the export came with it) with an absolute
    `path`, so Ultralytics finds the splits from any working directory."""
    config: dict[str, Any] = yaml.safe_load((root / DATA_YAML).read_text()) or {}
    config["path"] = str(root.resolve())
    data_yaml = root / "data.local.yaml"
    data_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    return data_yaml


def _fetch_plain_prefix(
    settings: Settings, client: Minio, reference: str, location: _Location
) -> DatasetVersion:
    """A prefix without a manifest: a YOLO export uploaded by other means, fetched as it is."""
    try:
        objects = list(client.list_objects(location.bucket, prefix=_key(location, ""), recursive=True))
    except S3Error as error:
        raise DatasetError(f"{reference}: {error.code}") from None
    listing = sorted((o.object_name or "", o.etag or "", o.size or 0) for o in objects)
    base = _key(location, "")
    if not any(key == f"{base}data.yaml" for key, _, _ in listing):
        raise DatasetError(f"{reference} holds neither a manifest.json nor a data.yaml")
    digest = hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    target = settings.data_dir / "datasets" / "_s3" / location.bucket / digest[:16]
    if not _is_verified(target, digest):
        partial = _scratch(target)
        for key, _, _ in listing:
            client.fget_object(location.bucket, key, str(partial / key.removeprefix(base)))
        (partial / _VERIFIED_MARKER).write_text(digest)
        _move_into_place(partial, target, digest)
    config = yaml.safe_load((target / DATA_YAML).read_text()) or {}
    names = class_names(config.get("names"))
    if not names or any(split not in config for split in REQUIRED_SPLITS):
        raise DatasetError(f"{reference}/data.yaml needs `{'`, `'.join(REQUIRED_SPLITS)}` and `names`")
    data_yaml = _local_data_yaml(target)
    name = f"s3://{location.bucket}/{location.prefix}"
    folders = split_folders(data_yaml)
    counts = {
        split: len(image_files(folders[split])) if split in folders else 0
        for split in SPLITS
        if config.get(split)
    }
    return DatasetVersion(reference, name, digest[:12], digest, names, counts, data_yaml)
