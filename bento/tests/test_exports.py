"""Exports of registered versions against real MinIO and MLflow: stored, tagged, logged, refused cleanly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import mlflow
import pytest

from mini_streamio.exports import export_or_fetch, export_version
from mini_streamio.inference import RegistryModelSource
from mini_streamio.mlflow_rest import MlflowRest
from mini_streamio.registry import RegisteredWeights, register_weights, resolve
from mini_streamio.runtimes import Backend, ExportOptions
from mini_streamio.settings import REPO_ROOT, Settings
from mini_streamio.storage import minio_client
from tests.conftest import TinyModel


def registered_tiny(settings: Settings, tiny_model: TinyModel) -> RegisteredWeights:
    mlflow.set_tracking_uri(str(settings.mlflow_tracking_uri))
    with mlflow.start_run() as run:
        pass
    name = f"exports-{uuid.uuid4().hex[:8]}"
    return register_weights(settings, tiny_model.weights, run.info.run_id, tiny_model.class_names, name=name)


def object_keys(settings: Settings, prefix: str) -> list[str]:
    client = minio_client(settings)
    return sorted(o.object_name for o in client.list_objects(settings.models_bucket, prefix, recursive=True))


def test_when_a_version_is_exported_then_minio_mlflow_and_its_tag_hold_the_export(
    settings: Settings, tiny_model: TinyModel
) -> None:
    registered = registered_tiny(settings, tiny_model)
    prefix = f"{registered.name}/{registered.version}/"

    exported = export_version(settings, registered, ExportOptions(Backend.OPENVINO))

    assert object_keys(settings, prefix) == [
        f"{prefix}best.pt",
        f"{prefix}openvino/best.bin",
        f"{prefix}openvino/best.xml",
        f"{prefix}openvino/metadata.yaml",
    ]  # the staging copies are gone
    entry = exported.exports["openvino"]
    assert entry["precision"] == "fp32"
    assert entry["imgsz"] == [64, 64]
    assert resolve(settings, registered.version, registered.name) == exported
    assert registered.run_id is not None
    artifacts = MlflowRest(str(settings.mlflow_tracking_uri)).list_artifacts(registered.run_id, "exports")
    assert sorted(artifacts) == [
        f"exports/openvino/{name}" for name in ("best.bin", "best.xml", "metadata.yaml")
    ]

    with_onnx = export_version(settings, exported, ExportOptions(Backend.ONNX))
    assert sorted(with_onnx.exports) == ["onnx", "openvino"]
    assert resolve(settings, registered.version, registered.name) == with_onnx


def test_when_a_version_has_no_export_then_the_first_load_makes_and_keeps_it(
    settings: Settings, tiny_model: TinyModel
) -> None:
    registered = registered_tiny(settings, tiny_model)

    path, precision = export_or_fetch(settings, registered, Backend.ONNX)

    assert path.name == "best.onnx" and path.is_file()
    assert precision == "fp32"
    stored = resolve(settings, registered.version, registered.name)
    assert stored is not None and list(stored.exports) == ["onnx"]
    # Another process (a fresh cache) fetches the stored export instead of exporting again.
    elsewhere = settings.model_copy(update={"data_dir": settings.data_dir / "elsewhere"})
    fetched, _ = export_or_fetch(elsewhere, stored, Backend.ONNX)
    assert fetched.read_bytes() == path.read_bytes()


def run_export(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "MINIO_ENDPOINT": str(settings.minio_endpoint),
        "MINIO_ACCESS_KEY": settings.minio_access_key,
        "MINIO_SECRET_KEY": settings.minio_secret_key.get_secret_value(),
        "MLFLOW_TRACKING_URI": str(settings.mlflow_tracking_uri),
        "MINI_STREAMIO_DATA_DIR": str(settings.data_dir),
    }
    command = [str(REPO_ROOT / ".stack" / "python"), "-m", "mini_streamio.exports_main", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999"], "has no version '999'"),
        (["1", "--format", "coreml"], "unknown format 'coreml'"),
        (["1", "--format", "engine"], "TensorRT engine needs an NVIDIA GPU"),
        (["1", "--format", "openvino", "--int8"], "--int8 needs calibration images"),
        (["1", "--format", "openvino", "--int8", "--data", "nowhere"], "no dataset named 'nowhere'"),
    ],
)
def test_when_an_export_is_asked_for_wrongly_then_it_exits_2_naming_the_problem_and_stores_nothing(
    settings: Settings, tiny_model: TinyModel, args: list[str], message: str
) -> None:
    registered = registered_tiny(settings, tiny_model)
    if args[-1] == "engine" and Path("/dev/nvidia0").exists():
        pytest.skip("this machine has a GPU: a TensorRT export is possible")

    result = run_export(settings, *args, "--name", registered.name)

    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert object_keys(settings, f"{registered.name}/") == [f"{registered.name}/1/best.pt"]


def test_when_an_export_is_asked_for_then_the_command_stores_it_and_says_where(
    settings: Settings, tiny_model: TinyModel
) -> None:
    registered = registered_tiny(settings, tiny_model)

    result = run_export(settings, "1", "--name", registered.name, "--format", "onnx", "--json")

    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["uri"] == f"s3://{settings.models_bucket}/{registered.name}/1/onnx/"
    assert (line["format"], line["precision"], line["files"]) == ("onnx", "fp32", ["best.onnx"])


def cli(services: dict[str, str], settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`mini-streamio …` as a user runs it, against the session's MinIO and MLflow."""
    env = os.environ | services | {"MINI_STREAMIO_DATA_DIR": str(settings.data_dir)}
    command = [shutil.which("node") or "node", "--import", "tsx", "cli/bin/run.js", *args]
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_when_an_int8_export_is_made_then_it_is_stored_beside_the_float_one_and_served(
    services: dict[str, str], settings: Settings, tiny_model: TinyModel
) -> None:
    exported = export_version(
        settings, registered_tiny(settings, tiny_model), ExportOptions(Backend.OPENVINO)
    )
    name = f"calibration-{uuid.uuid4().hex[:6]}"
    pushed = cli(services, settings, "dataset", "push", str(tiny_model.dataset), "--name", name, "--json")
    assert pushed.returncode == 0, pushed.stderr
    dataset = f"{name}@{json.loads(pushed.stdout)['version']}"

    result = cli(
        services, settings, "model", "export", "1", "--name", exported.name,
        "--format", "openvino", "--int8", "--data", dataset, "--json",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    [line] = json.loads(result.stdout)
    prefix = f"{exported.name}/1/"
    assert line["uri"] == f"s3://{settings.models_bucket}/{prefix}openvino-int8/"
    assert (line["format"], line["precision"]) == ("openvino", "int8")
    files = ("best.bin", "best.xml", "metadata.yaml")
    assert object_keys(settings, prefix) == sorted(
        [f"{prefix}best.pt"]
        + [f"{prefix}{key}/{file}" for key in ("openvino", "openvino-int8") for file in files]
    )
    tagged = resolve(settings, "1", exported.name)
    assert tagged is not None
    assert tagged.exports["openvino"] == exported.exports["openvino"]  # the float export is kept
    assert tagged.exports["openvino-int8"]["precision"] == "int8"
    assert tagged.exports["openvino-int8"]["bytes"] < exported.exports["openvino"]["bytes"]
    assert exported.run_id is not None
    artifacts = MlflowRest(str(settings.mlflow_tracking_uri)).list_artifacts(exported.run_id, "exports")
    assert sorted(artifacts) == sorted(
        f"exports/{key}/{file}" for key in ("openvino", "openvino-int8") for file in files
    )

    # Whoever made an int8 export wants it served: auto (OpenVINO here) runs it and says so.
    detector = RegistryModelSource(settings).load(tagged)
    assert (detector.info.backend, detector.info.precision) == ("openvino", "int8")
    outcome = detector.detect(tiny_model.images()[0].read_bytes(), 0.25, 0.45, 300)
    assert outcome.response is not None
    assert (outcome.response.model.backend, outcome.response.model.precision) == ("openvino", "int8")
