"""The notebook's dataset statistics and duplicate search, on small datasets written by the tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from mini_streamio import yolo_layout
from mini_streamio.analysis import dataset_stats, duplicates, findings
from mini_streamio.analysis.dataset_stats import load_tables
from mini_streamio.synthetic import CLASS_NAMES, generate_shapes_dataset
from mini_streamio.training.dataset import DatasetVersion
from mini_streamio.yolo_labels import LabelError, parse_label_rows


def _version(data_yaml: Path) -> DatasetVersion:
    return DatasetVersion("shapes", "shapes", "0" * 12, "", list(CLASS_NAMES), {}, data_yaml)


def _copy(root: Path, source: tuple[str, str], target: tuple[str, str]) -> None:
    for folder, suffix in (("images", ".jpg"), ("labels", ".txt")):
        shutil.copyfile(
            root / source[0] / folder / f"{source[1]}{suffix}",
            root / target[0] / folder / f"{target[1]}{suffix}",
        )


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> DatasetVersion:
    """12 train, 4 valid, 2 test images; train_0000 copied twice in train, train_0001 leaked into
    valid, train_0002 re-saved blurred into test (a near-duplicate), one background image."""
    root = tmp_path_factory.mktemp("shapes")
    data_yaml = generate_shapes_dataset(root, {"train": 12, "valid": 4, "test": 2}, image_size=64, seed=11)
    _copy(root, ("train", "train_0000"), ("train", "copy_1"))
    _copy(root, ("train", "train_0000"), ("train", "copy_2"))
    _copy(root, ("train", "train_0001"), ("valid", "leaked"))
    with Image.open(root / "train" / "images" / "train_0002.jpg") as original:
        original.filter(ImageFilter.GaussianBlur(0.5)).save(
            root / "test" / "images" / "blurred.jpg", quality=90
        )
    shutil.copyfile(root / "train" / "labels" / "train_0002.txt", root / "test" / "labels" / "blurred.txt")
    Image.new("RGB", (64, 48), (40, 40, 40)).save(root / "train" / "images" / "background.jpg")
    (root / "train" / "labels" / "background.txt").write_text("")
    return _version(data_yaml)


def test_when_label_rows_are_boxes_or_polygons_then_both_become_boxes() -> None:
    rows = parse_label_rows("0 0.5 0.5 0.2 0.4\n\n1 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n")
    assert rows[0] == (0, 0.5, 0.5, 0.2, 0.4)
    class_id, xc, yc, w, h = rows[1]
    assert class_id == 1
    assert (xc, yc, w, h) == pytest.approx((0.2, 0.4, 0.2, 0.4))


def test_when_a_label_row_is_malformed_then_the_error_names_the_file_and_line() -> None:
    # The CLI's wording (`evaluate` shows it): one message for every reader of the row rule.
    with pytest.raises(
        LabelError, match=r'a\.txt:2: not a YOLO label line \(2 coordinates .*\): "0 0\.5 0\.5"'
    ):
        parse_label_rows("0 0.5 0.5 0.1 0.1\n0 0.5 0.5", "a.txt")
    with pytest.raises(LabelError, match=r'a\.txt:1: not a YOLO label line \(not numbers\): "x 1 2 3 4"'):
        parse_label_rows("x 1 2 3 4", "a.txt")


def test_when_an_image_path_has_images_folders_then_the_last_one_becomes_labels() -> None:
    path = Path("/data/images/train/images/frame.images.jpg")
    assert yolo_layout.label_path(path) == Path("/data/images/train/labels/frame.images.txt")


def test_when_a_dataset_is_loaded_then_every_image_and_label_row_is_a_table_row(
    shapes: DatasetVersion,
) -> None:
    tables = load_tables(shapes)
    root = shapes.data_yaml.parent
    label_rows = sum(len(f.read_text().split("\n")) - 1 for f in root.glob("*/labels/*.txt"))
    assert len(tables.images) == (12 + 2 + 1) + (4 + 1) + (2 + 1)
    assert len(tables.boxes) == label_rows
    assert set(tables.images["split"]) == {"train", "val", "test"}
    background = tables.images.set_index("file").loc["background.jpg"]
    assert (background["width"], background["height"], background["boxes"]) == (64, 48, 0)
    first = tables.boxes.iloc[0]
    assert first["area"] == pytest.approx(first["w"] * first["h"])
    assert first["w_px"] == pytest.approx(first["w"] * 64)


def test_when_splits_are_summarised_then_counts_empty_labels_and_distinct_contents_add_up(
    shapes: DatasetVersion,
) -> None:
    tables = load_tables(shapes)
    summary = dataset_stats.split_summary(tables)
    assert summary.loc["train", "images"] == 15
    assert summary.loc["train", "empty_label_images"] == 1
    assert summary.loc["train", "distinct_contents"] == 13  # the two copies are not new
    assert summary.loc["all", "images"] == 23
    assert summary.loc["all", "boxes"] == len(tables.boxes)
    classes = dataset_stats.class_summary(tables)
    assert list(classes.index) == list(CLASS_NAMES)
    assert classes[[c for c in classes.columns if c.endswith(" boxes")]].sum().sum() == len(tables.boxes)
    assert classes["box share"].sum() == pytest.approx(1.0, abs=0.01)


def test_when_images_are_sampled_then_every_split_gets_its_share(shapes: DatasetVersion) -> None:
    sample = dataset_stats.sample_images(load_tables(shapes).images, 7)
    assert sample["split"].value_counts().to_dict() == {"train": 3, "val": 2, "test": 2}


def test_when_hashes_differ_in_known_bits_then_the_hamming_matrix_counts_them() -> None:
    hashes = [0, 0b1011, (1 << 64) - 1]
    matrix = duplicates.hamming_matrix(hashes)
    assert matrix.tolist() == [[0, 3, 64], [3, 0, 61], [64, 61, 0]]
    assert duplicates.hamming_matrix([0b1], [0b0, 0b11]).tolist() == [[1, 1]]


def test_when_pairs_chain_then_they_form_one_group() -> None:
    groups = duplicates.connected_groups(5, np.array([[0, 1], [1, 3]], dtype=np.int64))
    assert groups[0] == groups[1] == groups[3]
    assert len({groups[0], groups[2], groups[4]}) == 3


def test_when_an_image_is_blurred_slightly_then_its_dhash_stays_close_and_other_images_are_far(
    shapes: DatasetVersion,
) -> None:
    root = shapes.data_yaml.parent
    original = duplicates.dhash(root / "train" / "images" / "train_0002.jpg")
    blurred = duplicates.dhash(root / "test" / "images" / "blurred.jpg")
    other = duplicates.dhash(root / "train" / "images" / "train_0003.jpg")
    assert duplicates.hamming_matrix([original], [blurred, other])[0, 0] <= 6
    assert duplicates.hamming_matrix([original], [other])[0, 0] > 12


def test_when_duplicates_are_searched_then_copies_leaks_and_near_copies_are_counted(
    shapes: DatasetVersion,
) -> None:
    report = duplicates.find_duplicates(load_tables(shapes).images, threshold=6)
    exact, near = report.summary("exact_group"), report.summary("near_group")
    assert exact.loc["train", "redundant copies"] == 2
    assert exact.loc["val", "shared with train"] == 1  # leaked.jpg
    assert exact.loc["test", "shared with train"] == 0  # blurred.jpg is not byte-identical …
    assert near.loc["test", "shared with train"] == 1  # … but it is a near-duplicate
    assert report.group_sizes("exact_group", "train").to_dict() == {1: 12, 3: 1}
    crossing = report.cross_split_groups("near_group")
    assert set(crossing["file"]) >= {"leaked.jpg", "train_0001.jpg", "blurred.jpg", "train_0002.jpg"}


def test_when_the_nearest_train_image_is_measured_then_own_copies_do_not_count(
    shapes: DatasetVersion,
) -> None:
    report = duplicates.find_duplicates(load_tables(shapes).images, threshold=6)
    within_train = report.nearest_in_train("train")
    assert within_train.loc["copy_1.jpg"] > 0  # its byte-identical siblings are skipped
    val = report.nearest_in_train("val")
    assert val.loc["leaked.jpg"] == 0
    pairs = report.closest_pairs("val", 2)
    assert pairs.iloc[0]["distance"] == 0
    assert pairs.iloc[0]["label_a"] == "val: leaked"
    assert pairs["distance"].is_monotonic_increasing


def test_when_the_dataset_has_copies_and_a_leak_then_the_findings_say_so(shapes: DatasetVersion) -> None:
    tables = load_tables(shapes)
    report = duplicates.find_duplicates(tables.images, threshold=6)
    notes = findings.dataset_findings(
        dataset_stats.split_summary(tables), dataset_stats.class_summary(tables), report
    )
    text = "\n".join(notes)
    assert "train: 15 files but only 13 distinct images; 2 (13%) are byte-identical copies" in text
    assert "1 of 23 images (4%) have no box" in text
    assert "Leakage: images with an exact or near-duplicate in train: val 1 of 5, test 1 of 3." in text
