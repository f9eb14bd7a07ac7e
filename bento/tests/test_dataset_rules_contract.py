"""contracts/dataset-rules.cases.json against the one implementation of each rule, in Python: image
files, label paths, class names, label rows, split folders, box matching, and the content hash the
push computes (the trainer's check of it). The CLI calls these same functions
(`python -m mini_streamio.shared_rules`); cli/test/dataset-rules-contract.unit.test.ts checks only
what stays TypeScript (media types, the content hash)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from mini_streamio.dataset_rules import RULES_FILE, SPLITS, is_image
from mini_streamio.detection_metrics import corners, greedy_matches, iou_matrix
from mini_streamio.training.dataset import DatasetError, manifest_identity
from mini_streamio.yolo_labels import LabelError, parse_label_rows
from mini_streamio.yolo_layout import class_names, label_path, split_folders

CASES: dict[str, Any] = json.loads((RULES_FILE.parent / "dataset-rules.cases.json").read_text())


def _named(section: str) -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in CASES[section]]


def test_when_a_folder_is_listed_then_the_images_are_the_files_with_an_image_extension() -> None:
    files = CASES["image_files"]["files"]
    assert [name for name in files if is_image(Path(name))] == CASES["image_files"]["images"]


@pytest.mark.parametrize("case", CASES["label_paths"], ids=lambda c: c["image"])
def test_when_an_image_has_a_path_then_its_label_path_is_the_cases(case: dict[str, str]) -> None:
    root = Path("/dataset")
    assert label_path(root / case["image"]) == root / case["label"]


@pytest.mark.parametrize("case", _named("class_names"))
def test_when_a_data_yaml_holds_names_then_the_class_names_are_the_cases(case: dict[str, Any]) -> None:
    assert class_names((yaml.safe_load(case["data_yaml"]) or {}).get("names")) == case["names"]


@pytest.mark.parametrize("case", _named("label_rows"))
def test_when_label_rows_are_read_then_they_parse_as_the_case_says(case: dict[str, Any]) -> None:
    if "error_line" in case:
        with pytest.raises(LabelError, match=rf"^a\.txt:{case['error_line']}: "):
            parse_label_rows(case["text"], "a.txt")
        return
    rows = parse_label_rows(case["text"], "a.txt")
    assert len(rows) == len(case["boxes"])
    for row, expected in zip(rows, case["boxes"], strict=True):
        assert row == pytest.approx(tuple(expected), abs=1e-12)


@pytest.mark.parametrize("case", _named("split_folders"))
def test_when_a_data_yaml_names_splits_then_each_resolves_to_the_cases_folder(
    case: dict[str, Any], tmp_path: Path
) -> None:
    root = tmp_path.resolve()
    for folder in case["folders"]:
        (root / folder).mkdir(parents=True)
    data_yaml = root / "data.yaml"
    data_yaml.write_text(case["data_yaml"].replace("{root}", str(root)))
    found = split_folders(data_yaml)
    resolved = {
        split: found[split].relative_to(root).as_posix() if split in found else None for split in SPLITS
    }
    assert resolved == case["expected"]


@pytest.mark.parametrize("case", _named("box_matching"))
def test_when_boxes_are_matched_then_each_prediction_takes_the_cases_box(case: dict[str, Any]) -> None:
    truth = [corners(*row[1:5]) for row in case["truth"]]
    predicted = [corners(*row[1:5]) for row in case["predictions"]]
    ious = iou_matrix(predicted, truth)
    assert np.array(ious).reshape(len(predicted), len(truth)) == pytest.approx(
        np.array(case["ious"]), abs=1e-12
    )
    same_class = [[p[0] == g[0] for g in case["truth"]] for p in case["predictions"]]
    confidences = [row[5] for row in case["predictions"]]
    matched = greedy_matches(ious, same_class, confidences, case["threshold"])
    assert [g if g >= 0 else None for g in matched] == case["matches"]


def test_when_a_manifest_carries_the_pushs_hash_then_it_is_taken_as_is_and_must_name_the_version() -> None:
    golden = CASES["content_hash"]
    manifest = {
        "name": "shapes",
        "version": golden["version"],
        "content_hash": golden["content_hash"],
        "names": golden["names"],
        "files": golden["files"],
    }
    name, version, digest, files = manifest_identity(manifest)
    assert (name, version, digest) == ("shapes", golden["version"], golden["content_hash"])
    assert files == {path: meta["sha256"] for path, meta in golden["files"].items()}
    with pytest.raises(DatasetError, match="version is not the start of its content_hash"):
        manifest_identity(manifest | {"version": "0" * 12})
