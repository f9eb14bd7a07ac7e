"""The trainer as the CLI runs it (a subprocess emitting JSON events), against real MinIO and
MLflow: a finished run with every epoch's metrics, its artifacts and a registry version; failed
runs (bad dataset, bad model, crash) end FAILED with the error recorded; SIGTERM ends KILLED."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mini_streamio.registry import resolve, tracking_client
from mini_streamio.settings import REPO_ROOT, Settings
from mini_streamio.storage import ensure_bucket, minio_client
from mini_streamio.synthetic import generate_shapes_dataset
from mini_streamio.training.tracking import metric_name
from tests.contract_check import validator

TINY = ["--epochs=2", "--imgsz=64", "--batch=8", "--device=cpu", "--events=jsonl"]


def artifact_paths(client: Any, run_id: str, path: str | None = None) -> Iterator[str]:
    """Every artifact file of a run, read back with MLflow's own client."""
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            yield from artifact_paths(client, run_id, info.path)
        else:
            yield info.path


def _env(services: dict[str, str], settings: Settings) -> dict[str, str]:
    return os.environ | services | {"MINI_STREAMIO_DATA_DIR": str(settings.data_dir), "PYTHONUNBUFFERED": "1"}


def _events(stdout: str) -> list[dict[str, Any]]:
    """The trainer's stdout: JSON events only, each as contracts/trainer-event.schema.json says."""
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    for event in events:
        validator("trainer-event").validate(event)
    return events


def _train(
    services: dict[str, str], settings: Settings, *args: str, script: list[str] | None = None
) -> tuple[int, list[dict[str, Any]], str]:
    command = [sys.executable, *(script or ["-m", "mini_streamio.training"]), *args]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=_env(services, settings), capture_output=True, text=True, timeout=600
    )
    return result.returncode, _events(result.stdout), result.stderr


@pytest.fixture(scope="module")
def shapes_prefix(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A YOLO export uploaded to MinIO by other means (no manifest): s3://uploads/<prefix>."""
    root = tmp_path_factory.mktemp("shapes")
    generate_shapes_dataset(root, {"train": 16, "valid": 8}, image_size=64, seed=3)
    client = minio_client(settings)
    ensure_bucket(client, "uploads")
    prefix = f"shapes-{uuid.uuid4().hex[:8]}"
    for file in sorted(root.rglob("*")):
        if file.is_file():
            client.fput_object("uploads", f"{prefix}/{file.relative_to(root).as_posix()}", str(file))
    return f"s3://uploads/{prefix}"


def test_when_training_finishes_then_every_epoch_artifact_and_the_registry_version_are_in_mlflow(
    services: dict[str, str], settings: Settings, shapes_prefix: str
) -> None:
    name = f"run-test-{uuid.uuid4().hex[:6]}"
    code, events, stderr = _train(
        services,
        settings,
        f"--dataset={shapes_prefix}",
        "--model=yolov8n.yaml",
        f"--register-as={name}",
        *TINY,
        script=["bento/train.py"],  # the seed's form of the same trainer
    )
    assert code == 0, stderr[-3000:]
    assert [e["event"] for e in events] == ["started", "dataset", "model", "epoch", "epoch", "finished"]
    run_id = events[0]["run_id"]
    client = tracking_client(settings)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"

    # Every column Ultralytics wrote to results.csv is a metric, at each epoch as the step.
    results_csv = settings.data_dir / "runs" / run_id / "results.csv"
    with results_csv.open() as handle:
        columns = [c.strip() for c in next(csv.reader(handle)) if c.strip() not in ("epoch", "time")]
    assert len(columns) >= 13
    for column in columns:
        history = client.get_metric_history(run_id, metric_name(column))
        assert sorted(m.step for m in history) == [1, 2], column
    for key in ("best/mAP50-95_B", "best/precision_B", "time/epoch_s"):
        assert client.get_metric_history(run_id, key), key

    artifacts = set(artifact_paths(client, run_id))
    expected = {"results.csv", "args.yaml", "weights/best.pt", "weights/last.pt"}
    expected |= {"confusion_matrix.png", "labels.jpg"}
    assert expected <= artifacts
    assert any(path.endswith("_curve.png") for path in artifacts)

    params = run.data.params
    assert params["dataset_name"] == shapes_prefix
    assert params["dataset_version"] == events[1]["version"]
    assert len(params["dataset_hash"]) == 64
    assert (params["model_ref"], params["model_kind"]) == ("yolov8n.yaml", "architecture")
    assert (params["epochs"], params["imgsz"], params["batch"]) == ("2", "64", "8")
    assert "lr0" in params and "mosaic" in params  # every Ultralytics train argument
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert run.data.tags["git_commit"] == commit.stdout.strip()
    assert run.data.tags["hardware"].startswith("cpu: ")
    assert run.data.tags["entry_point"] == "bento/train.py"

    registered = resolve(settings, "1", name=name)
    assert registered is not None
    assert registered.run_id == run_id
    assert set(registered.metrics) == {"precision", "recall", "mAP50", "mAP50-95"}
    assert registered.class_names == ["circle", "square", "triangle"]
    stat = minio_client(settings).stat_object(settings.models_bucket, f"{name}/1/best.pt")
    assert stat.size == (settings.data_dir / "runs" / run_id / "weights" / "best.pt").stat().st_size


def _assert_failed(settings: Settings, events: list[dict[str, Any]], match: str) -> None:
    assert events[-1]["event"] == "failed"
    run = tracking_client(settings).get_run(events[-1]["run_id"])
    assert run.info.status == "FAILED"
    assert match in run.data.tags["error"]
    assert "error.txt" in set(artifact_paths(tracking_client(settings), run.info.run_id))


def test_when_the_dataset_does_not_exist_then_the_run_ends_failed_with_the_error(
    services: dict[str, str], settings: Settings
) -> None:
    missing = "--dataset=s3://uploads/no-such-prefix"
    code, events, _ = _train(services, settings, missing, "--model=yolov8n.yaml", *TINY)
    assert code == 1
    _assert_failed(settings, events, "holds neither a manifest.json nor a data.yaml")


def test_when_the_model_is_unknown_then_the_run_ends_failed_with_the_error(
    services: dict[str, str], settings: Settings, shapes_prefix: str
) -> None:
    code, events, _ = _train(services, settings, f"--dataset={shapes_prefix}", "--model=yolov99z.yaml", *TINY)
    assert code == 1
    _assert_failed(settings, events, "ModelResolutionError")


def test_when_ultralytics_crashes_then_the_run_ends_failed_with_the_error(
    services: dict[str, str], settings: Settings, shapes_prefix: str, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"this is not a checkpoint")
    code, events, _ = _train(services, settings, f"--dataset={shapes_prefix}", f"--model={broken}", *TINY)
    assert code == 1
    _assert_failed(settings, events, "Error")


def test_when_an_override_is_unknown_then_no_run_starts(services: dict[str, str], settings: Settings) -> None:
    code, events, stderr = _train(services, settings, "--dataset=x", "--model=y", "learning_rate=0.1", *TINY)
    assert code == 2
    assert "unknown Ultralytics train argument(s): learning_rate" in stderr
    assert [e["event"] for e in events] == ["failed"]
    assert "run_id" not in events[0]


@pytest.fixture()
def long_training(
    services: dict[str, str], settings: Settings, shapes_prefix: str
) -> Iterator[subprocess.Popen[str]]:
    args = [f"--dataset={shapes_prefix}", "--model=yolov8n.yaml", "--epochs=100", "--no-register"]
    args += ["--imgsz=64", "--batch=8", "--device=cpu", "--events=jsonl"]
    process = subprocess.Popen(
        [sys.executable, "-m", "mini_streamio.training", *args],
        cwd=REPO_ROOT,
        env=_env(services, settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    yield process
    if process.poll() is None:
        process.kill()


def test_when_the_trainer_gets_sigterm_then_the_run_ends_killed_and_keeps_its_weights(
    settings: Settings, long_training: subprocess.Popen[str]
) -> None:
    assert long_training.stdout is not None
    seen: list[dict[str, Any]] = []
    for line in long_training.stdout:
        seen.append(json.loads(line))
        if seen[-1]["event"] == "epoch":
            long_training.send_signal(signal.SIGTERM)
            break
    rest = _events(long_training.stdout.read())
    assert long_training.wait(120) == 130
    assert rest[-1]["event"] == "killed"
    run = tracking_client(settings).get_run(seen[0]["run_id"])
    assert run.info.status == "KILLED"
    assert "weights/last.pt" in set(artifact_paths(tracking_client(settings), run.info.run_id))
    assert len(tracking_client(settings).get_metric_history(run.info.run_id, "train/box_loss")) < 100
