"""The notebook's reading of training results: predictions matched to ground truth, runs and
metric histories read back from a real MLflow, findings on the curves, and the papermill helper."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

from mini_streamio.analysis import evaluation, findings, runs
from mini_streamio.analysis.notebook import analysis_settings, clean, parse_parameters
from mini_streamio.mlflow_rest import MlflowRest
from mini_streamio.settings import Settings
from mini_streamio.training.tracking import RunTracker

MAP = runs.QUALITY["mAP50-95"]


def _boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=float).reshape(-1, 4)


def test_when_boxes_overlap_by_known_areas_then_iou_is_their_ratio() -> None:
    a = _boxes((0, 0, 10, 10))
    b = _boxes((0, 0, 10, 10), (5, 0, 15, 10), (20, 20, 30, 30))
    assert evaluation.iou_matrix(a, b)[0] == pytest.approx([1.0, 50 / 150, 0.0])
    assert evaluation.iou_matrix(a, _boxes()).shape == (1, 0)


def test_when_predictions_are_matched_then_hits_misses_and_each_kind_of_false_positive_are_told_apart() -> (
    None
):
    truth = _boxes((0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10))
    truth_classes = np.array([0, 0, 1])
    predicted = _boxes(
        (0, 0, 10, 10),  # hit on truth 0
        (1, 0, 10, 10),  # second prediction of truth 0: duplicate
        (40, 0, 50, 10),  # class 0 on the class-1 box: wrong class
        (26, 0, 36, 10),  # on truth 1 but off by 6 px (IoU 0.25): poor box
        (60, 60, 70, 70),  # nothing there: background
    )
    rows = evaluation.match_boxes(
        truth, truth_classes, predicted, np.array([0, 0, 0, 0, 0]), np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    )
    outcomes = [(r["outcome"], r["note"]) for r in rows]
    assert outcomes == [
        ("TP", ""),
        ("FP", "duplicate"),
        ("FP", "wrong class"),
        ("FP", "poor box"),
        ("FP", "background"),
        ("FN", "missed"),  # truth 1: only a poorly placed box
        ("FN", "missed"),  # truth 2: its only prediction had the wrong class
    ]
    assert [r["x1"] for r in rows if r["outcome"] == "FN"] == [20, 40]
    assert rows[3]["iou"] == pytest.approx(4 / 16)


def test_when_a_confusion_matrix_is_counted_then_classes_are_matched_regardless_of_label() -> None:
    truth = _boxes((0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10))
    truth_classes = np.array([0, 1, 1])
    predicted = _boxes((0, 0, 10, 10), (20, 0, 30, 10), (60, 60, 70, 70))  # right, confused, background
    matrix = evaluation.confusion_counts(
        truth, truth_classes, predicted, np.array([0, 0, 1]), np.array([0.9, 0.8, 0.7]), classes=2
    )
    assert matrix.tolist() == [
        [1, 1, 0],  # predicted 0: true 0, true 1 (confused)
        [0, 0, 1],  # predicted 1: on background
        [0, 1, 0],  # background: the third box was missed
    ]
    empty = evaluation.confusion_counts(
        _boxes(), np.array([], dtype=np.int64), predicted[:1], np.array([1]), np.array([0.5]), 2
    )
    assert empty.tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 0]]


def test_when_a_less_confident_prediction_fits_better_then_the_more_confident_one_still_matches_first() -> (
    None
):
    truth = _boxes((0, 0, 10, 10))
    predicted = _boxes((0, 0, 10, 8), (0, 0, 10, 10))
    rows = evaluation.match_boxes(truth, np.array([0]), predicted, np.array([0, 0]), np.array([0.9, 0.5]))
    assert [(r["outcome"], r["conf"]) for r in rows] == [("TP", 0.9), ("FP", 0.5)]


def test_when_outcomes_are_counted_then_precision_and_recall_follow_per_class() -> None:
    rows = [
        {"split": "val", "file": "a.jpg", "outcome": "TP", "note": "", "class_id": 0},
        {"split": "val", "file": "a.jpg", "outcome": "FP", "note": "background", "class_id": 0},
        {"split": "val", "file": "b.jpg", "outcome": "FN", "note": "missed", "class_id": 1},
        {"split": "val", "file": "b.jpg", "outcome": "FN", "note": "missed", "class_id": 0},
    ]
    outcomes = pd.DataFrame(rows)
    counts = evaluation.outcome_counts(outcomes, ["body", "head"])
    assert counts.loc["body", ["TP", "FP (background)", "FN"]].tolist() == [1, 1, 1]
    assert counts.loc["body", "precision"] == 0.5
    assert counts.loc["head", "recall"] == 0.0
    worst = evaluation.images_by_errors(outcomes)
    assert list(worst.index) == [("val", "b.jpg"), ("val", "a.jpg")]  # two misses, then one false positive
    assert worst["errors"].tolist() == [2, 1]


def _epochs(scores: list[float], val_box: list[float], train_box: list[float]) -> pd.DataFrame:
    index = pd.RangeIndex(1, len(scores) + 1, name="epoch")
    return pd.DataFrame({MAP: scores, "val/box_loss": val_box, "train/box_loss": train_box}, index=index)


def test_when_the_score_still_rises_at_the_end_then_the_run_is_called_under_trained() -> None:
    epochs = _epochs([0.1, 0.2, 0.3, 0.4, 0.5], [2.0, 1.8, 1.6, 1.5, 1.4], [2.2, 1.9, 1.7, 1.6, 1.5])
    assert runs.best_epoch(epochs) == 5
    notes = findings.training_findings(epochs, 5)
    assert notes[0] == "Best epoch 5 of 5: mAP50-95 0.500 (last epoch 0.500)."
    assert any("under-trained" in note for note in notes)
    assert any("val/box_loss was at its lowest at the end" in note for note in notes)


def test_when_validation_loss_turns_up_while_training_loss_falls_then_it_is_called_over_fitting() -> None:
    epochs = _epochs([0.1, 0.3, 0.35, 0.33, 0.3], [2.0, 1.5, 1.4, 1.6, 1.8], [2.0, 1.5, 1.2, 1.0, 0.8])
    assert runs.best_epoch(epochs) == 3
    notes = findings.training_findings(epochs, 3)
    assert not any("under-trained" in note for note in notes)
    assert any("bottomed at epoch 3 (1.400) and rose to 1.800" in note for note in notes)


def test_when_no_epoch_was_validated_then_there_is_no_best_epoch() -> None:
    assert runs.best_epoch(pd.DataFrame()) is None
    assert findings.training_findings(pd.DataFrame(), None) == [
        "No validated epoch: nothing to say about the curves."
    ]


def _run(run_id: str, status: str, start_ms: int, **latest: float) -> runs.Run:
    params = {"model_ref": "yolov8n.yaml", "imgsz": "320", "epochs": "20", "batch": "16"}
    return runs.Run(
        run_id,
        f"run-{run_id}",
        status,
        "1",
        "mlflow-artifacts:/1/x",
        start_ms,
        start_ms + 90_000,
        params,
        {},
        latest,
    )


def test_when_no_run_id_is_given_then_the_newest_finished_run_is_chosen() -> None:
    listed = [_run("a", "FINISHED", 1), _run("b", "KILLED", 3), _run("c", "FINISHED", 2)]
    assert runs.select_run(listed).run_id == "c"
    assert runs.select_run(listed, "b").run_id == "b"
    with pytest.raises(runs.RunNotFoundError, match="run 'z' is not among the 3"):
        runs.select_run(listed, "z")
    with pytest.raises(runs.RunNotFoundError, match="no FINISHED run"):
        runs.select_run([_run("b", "KILLED", 3)])


def test_when_runs_are_compared_then_each_row_has_settings_time_and_final_map() -> None:
    finished = _run("a", "FINISHED", 0, **{"best/mAP50-95_B": 0.42, "best/mAP50_B": 0.7, MAP: 0.41})
    killed = _run("b", "KILLED", 0, **{MAP: 0.1})
    table = runs.comparison_table([finished, killed]).set_index("run id")
    assert table.loc["a", ["model", "imgsz", "epochs", "mAP50-95", "mAP50"]].tolist() == [
        "yolov8n.yaml",
        320,
        20,
        0.42,
        0.7,
    ]
    assert table.loc["a", "wall time (min)"] == 1.5
    assert table.loc["b", "mAP50-95"] == 0.1  # no best/* yet: the last validated epoch


@pytest.fixture(scope="module")
def logged_run(settings: Settings) -> RunTracker:
    """A run with four epochs of metrics, a `best/*` value and an artifact, logged as the trainer does."""
    tracker = RunTracker.start(settings, f"analysis-{uuid.uuid4().hex[:6]}", "logged", {"hardware": "test"})
    tracker.log_params(
        {"imgsz": 64, "epochs": 4, "model_ref": "yolov8n.yaml", "dataset_classes": '["a", "b"]'}
    )
    for epoch, score in enumerate([0.1, 0.3, 0.2, 0.25], start=1):
        tracker.log_metrics({MAP: score, "train/box_loss": 2.0 / epoch}, step=epoch)
    tracker.log_metrics({"best/mAP50-95_B": 0.3}, step=4)
    tracker.rest.upload_bytes(tracker.artifact_uri, b"weights", "weights/best.pt")
    time.sleep(0.01)
    tracker.end("FINISHED")
    return tracker


def test_when_a_run_is_read_back_from_mlflow_then_every_epoch_is_a_row_and_best_is_apart(
    settings: Settings, logged_run: RunTracker
) -> None:
    rest = MlflowRest(str(settings.mlflow_tracking_uri))
    run = runs.get_run(rest, logged_run.run_id)
    assert run.status == "FINISHED"
    assert run.class_names == ["a", "b"]
    assert run.wall_time_s is not None and run.wall_time_s >= 0
    epochs = runs.epoch_table(rest, run)
    assert list(epochs.index) == [1, 2, 3, 4]
    assert "best/mAP50-95_B" not in epochs
    assert epochs[MAP].tolist() == [0.1, 0.3, 0.2, 0.25]
    assert runs.best_epoch(epochs) == 2
    assert runs.best_metrics(run) == {"mAP50-95_B": 0.3}


def test_when_a_history_is_longer_than_a_page_then_every_page_is_read(
    settings: Settings, logged_run: RunTracker
) -> None:
    rest = MlflowRest(str(settings.mlflow_tracking_uri))
    history = runs.metric_history(rest, logged_run.run_id, MAP, page_size=3)
    assert history == [(1, 0.1), (2, 0.3), (3, 0.2), (4, 0.25)]


def test_when_runs_are_listed_by_experiment_then_the_run_is_found_and_unknown_names_are_errors(
    settings: Settings, logged_run: RunTracker
) -> None:
    rest = MlflowRest(str(settings.mlflow_tracking_uri))
    experiment = rest.get("experiments/get", experiment_id=logged_run.experiment_id)["experiment"]["name"]
    assert [run.run_id for run in runs.experiment_runs(rest, experiment)] == [logged_run.run_id]
    with pytest.raises(runs.RunNotFoundError, match="no experiment 'nope-"):
        runs.experiment_runs(rest, f"nope-{uuid.uuid4().hex}")
    with pytest.raises(runs.RunNotFoundError, match=r"no run '0+'"):
        runs.get_run(rest, "0" * 32)


def test_when_an_artifact_is_downloaded_then_its_bytes_are_the_uploaded_ones(
    settings: Settings, logged_run: RunTracker, tmp_path: Path
) -> None:
    rest = MlflowRest(str(settings.mlflow_tracking_uri))
    run = runs.get_run(rest, logged_run.run_id)
    target = runs.download_artifact(rest, run, "weights/best.pt", tmp_path / "w" / "best.pt")
    assert target.read_bytes() == b"weights"


def test_when_parameters_are_given_on_the_command_line_then_they_are_typed_like_yaml() -> None:
    assert parse_parameters([["NEAR_DUPLICATE_BITS", "4"], ["RUN_ID", "abc"], ["MODEL", ""]]) == {
        "NEAR_DUPLICATE_BITS": 4,
        "RUN_ID": "abc",
        "MODEL": "",
    }


def test_when_notebook_parameters_are_empty_then_the_environment_settings_apply(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    settings = analysis_settings(minio_endpoint="http://minio.example:9000", data_dir="/tmp/x")
    assert str(settings.mlflow_tracking_uri) == "http://mlflow.example:5000/"
    assert str(settings.minio_endpoint) == "http://minio.example:9000/"
    assert settings.data_dir == Path("/tmp/x")


def test_when_an_executed_notebook_is_cleaned_then_outputs_stay_and_run_metadata_goes(tmp_path: Path) -> None:
    cell = nbformat.v4.new_code_cell(
        "1 + 1", metadata={"tags": ["parameters"], "papermill": {"duration": 1.2}}
    )
    cell.metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    untagged = nbformat.v4.new_code_cell("2", metadata={"tags": []})
    notebook = nbformat.v4.new_notebook(cells=[cell, untagged])
    notebook.metadata["papermill"] = {"parameters": {"RUN_ID": "abc"}, "duration": 9.0, "input_path": "x"}
    notebook.metadata["widgets"] = {"state": {}}
    path = tmp_path / "out.ipynb"
    nbformat.write(notebook, str(path))
    clean(path)
    cleaned: Any = json.loads(path.read_text())
    assert cleaned["cells"][0]["metadata"] == {"tags": ["parameters"]}
    assert cleaned["cells"][1]["metadata"] == {}
    assert cleaned["cells"][0]["outputs"][0]["data"] == {"text/plain": ["2"]}
    assert cleaned["metadata"]["papermill"] == {"parameters": {"RUN_ID": "abc"}}
    assert "widgets" not in cleaned["metadata"]
