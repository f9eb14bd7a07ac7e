"""Registry versions backed by weights in MinIO, read back by alias and by number."""

from __future__ import annotations

from pathlib import Path

import mlflow

from mini_streamio.registry import download_weights, register_weights, resolve, tracking_client
from mini_streamio.settings import Settings
from mini_streamio.storage import minio_client
from tests.contract_check import validator


def test_when_weights_are_registered_then_the_alias_resolves_to_them_in_minio(
    settings: Settings, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(str(settings.mlflow_tracking_uri))
    with mlflow.start_run() as run:
        pass
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"not really a model")
    name = "registry-test"
    first = register_weights(
        settings, weights, run.info.run_id, ["a", "b"], {"mAP50": 0.5}, name=name, alias="production"
    )
    second = register_weights(settings, weights, run.info.run_id, ["a", "b"], name=name)

    assert (first.version, second.version) == ("1", "2")
    resolved = resolve(settings, name=name)
    assert resolved == first
    assert resolve(settings, "2", name=name) == second
    assert resolve(settings, "@staging", name=name) is None
    assert resolve(settings, name="never-registered") is None
    stat = minio_client(settings).stat_object(settings.models_bucket, f"{name}/1/best.pt")
    assert stat.size == len(b"not really a model")
    downloaded = download_weights(settings, first, tmp_path / "cache")
    assert downloaded.read_bytes() == b"not really a model"
    # The tags as MLflow stores them are contracts/registry-tags.schema.json.
    stored = tracking_client(settings).get_model_version(name, first.version).tags
    validator("registry-tags").validate(stored)
