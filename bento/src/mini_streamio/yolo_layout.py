"""Where a YOLO dataset's splits and labels are, as Ultralytics finds them: the trainer's fetch
(training/dataset.py) and the notebook's tables (analysis/dataset_stats.py) both read folders this
way. `dataset push` and `evaluate` follow the same rule in TypeScript (cli/src/lib/datasets/yolo.ts);
both are tested against contracts/dataset-rules.cases.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mini_streamio.dataset_rules import SPLITS, is_image


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


def class_names(value: object) -> list[str]:
    """data.yaml's `names`: a list, or a map {0: a, 1: b} taken in the order of its keys; else []."""
    if isinstance(value, dict):
        return [str(value[key]) for key in sorted(value)]
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
