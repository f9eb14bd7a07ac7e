"""`python -m mini_streamio.shared_rules`, the entry point the CLI spawns for the shared dataset
rules: its answers, its exit statuses, and that it starts without torch, Ultralytics or numpy.
(The CLI's side: cli/test/dataset-validation.test.ts, coco-conversion.test.ts,
local-yolo-dataset.test.ts, evaluation.test.ts, commands.test.ts.)"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mini_streamio.settings import REPO_ROOT
from mini_streamio.shared_rules import USAGE_ERROR, USER_ERROR, main


def _call(op: str, request: dict[str, Any]) -> tuple[int, Any, str]:
    stdout, stderr = io.BytesIO(), io.StringIO()
    code = main([op], io.BytesIO(json.dumps(request).encode()), stdout, stderr)
    return code, json.loads(stdout.getvalue()) if code == 0 else None, stderr.getvalue()


def _write(root: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)


def test_when_the_operation_is_unknown_then_it_exits_with_the_usage() -> None:
    stderr = io.StringIO()
    assert main(["nope"], io.BytesIO(b"{}"), io.BytesIO(), stderr) == USAGE_ERROR
    assert "usage: python -m mini_streamio.shared_rules" in stderr.getvalue()


def test_when_labels_are_checked_then_each_gets_its_problems_by_line_and_its_classes() -> None:
    code, answer, _ = _call(
        "check-labels", {"classes": 2, "labels": ["0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0\n", ""]}
    )
    assert code == 0
    assert answer == {
        "labels": [
            {
                "problems": [
                    {"line": 2, "message": "class id 2 is outside names (0..1)"},
                    {"line": 2, "message": "height is 0 (an empty box)"},
                ],
                "classes": [0],
            },
            {"problems": [], "classes": []},
        ]
    }


def test_when_a_yolo_folder_is_read_for_a_push_then_images_labels_and_data_yaml_problems_come_back(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {
            "data.yaml": "train: ../train/images\nval: valid/images\nnc: 3\nnames: {0: a, 2: b}\n",
            "train/images/sub/x.jpg": "",
            "train/labels/sub/x.txt": "1 0.5 0.5 0.2 0.2\r\n",
            "train/labels/orphan.txt": "",
        },
    )
    code, answer, _ = _call("push-layout", {"root": str(tmp_path), "data_yaml": str(tmp_path / "data.yaml")})
    assert code == 0
    assert answer["names"] == ["a", "b"]
    assert answer["problems"] == [
        {"where": "data.yaml", "message": "`names` keys must be 0, 1, 2, … without gaps"},
        {"where": "data.yaml", "message": "`nc` is 3 but `names` has 2 entries"},
        {"where": "data.yaml", "message": "`val: valid/images` is not a folder of the dataset"},
    ]
    [train] = answer["splits"]
    assert train["unpaired_labels"] == ["train/labels/orphan.txt"]
    assert train["images"] == [
        {
            "file": str(tmp_path.resolve() / "train/images/sub/x.jpg"),
            "shown": "train/images/sub/x.jpg",
            "relative": "sub/x.jpg",
            "label": {
                "shown": "train/labels/sub/x.txt",
                "text": "1 0.5 0.5 0.2 0.2\r\n",  # as stored: the push hashes these bytes
                "problems": [],
                "classes": [1],
            },
        }
    ]


def test_when_a_split_is_read_for_evaluate_then_valid_finds_the_val_folder_and_a_bad_row_exits_3(
    tmp_path: Path,
) -> None:
    _write(
        tmp_path,
        {"data.yaml": "val: v/images\nnames: [a]\n", "v/images/a.png": "", "v/labels/a.txt": "0 1 1 1 1\n"},
    )
    code, answer, _ = _call("split", {"root": str(tmp_path), "shown": "ds", "split": "valid"})
    assert code == 0
    assert answer["names"] == ["a"]
    assert [(i["name"], i["labels"], i["where"]) for i in answer["images"]] == [
        ("a.png", "0 1 1 1 1\n", "ds/v/labels/a.txt")
    ]
    (tmp_path / "v/labels/a.txt").write_text("0 1 1\n")
    code, _, stderr = _call("split", {"root": str(tmp_path), "shown": "ds", "split": "valid"})
    assert code == USER_ERROR
    assert (
        stderr.strip()
        == 'ds/v/labels/a.txt:1: not a YOLO label line (2 coordinates (expected 4 or a polygon)): "0 1 1"'
    )
    code, _, stderr = _call("split", {"root": str(tmp_path), "shown": "ds", "split": "holdout"})
    assert code == USER_ERROR
    assert (
        'the YOLO dataset in ds has no split "holdout" (looked in ds/holdout/images, ds/images/holdout)'
        in stderr
    )


def test_when_detections_are_scored_then_the_metrics_come_keyed_as_evaluate_writes_them() -> None:
    images = [
        {"labels": "0 0.5 0.5 0.2 0.2\n", "where": "a.txt", "predictions": [[0, 0.5, 0.5, 0.2, 0.2, 0.9]]},
        {"labels": "1 0.3 0.3 0.1 0.1\n", "where": "b.txt", "predictions": []},
    ]
    code, answer, _ = _call("evaluate", {"images": images})
    assert code == 0
    assert answer["images"] == 2 and answer["mAP50"] == 0.5 and answer["confidence"] == 0.9
    assert [(c["id"], c["recall"], c["mAP50-95"]) for c in answer["classes"]] == [(0, 1, 1), (1, 0, 0)]


@pytest.mark.integration
def test_when_spawned_then_it_answers_without_importing_torch_ultralytics_or_numpy() -> None:
    request = json.dumps({"classes": 1, "labels": ["0 0.5 0.5 0.2 0.2\n"]})
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mini_streamio.shared_rules", "check-labels"],
        input=request,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=True,
    )
    elapsed = time.monotonic() - started
    assert json.loads(run.stdout) == {"labels": [{"problems": [], "classes": [0]}]}
    imported = {line.split("|")[-1].strip() for line in run.stderr.splitlines() if "|" in line}
    assert not {"torch", "ultralytics", "numpy", "pandas", "PIL"} & imported
    assert elapsed < 5  # typically 0.1 s; generous for a loaded machine
