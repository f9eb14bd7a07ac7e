"""`--model` resolution: registry references, MinIO objects, local files, architectures and
base-weight names, with an immediate, instructive error when nothing can be loaded offline."""

from __future__ import annotations

import io
import sys
import uuid
from pathlib import Path

import mlflow
import pytest

from mini_streamio.offline import configure_ultralytics
from mini_streamio.registry import register_weights
from mini_streamio.settings import Settings
from mini_streamio.storage import ensure_bucket, minio_client
from mini_streamio.training.weights import ModelResolutionError, resolve_model


@pytest.fixture(scope="module", autouse=True)
def offline_ultralytics(tmp_path_factory: pytest.TempPathFactory) -> None:
    if "ultralytics" not in sys.modules:
        configure_ultralytics(tmp_path_factory.mktemp("ultralytics"))


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_when_the_model_is_a_packaged_architecture_then_it_trains_from_scratch(settings: Settings) -> None:
    resolved = resolve_model(settings, "yolov8n.yaml")
    assert (resolved.kind, resolved.source, resolved.parent) == ("architecture", "yolov8n.yaml", None)


def test_when_an_architecture_is_unknown_then_the_error_says_so(settings: Settings) -> None:
    with pytest.raises(ModelResolutionError, match="neither a local file nor an architecture"):
        resolve_model(settings, "yolov99z.yaml")


def test_when_the_model_is_a_local_file_then_its_absolute_path_is_used(
    settings: Settings, tmp_path: Path
) -> None:
    weights = tmp_path / "mine.pt"
    weights.write_bytes(b"weights")
    resolved = resolve_model(settings, str(weights))
    assert (resolved.kind, resolved.source) == ("local", str(weights.resolve()))


def test_when_a_local_path_does_not_exist_then_the_error_names_it(settings: Settings) -> None:
    with pytest.raises(ModelResolutionError, match=r"model file './runs/nope/best.pt' does not exist"):
        resolve_model(settings, "./runs/nope/best.pt")


def test_when_a_name_was_never_imported_and_downloads_are_off_then_it_fails_with_how_to_import(
    settings: Settings,
) -> None:
    assert settings.allow_downloads is False
    name = _unique("yolov8s")
    with pytest.raises(ModelResolutionError) as raised:
        resolve_model(settings, name)
    message = str(raised.value)
    assert f"s3://{settings.models_bucket}/base/{name}.pt does not exist" in message
    assert "MINI_STREAMIO_ALLOW_DOWNLOADS=false" in message
    assert f"mini-streamio model import-base /path/to/{name}.pt" in message


def test_when_base_weights_were_imported_then_the_name_resolves_to_them(settings: Settings) -> None:
    name = _unique("yolo11n")
    client = minio_client(settings)
    ensure_bucket(client, settings.models_bucket)
    client.put_object(settings.models_bucket, f"base/{name}.pt", io.BytesIO(b"base weights"), 12)
    for reference in (name, f"{name}.pt"):
        resolved = resolve_model(settings, reference)
        assert resolved.kind == "base"
        assert Path(resolved.source).read_bytes() == b"base weights"


def test_when_downloads_are_allowed_but_the_name_is_not_published_then_nothing_is_downloaded(
    settings: Settings,
) -> None:
    online = settings.model_copy(update={"allow_downloads": True})
    with pytest.raises(ModelResolutionError, match="is not a model Ultralytics publishes"):
        resolve_model(online, _unique("notamodel"))


def test_when_the_model_is_a_minio_uri_then_the_object_is_fetched(settings: Settings) -> None:
    client = minio_client(settings)
    ensure_bucket(client, "uploads")
    key = f"{_unique('weights')}/best.pt"
    client.put_object("uploads", key, io.BytesIO(b"uploaded"), 8)
    resolved = resolve_model(settings, f"s3://uploads/{key}")
    assert resolved.kind == "s3"
    assert Path(resolved.source).read_bytes() == b"uploaded"
    with pytest.raises(ModelResolutionError, match=r"no object at s3://uploads/missing/best\.pt"):
        resolve_model(settings, "s3://uploads/missing/best.pt")
    with pytest.raises(ModelResolutionError, match=r"is not the MinIO address of a \.pt file"):
        resolve_model(settings, "s3://uploads/weights.bin")


def test_when_the_model_is_a_registry_reference_then_its_version_becomes_the_parent(
    settings: Settings, tmp_path: Path
) -> None:
    mlflow.set_tracking_uri(str(settings.mlflow_tracking_uri))
    with mlflow.start_run() as run:
        pass
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"registered weights")
    name = _unique("resolve-test")
    register_weights(settings, weights, run.info.run_id, ["a"], name=name, alias="champion")

    by_version = resolve_model(settings, f"models:/{name}/1")
    by_alias = resolve_model(settings, f"models:/{name}@champion")

    for resolved in (by_version, by_alias):
        assert resolved.kind == "registry"
        assert resolved.parent is not None
        assert (resolved.parent.version, resolved.parent.run_id) == ("1", run.info.run_id)
        assert Path(resolved.source).read_bytes() == b"registered weights"
    with pytest.raises(ModelResolutionError, match=f"no version '7' of '{name}'"):
        resolve_model(settings, f"models:/{name}/7")
    with pytest.raises(ModelResolutionError, match="is not a registry reference"):
        resolve_model(settings, f"models:/{name}")
