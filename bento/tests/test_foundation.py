"""The stack the other features build on: settings, MinIO, the MLflow server's artifact store."""

from __future__ import annotations

import uuid
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from mini_streamio.settings import Settings, SettingsError, get_settings
from mini_streamio.storage import ensure_bucket, minio_client


def test_when_a_setting_is_invalid_then_the_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_PORT", "not-a-port")
    monkeypatch.setenv("MINIO_ENDPOINT", "nowhere")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as raised:
        get_settings()
    get_settings.cache_clear()
    assert "MLFLOW_PORT='not-a-port'" in str(raised.value)
    assert "MINIO_ENDPOINT='nowhere'" in str(raised.value)


def test_when_a_bucket_is_ensured_twice_then_the_second_call_is_a_no_op(settings: Settings) -> None:
    client = minio_client(settings)
    bucket = f"test-{uuid.uuid4().hex[:8]}"
    ensure_bucket(client, bucket)
    ensure_bucket(client, bucket)
    assert client.bucket_exists(bucket)


def test_when_a_run_logs_an_artifact_then_it_lands_in_the_minio_bucket(
    settings: Settings, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(str(settings.mlflow_tracking_uri))
    artifact = tmp_path / "hello.txt"
    artifact.write_text("hello")
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 0.5, step=1)
        mlflow.log_artifact(str(artifact))
    client = MlflowClient(str(settings.mlflow_tracking_uri))
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    objects = minio_client(settings).list_objects(settings.mlflow_bucket, recursive=True)
    assert any(
        o.object_name and o.object_name.endswith(f"{run.info.run_id}/artifacts/hello.txt") for o in objects
    )
