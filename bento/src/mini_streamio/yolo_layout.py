"""Where a YOLO dataset's splits and labels are, as Ultralytics finds them; the one implementation
of that rule. The trainer's fetch (training/dataset.py) and the notebook's tables
(analysis/dataset_stats.py) read folders this way, and so do the CLI's `dataset push`
(`push_layout`) and `evaluate --dir` (`evaluation_split`), through
`python -m mini_streamio.shared_rules`. contracts/dataset-rules.cases.json holds cases of the rule
(bento/tests/test_dataset_rules_contract.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from mini_streamio.dataset_rules import REQUIRED_SPLITS, SPLIT_ALIASES, SPLITS, is_image
from mini_streamio.yolo_labels import check_label_rows, parse_label_rows, read_label_text

DATA_YAML_NAMES = ("data.yaml", "data.yml")


class LayoutError(ValueError):
    """The folder is not a dataset that can be read: the message says why, for the user."""


def data_yaml_base(data_yaml: Path, configured: object) -> Path:
    """The folder split paths are relative to: data.yaml's `path` (relative to its folder, or
    absolute) when that is a folder here, else data.yaml's folder (exports often carry the
    exporter's absolute `path`)."""
    folder = data_yaml.parent
    if isinstance(configured, str) and configured:
        base = (folder / configured).resolve()
        if base.is_dir():
            return base
    return folder.resolve()


def split_folder(base: Path, value: object) -> Path | None:
    """The folder a split names, or None; Roboflow's `../train/images` also means `train/images`."""
    if not isinstance(value, str):
        return None
    candidates = [base / value] + ([base / value[3:]] if value.startswith("../") else [])
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    return None


def _numeric(key: object) -> float:
    try:
        return float(key)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")


def class_names(value: object) -> list[str]:
    """data.yaml's `names`: a list, or a map {0: a, 1: b} taken in the order of its numeric keys; else []."""
    if isinstance(value, dict):
        return [str(value[key]) for key in sorted(value, key=_numeric)]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def split_folders(data_yaml: Path) -> dict[str, Path]:
    """The image folder of every split the data.yaml names that exists."""
    config: dict[str, Any] = yaml.safe_load(data_yaml.read_text()) or {}
    base = data_yaml_base(data_yaml, config.get("path"))
    folders = {split: split_folder(base, config.get(split)) for split in SPLITS}
    return {split: folder for split, folder in folders.items() if folder is not None}


def image_files(folder: Path) -> list[Path]:
    """The images under a split's folder, at any depth, sorted."""
    return sorted(file for file in folder.rglob("*") if is_image(file))


def label_path(image: Path) -> Path:
    """Ultralytics' rule: the last `images` folder of the path becomes `labels`, suffix `.txt`;
    an image under no `images` folder has its label beside it."""
    parts = list(image.parts)
    if "images" in parts:
        parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    return Path(*parts).with_suffix(".txt")


def find_data_yaml(root: Path) -> Path | None:
    for name in DATA_YAML_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def _shown(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def push_layout(root: Path, data_yaml: Path) -> dict[str, Any]:
    """What `dataset push` reads of a YOLO folder: the class names, each split's images with their
    label text checked row by row (yolo_labels.check_label_rows), label files without an image, and
    every problem of data.yaml. Paths are shown relative to `root`; nothing stops at a problem."""
    root = root.resolve()
    shown_yaml = _shown(data_yaml, root)
    problems: list[dict[str, str]] = []
    result: dict[str, Any] = {"names": [], "splits": [], "problems": problems}

    def problem(message: str) -> None:
        problems.append({"where": shown_yaml, "message": message})

    try:
        config = yaml.safe_load(data_yaml.read_bytes().decode("utf-8"))
        if not isinstance(config, dict):
            raise ValueError("not a mapping")
    except (yaml.YAMLError, ValueError, OSError) as err:
        problem(f"is not valid YAML ({_one_line(err)})")
        return result
    names = result["names"] = _checked_names(config, problem)
    base = data_yaml_base(data_yaml, config.get("path"))
    for split in SPLITS:
        value = config.get(split)
        if value is None or value == "":
            if split in REQUIRED_SPLITS:
                problem(f"has no `{split}` split (train and val are required)")
            continue
        if not isinstance(value, str):
            got = json.dumps(value, separators=(",", ":"), default=str)
            problem(f"`{split}` must be one folder path, got {got}")
            continue
        folder = split_folder(base, value)
        if folder is None:
            problem(f"`{split}: {value}` is not a folder of the dataset")
            continue
        result["splits"].append(_push_split(root, split, folder, len(names)))
    return result


def _checked_names(config: dict[str, Any], problem: Any) -> list[str]:
    raw = config.get("names")
    names = class_names(raw)
    if isinstance(raw, dict):
        ids = sorted(_numeric(key) for key in raw)
        if any(key != index for index, key in enumerate(ids)):
            problem("`names` keys must be 0, 1, 2, … without gaps")
    if not names:
        problem("`names` is missing or empty")
    repeated = list(dict.fromkeys(name for index, name in enumerate(names) if name in names[:index]))
    if repeated:
        problem(f"`names` repeats {', '.join(repeated)}")
    if "nc" in config and _numeric(config["nc"]) != len(names):
        problem(f"`nc` is {config['nc']} but `names` has {len(names)} entries")
    return names


def _push_split(root: Path, split: str, folder: Path, classes: int) -> dict[str, Any]:
    images: list[dict[str, Any]] = []
    expected: set[Path] = set()
    for image in image_files(folder):
        label = label_path(image)
        expected.add(label)
        entry: dict[str, Any] = {
            "file": str(image),
            "shown": _shown(image, root),
            "relative": image.relative_to(folder).as_posix(),
            "label": None,
        }
        if label.is_file():
            text = read_label_text(label)
            label_problems, found = check_label_rows(text, classes)
            entry["label"] = {
                "shown": _shown(label, root),
                "text": text,
                "problems": [{"line": line, "message": message} for line, message in label_problems],
                "classes": found,
            }
        images.append(entry)
    labels_folder = label_path(folder / "x.jpg").parent
    unpaired: list[str] = []
    if labels_folder != folder and labels_folder.is_dir():
        unpaired = [
            _shown(file, root)
            for file in sorted(labels_folder.rglob("*.txt"))
            if file.is_file() and file not in expected
        ]
    return {"name": split, "images": images, "unpaired_labels": unpaired}


def evaluation_split(root: Path, shown_root: str, split: str) -> dict[str, Any]:
    """What `evaluate --dir` reads: the class names and a split's images, each with its label text
    (empty without a label file), every label already parsed so that a bad row fails at once.
    The split is the one data.yaml declares under its name or an alias (`valid` is `val`), else
    <root>/<split>/images or <root>/images/<split>. Raises LayoutError or LabelError for the user."""
    root = root.resolve()
    data_yaml = find_data_yaml(root)
    shown_yaml = str(Path(shown_root) / (DATA_YAML_NAMES[0] if data_yaml is None else data_yaml.name))
    if data_yaml is None:
        raise LayoutError(f"{shown_root} is not a YOLO dataset: {shown_yaml} is missing")
    try:
        config = yaml.safe_load(data_yaml.read_bytes().decode("utf-8")) or {}
    except (yaml.YAMLError, ValueError, OSError) as err:
        raise LayoutError(f"{shown_yaml} is not valid YAML ({_one_line(err)})") from None
    if not isinstance(config, dict) or not isinstance(config.get("names"), (list, dict)):
        raise LayoutError(f'{shown_yaml} has no "names" list')
    base = data_yaml_base(data_yaml, config.get("path"))
    stored = SPLIT_ALIASES.get(split, split)
    keys = dict.fromkeys([stored, split, *(alias for alias, name in SPLIT_ALIASES.items() if name == stored)])
    declared = next((config[key] for key in keys if isinstance(config.get(key), str)), None)
    folder = split_folder(base, declared) if declared else None
    candidates = [root / split / "images", root / "images" / split]
    if folder is None:
        folder = next((candidate for candidate in candidates if candidate.is_dir()), None)
    if folder is None:
        looked = ([os.path.normpath(base / declared)] if declared else []) + [
            str(Path(shown_root) / c.relative_to(root)) for c in candidates
        ]
        raise LayoutError(
            f'the YOLO dataset in {shown_root} has no split "{split}" (looked in {", ".join(looked)})'
        )
    images: list[dict[str, str]] = []
    for image in image_files(folder):
        label = label_path(image)
        where = str(Path(shown_root) / os.path.relpath(label, root))
        text = read_label_text(label) if label.is_file() else ""
        parse_label_rows(text, where)
        images.append(
            {"name": image.relative_to(folder).as_posix(), "file": str(image), "labels": text, "where": where}
        )
    return {"names": class_names(config["names"]), "images": images}
