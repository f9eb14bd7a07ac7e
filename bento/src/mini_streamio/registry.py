"""Registered detector weights: MLflow Model Registry versions backed by `.pt` files in MinIO.

A version's weights live at `s3://<models bucket>/<registered name>/<version>/best.pt` and the
version carries that address in its `weights_uri` tag, so the inference service needs only the
registry and MinIO to load a model (no MLflow artifact download, no run lookup).

The registry is reached through MLflow's REST API (mini_streamio.mlflow_rest), which spares the
trainer and the service the seconds that importing the `mlflow` package takes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mini_streamio.contracts import production_alias, registry_metric_prefix, registry_tag
from mini_streamio.mlflow_rest import MlflowRest, MlflowRestError
from mini_streamio.settings import Settings
from mini_streamio.storage import ensure_bucket, minio_client

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

# The version tags and their values: contracts/registry-tags.schema.json (registry_tag fails on a
# name the contract lacks). The CLI reads the same tags (cli/src/lib/models/registry.ts).
WEIGHTS_URI_TAG = registry_tag("weights_uri")
DEMO_TAG = registry_tag("demo")
CLASS_NAMES_TAG = registry_tag("class_names")
# JSON {backend: {precision, imgsz, files, bytes}} of the version's exports (mini_streamio.exports).
EXPORTS_TAG = registry_tag("exports")
DATASET_TAG = registry_tag("dataset")
BASE_MODEL_TAG = registry_tag("base_model")
PARENT_MODEL_TAG = registry_tag("parent_model")
METRIC_PREFIX = registry_metric_prefix()
PRODUCTION_ALIAS = production_alias()


@dataclass(frozen=True)
class RegisteredWeights:
    name: str
    version: str
    weights_uri: str
    run_id: str | None
    class_names: list[str]
    demo: bool = False
    metrics: dict[str, float] = field(default_factory=dict)
    exports: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def bucket_and_key(self) -> tuple[str, str]:
        bucket, _, key = self.weights_uri.removeprefix("s3://").partition("/")
        return bucket, key


def tracking_client(settings: Settings) -> MlflowClient:
    """MLflow's full Python client (slow to import), for notebooks and tests that read runs back."""
    from mlflow.tracking import MlflowClient

    uri = str(settings.mlflow_tracking_uri).rstrip("/")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _rest(settings: Settings) -> MlflowRest:
    return MlflowRest(str(settings.mlflow_tracking_uri))


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in tags.items()]


def register_weights(
    settings: Settings,
    weights: Path,
    run_id: str,
    class_names: list[str],
    metrics: dict[str, float] | None = None,
    name: str | None = None,
    demo: bool = False,
    alias: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> RegisteredWeights:
    """Adds a registry version for `weights` (trained in `run_id`) and stores the file in MinIO.

    `tags` are extra version tags (e.g. the dataset it was trained on); `description` is shown
    by the MLflow UI next to the version.

    If the upload fails the new version is deleted again, so no version points at nothing.
    """
    name = name or settings.registered_model_name
    rest = _rest(settings)
    try:
        rest.post(
            "registered-models/create",
            {"name": name, "description": "YOLO detectors trained by Mini Streamio"},
        )
    except MlflowRestError as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    artifact_uri = rest.get("runs/get", run_id=run_id)["run"]["info"]["artifact_uri"]
    metrics = metrics or {}
    metric_tags = {f"{METRIC_PREFIX}{key}": f"{value:.6g}" for key, value in metrics.items()}
    version_tags = dict(tags or {}) | metric_tags
    version_tags |= {CLASS_NAMES_TAG: json.dumps(class_names), DEMO_TAG: str(demo).lower()}
    request: dict[str, Any] = {
        "name": name,
        "source": f"{artifact_uri}/weights",
        "run_id": run_id,
        "tags": _tag_list(version_tags),
    }
    if description:
        request["description"] = description
    version = str(rest.post("model-versions/create", request)["model_version"]["version"])
    weights_uri = f"s3://{settings.models_bucket}/{name}/{version}/best.pt"
    try:
        storage = minio_client(settings)
        ensure_bucket(storage, settings.models_bucket)
        storage.fput_object(settings.models_bucket, f"{name}/{version}/best.pt", str(weights))
        tag = {"name": name, "version": version, "key": WEIGHTS_URI_TAG, "value": weights_uri}
        rest.post("model-versions/set-tag", tag)
        if alias:
            rest.post("registered-models/alias", {"name": name, "alias": alias, "version": version})
    except BaseException:
        rest.delete("model-versions/delete", {"name": name, "version": version})
        raise
    return RegisteredWeights(name, str(version), weights_uri, run_id, class_names, demo, metrics)


def resolve(
    settings: Settings, reference: str | None = None, name: str | None = None
) -> RegisteredWeights | None:
    """The version named by an alias (`@production`, the default) or a number (`3`); None if absent."""
    name = name or settings.registered_model_name
    reference = reference or f"@{PRODUCTION_ALIAS}"
    rest = _rest(settings)
    try:
        if reference.startswith("@"):
            answer = rest.get("registered-models/alias", name=name, alias=reference[1:])
        else:
            answer = rest.get("model-versions/get", name=name, version=reference)
    except MlflowRestError as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise
    version = answer["model_version"]
    tags = {tag["key"]: tag["value"] for tag in version.get("tags", [])}
    if WEIGHTS_URI_TAG not in tags:
        return None
    return RegisteredWeights(
        name=name,
        version=str(version["version"]),
        weights_uri=tags[WEIGHTS_URI_TAG],
        run_id=version.get("run_id") or None,
        class_names=json.loads(tags.get(CLASS_NAMES_TAG, "[]")),
        demo=tags.get(DEMO_TAG) == "true",
        metrics=_metrics_of(tags),
        exports=json.loads(tags.get(EXPORTS_TAG, "{}")),
    )


def _metrics_of(tags: dict[str, str]) -> dict[str, float]:
    metrics = {key: value for key, value in tags.items() if key.startswith(METRIC_PREFIX)}
    return {key.removeprefix(METRIC_PREFIX): float(value) for key, value in metrics.items()}


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
