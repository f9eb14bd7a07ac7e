"""Metric names that MLflow accepts, train-argument pass-through, params logged once, and runs
left RUNNING by a process that is gone ended by the next training."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from mlflow.utils.validation import validate_param_and_metric_name

from mini_streamio.registry import tracking_client
from mini_streamio.settings import Settings
from mini_streamio.training.__main__ import check_overrides, parse_overrides
from mini_streamio.training.tracking import RunTracker, metric_name, metric_names

# The keys Ultralytics 8.4 reports for a detection training (results.csv columns).
ULTRALYTICS_KEYS = [
    "train/box_loss",
    "train/cls_loss",
    "train/dfl_loss",
    "metrics/precision(B)",
    "metrics/recall(B)",
    "metrics/mAP50(B)",
    "metrics/mAP50-95(B)",
    "val/box_loss",
    "val/cls_loss",
    "val/dfl_loss",
    "lr/pg0",
    "lr/pg1",
    "lr/pg2",
]


def test_when_ultralytics_keys_are_sanitised_then_mlflow_accepts_every_one_and_none_collide() -> None:
    names = metric_names(dict.fromkeys(ULTRALYTICS_KEYS, 0.5))
    assert len(names) == len(ULTRALYTICS_KEYS)
    assert all(validate_param_and_metric_name(name) for name in names)
    assert metric_name("metrics/mAP50-95(B)") == "metrics/mAP50-95_B"
    assert metric_name("lr/pg0") == "lr/pg0"


def test_when_two_keys_would_become_one_name_then_it_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(ValueError, match="both become 'metrics/mAP50_B'"):
        metric_names({"metrics/mAP50(B)": 1.0, "metrics/mAP50[B]": 2.0})


def test_when_overrides_are_given_then_values_are_typed_like_yaml() -> None:
    assert parse_overrides(["lr0=0.002", "cos_lr=true", "mosaic=0", "optimizer=SGD"]) == {
        "lr0": 0.002,
        "cos_lr": True,
        "mosaic": 0,
        "optimizer": "SGD",
    }
    with pytest.raises(ValueError, match="'lr0' is not key=value"):
        parse_overrides(["lr0"])


def test_when_an_override_is_unknown_or_reserved_then_it_is_refused() -> None:
    check_overrides({"lr0": 0.01, "cos_lr": True})
    with pytest.raises(ValueError, match="unknown Ultralytics train argument"):
        check_overrides({"learning_rate": 0.01})
    with pytest.raises(ValueError, match="data, project cannot be overridden"):
        check_overrides({"data": "x.yaml", "project": "/tmp"})


def test_when_a_param_is_logged_again_with_another_value_then_the_resolved_value_is_kept_beside_it(
    settings: Settings,
) -> None:
    tracker = RunTracker.start(settings, "tracking-test", "params", tags={"purpose": "test"})
    tracker.log_params({"device": "", "epochs": 3})
    tracker.log_params({"device": "cpu", "epochs": 3, "imgsz": 64})
    tracker.end("FINISHED")

    run = tracking_client(settings).get_run(tracker.run_id)
    assert run.data.params == {"device": "", "device_resolved": "cpu", "epochs": "3", "imgsz": "64"}
    assert run.info.status == "FINISHED"


def pid_of_an_ended_process() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_when_a_run_was_left_running_by_a_process_now_gone_then_the_next_training_ends_it_failed(
    settings: Settings,
) -> None:
    experiment = f"abandoned-{uuid.uuid4().hex[:8]}"
    gone = RunTracker.start(settings, experiment, "gone", tags={})
    gone.set_tags({"pid": pid_of_an_ended_process()})
    elsewhere = RunTracker.start(settings, experiment, "other-host", tags={})
    elsewhere.set_tags({"pid": pid_of_an_ended_process(), "host": "another-host"})
    alive = RunTracker.start(settings, experiment, "alive", tags={})  # this process, still running

    following = RunTracker.start(settings, experiment, "next", tags={})

    client = tracking_client(settings)
    assert client.get_run(gone.run_id).info.status == "FAILED"
    assert "its process" in client.get_run(gone.run_id).data.tags["error"]
    assert client.get_run(elsewhere.run_id).info.status == "RUNNING"
    assert client.get_run(alive.run_id).info.status == "RUNNING"
    for tracker in (elsewhere, alive, following):
        tracker.end("FINISHED")
