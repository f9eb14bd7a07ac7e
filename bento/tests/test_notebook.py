"""The analysis notebook executed end to end, as CI runs it: a synthetic dataset pushed with the
CLI to a real MinIO, a two-epoch training tracked in a real MLflow, then papermill runs
notebooks/analysis.ipynb against them and every cell must succeed."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import nbformat
import pytest
from PIL import Image

from mini_streamio.analysis.notebook import execute
from mini_streamio.settings import REPO_ROOT, Settings
from mini_streamio.synthetic import generate_shapes_dataset

TRAIN, VALID, TEST = 20, 8, 4


def _env(services: dict[str, str], settings: Settings) -> dict[str, str]:
    return os.environ | services | {"MINI_STREAMIO_DATA_DIR": str(settings.data_dir)}


def _copy(root: Path, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Copies an image and its label file: (split, stem) -> (split, stem)."""
    (src_split, src_stem), (dst_split, dst_stem) = source, target
    shutil.copyfile(
        root / src_split / "images" / f"{src_stem}.jpg", root / dst_split / "images" / f"{dst_stem}.jpg"
    )
    shutil.copyfile(
        root / src_split / "labels" / f"{src_stem}.txt", root / dst_split / "labels" / f"{dst_stem}.txt"
    )


def _dataset_with_known_flaws(root: Path) -> Path:
    """Shapes, plus what the notebook must find: two byte-identical copies inside train, one train
    image leaked into valid, and one background image (empty label file) in train."""
    generate_shapes_dataset(root, {"train": TRAIN, "valid": VALID, "test": TEST}, image_size=64, seed=5)
    _copy(root, ("train", "train_0000"), ("train", "copy_a"))
    _copy(root, ("train", "train_0000"), ("train", "copy_b"))
    _copy(root, ("train", "train_0001"), ("valid", "leaked"))
    Image.new("RGB", (64, 64), (30, 30, 30)).save(root / "train" / "images" / "background.jpg")
    (root / "train" / "labels" / "background.txt").write_text("")
    return root


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _dataset_with_known_flaws(tmp_path_factory.mktemp("shapes"))


@pytest.fixture(scope="module")
def pushed_dataset(services: dict[str, str], settings: Settings, dataset_root: Path) -> str:
    name = f"nb-{uuid.uuid4().hex[:6]}"
    cli = [shutil.which("node") or "node", "--import", "tsx", "cli/bin/run.js"]
    result = subprocess.run(
        [*cli, "dataset", "push", str(dataset_root), "--name", name, "--json"],
        cwd=REPO_ROOT,
        env=_env(services, settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    pushed = json.loads(result.stdout)
    return f"{pushed['name']}@{pushed['version']}"


@pytest.fixture(scope="module")
def trained_run(services: dict[str, str], settings: Settings, pushed_dataset: str) -> tuple[str, str]:
    """(experiment, run id) of a finished two-epoch run on the pushed dataset."""
    experiment = f"notebook-{uuid.uuid4().hex[:6]}"
    command = [sys.executable, "-m", "mini_streamio.training", f"--dataset={pushed_dataset}"]
    command += ["--model=yolov8n.yaml", "--epochs=2", "--imgsz=64", "--batch=8", "--device=cpu"]
    command += [f"--experiment={experiment}", "--no-register", "--events=jsonl", "workers=0"]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=_env(services, settings), capture_output=True, text=True, timeout=600
    )
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert result.returncode == 0, result.stderr[-3000:]
    finished = events[-1]
    assert finished["event"] == "finished"
    return experiment, str(finished["run_id"])


@pytest.fixture(scope="module")
def executed(
    services: dict[str, str],
    settings: Settings,
    pushed_dataset: str,
    trained_run: tuple[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    experiment, run_id = trained_run
    output = tmp_path_factory.mktemp("notebook") / "analysis.ipynb"
    parameters = {
        "DATASET": pushed_dataset,
        "EXPERIMENT": experiment,
        "RUN_ID": run_id,
        "MLFLOW_TRACKING_URI": services["MLFLOW_TRACKING_URI"],
        "MINIO_ENDPOINT": services["MINIO_ENDPOINT"],
        "MINIO_ACCESS_KEY": services["MINIO_ACCESS_KEY"],
        "MINIO_SECRET_KEY": services["MINIO_SECRET_KEY"],
        "DATA_DIR": str(settings.data_dir),
        "PREDICTION_IMAGES": 2,
    }
    execute(output, parameters, timeout_s=300)
    return nbformat.read(str(output), as_version=4)


def _summary(notebook: Any) -> dict[str, Any]:
    cell = next(c for c in notebook.cells if "summary" in c.metadata.get("tags", []))
    text = next(o["data"]["text/plain"] for o in cell.outputs if o.get("output_type") == "execute_result")
    summary: dict[str, Any] = ast.literal_eval(text)
    return summary


def test_when_the_notebook_runs_on_a_pushed_dataset_and_a_run_then_every_cell_succeeds_with_figures(
    executed: Any,
) -> None:
    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    errors = [o for cell in code_cells for o in cell.outputs if o.get("output_type") == "error"]
    assert errors == []
    assert all(cell.get("execution_count") for cell in code_cells), "a code cell did not run"
    figures = [o for cell in code_cells for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 12  # dataset plots, duplicates, curves, confusion, PR, predictions
    assert any("injected-parameters" in cell.metadata.get("tags", []) for cell in executed.cells)


def test_when_the_dataset_has_copies_a_leak_and_a_background_image_then_the_notebook_reports_them(
    executed: Any, pushed_dataset: str, dataset_root: Path
) -> None:
    summary = _summary(executed)
    assert summary["dataset"] == pushed_dataset
    assert summary["images"] == {
        "train": TRAIN + 3,
        "val": VALID + 1,
        "test": TEST,
        "all": TRAIN + VALID + TEST + 4,
    }
    assert summary["distinct_train_images"] == TRAIN + 1  # the two copies are not new images
    assert summary["near_duplicates_shared_with_train"]["val"] >= 1  # the leaked image
    empty = sum(1 for label in (dataset_root / "train" / "labels").iterdir() if not label.read_text().strip())
    assert empty >= 1
    assert summary["empty_label_images"]["train"] == empty


def test_when_the_notebook_reads_the_run_then_its_epochs_and_validation_are_shown(
    executed: Any, trained_run: tuple[str, str]
) -> None:
    summary = _summary(executed)
    assert summary["run_id"] == trained_run[1]
    assert summary["epochs_logged"] == 2
    assert summary["best_epoch"] in (1, 2)
    assert set(summary["validation"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    assert set(summary["per_class_mAP50-95"]) == {"circle", "square", "triangle"}
    # an untrained detector at 64 px finds little, so the ground truth shows up as misses
    assert summary["outcomes"].get("FN", 0) + summary["outcomes"].get("TP", 0) > 0


def test_when_the_notebook_is_executed_then_run_specific_metadata_is_stripped(executed: Any) -> None:
    assert all(
        "papermill" not in cell.metadata and "execution" not in cell.metadata for cell in executed.cells
    )
    assert set(executed.metadata["papermill"]) == {"parameters"}
