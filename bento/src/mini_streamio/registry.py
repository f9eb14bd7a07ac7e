"""Registered detector weights: MLflow Model Registry versions backed by `.pt` files in MinIO.

A version's weights live at `s3://<models bucket>/<registered name>/<version>/best.pt` and the
version carries that address in its `weights_uri` tag, so the inference service needs only the
registry and MinIO to load a model (no MLflow artifact download, no run lookup).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mini_streamio.settings import Settings
from mini_streamio.storage import ensure_bucket, minio_client

WEIGHTS_URI_TAG = "weights_uri"
DEMO_TAG = "demo"
CLASS_NAMES_TAG = "class_names"
PRODUCTION_ALIAS = "production"


@dataclass(frozen=True)
class RegisteredWeights:
    name: str
    version: str
    weights_uri: str
    run_id: str | None
    class_names: list[str]
    demo: bool = False
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def bucket_and_key(self) -> tuple[str, str]:
        bucket, _, key = self.weights_uri.removeprefix("s3://").partition("/")
        return bucket, key


def tracking_client(settings: Settings) -> MlflowClient:
    uri = str(settings.mlflow_tracking_uri).rstrip("/")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def register_weights(
    settings: Settings,
    weights: Path,
    run_id: str,
    class_names: list[str],
    metrics: dict[str, float] | None = None,
    name: str | None = None,
    demo: bool = False,
    alias: str | None = None,
) -> RegisteredWeights:
    """Adds a registry version for `weights` (trained in `run_id`) and stores the file in MinIO.

    If the upload fails the new version is deleted again, so no version points at nothing.
    """
    name = name or settings.registered_model_name
    client = tracking_client(settings)
    try:
        client.create_registered_model(name, description="YOLO detectors trained by Mini Streamio")
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    source = f"{client.get_run(run_id).info.artifact_uri}/weights"
    metrics = metrics or {}
    tags = {f"metric.{key}": f"{value:.6g}" for key, value in metrics.items()}
    tags |= {CLASS_NAMES_TAG: json.dumps(class_names), DEMO_TAG: str(demo).lower()}
    version = client.create_model_version(name, source=source, run_id=run_id, tags=tags).version
    weights_uri = f"s3://{settings.models_bucket}/{name}/{version}/best.pt"
    try:
        storage = minio_client(settings)
        ensure_bucket(storage, settings.models_bucket)
        storage.fput_object(settings.models_bucket, f"{name}/{version}/best.pt", str(weights))
        client.set_model_version_tag(name, version, WEIGHTS_URI_TAG, weights_uri)
        if alias:
            client.set_registered_model_alias(name, alias, version)
    except Exception:
        client.delete_model_version(name, version)
        raise
    return RegisteredWeights(name, str(version), weights_uri, run_id, class_names, demo, metrics)


def resolve(
    settings: Settings, reference: str | None = None, name: str | None = None
) -> RegisteredWeights | None:
    """The version named by an alias (`@production`, the default) or a number (`3`); None if absent."""
    name = name or settings.registered_model_name
    reference = reference or f"@{PRODUCTION_ALIAS}"
    client = tracking_client(settings)
    try:
        if reference.startswith("@"):
            version = client.get_model_version_by_alias(name, reference[1:])
        else:
            version = client.get_model_version(name, reference)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    tags = dict(version.tags)
    if WEIGHTS_URI_TAG not in tags:
        return None
    return RegisteredWeights(
        name=name,
        version=str(version.version),
        weights_uri=tags[WEIGHTS_URI_TAG],
        run_id=version.run_id,
        class_names=json.loads(tags.get(CLASS_NAMES_TAG, "[]")),
        demo=tags.get(DEMO_TAG) == "true",
        metrics={k.removeprefix("metric."): float(v) for k, v in tags.items() if k.startswith("metric.")},
    )


def download_weights(settings: Settings, registered: RegisteredWeights, cache_dir: Path) -> Path:
    """The version's `.pt`, fetched once into `cache_dir/<name>/<version>/best.pt`."""
    target = cache_dir / registered.name / registered.version / "best.pt"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        # One partial file per process: the service's workers may fetch the same version at once.
        partial = target.with_suffix(f".{os.getpid()}.part")
        bucket, key = registered.bucket_and_key
        minio_client(settings).fget_object(bucket, key, str(partial))
        partial.replace(target)
    return target
