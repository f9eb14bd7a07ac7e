"""A dataset version as two tables: one row per image and one row per box.

The version is fetched and verified by `mini_streamio.training.dataset.fetch_dataset`, exactly as
the trainer gets it; these tables are read from that local copy, through the `data.local.yaml`
the fetch writes (so manifest versions and plain YOLO prefixes read the same way).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import pandas as pd
from PIL import Image

from mini_streamio.training.dataset import DatasetVersion
from mini_streamio.yolo_labels import parse_label_rows, read_label_text
from mini_streamio.yolo_layout import image_files, label_path, split_folders

IMAGE_COLUMNS = ["split", "file", "path", "width", "height", "boxes", "sha256"]
BOX_COLUMNS = [
    "split",
    "file",
    "class_id",
    "class_name",
    "xc",
    "yc",
    "w",
    "h",
    "w_px",
    "h_px",
    "area",
    "aspect",
]


@dataclass(frozen=True)
class DatasetTables:
    names: list[str]
    images: pd.DataFrame  # IMAGE_COLUMNS
    boxes: pd.DataFrame  # BOX_COLUMNS; xc, yc, w, h normalised to 0..1, area a fraction of the image


def load_tables(dataset: DatasetVersion) -> DatasetTables:
    """Reads every image header and label file of the version's splits."""
    image_rows: list[dict[str, Any]] = []
    box_rows: list[dict[str, Any]] = []
    for split, folder in split_folders(dataset.data_yaml).items():
        for image in image_files(folder):
            with Image.open(image) as opened:
                width, height = opened.size
            label = label_path(image)
            rows = parse_label_rows(read_label_text(label), str(label)) if label.exists() else []
            name = image.relative_to(folder).as_posix()
            image_rows.append(
                {
                    "split": split,
                    "file": name,
                    "path": str(image),
                    "width": width,
                    "height": height,
                    "boxes": len(rows),
                    "sha256": hashlib.sha256(image.read_bytes()).hexdigest(),
                }
            )
            box_rows += [_box_row(split, name, row, width, height, dataset.names) for row in rows]
    return DatasetTables(
        dataset.names,
        pd.DataFrame(image_rows, columns=IMAGE_COLUMNS),
        pd.DataFrame(box_rows, columns=BOX_COLUMNS),
    )


def _box_row(
    split: str,
    file: str,
    row: tuple[int, float, float, float, float],
    width: int,
    height: int,
    names: list[str],
) -> dict[str, Any]:
    class_id, xc, yc, w, h = row
    w_px, h_px = w * width, h * height
    return {
        "split": split,
        "file": file,
        "class_id": class_id,
        "class_name": names[class_id] if 0 <= class_id < len(names) else f"#{class_id}",
        "xc": xc,
        "yc": yc,
        "w": w,
        "h": h,
        "w_px": w_px,
        "h_px": h_px,
        "area": w * h,
        "aspect": w_px / h_px if h_px > 0 else float("nan"),
    }


def boxes_by_image(boxes: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """The box rows of each image that has any, keyed by (split, file): file names repeat across splits."""
    return dict(iter(boxes.groupby(["split", "file"])))


def sample_images(images: pd.DataFrame, count: int, seed: int = 0) -> pd.DataFrame:
    """`count` images drawn at random, spread as evenly as possible over the splits."""
    splits = list(images["split"].unique())
    picked = []
    for index, split in enumerate(splits):
        of_split = images[images["split"] == split]
        share = count // len(splits) + (1 if index < count % len(splits) else 0)
        picked.append(of_split.sample(min(share, len(of_split)), random_state=seed))
    return pd.concat(picked) if picked else images.iloc[0:0]


def split_summary(tables: DatasetTables) -> pd.DataFrame:
    """Per split: images, boxes, images without a box, boxes per image, distinct image contents."""
    images = tables.images
    summary = images.groupby("split", sort=False).agg(
        images=("file", "size"),
        boxes=("boxes", "sum"),
        empty_label_images=("boxes", lambda b: int((b == 0).sum())),
        boxes_per_image=("boxes", "mean"),
        max_boxes=("boxes", "max"),
        distinct_contents=("sha256", "nunique"),
    )
    total = summary[["images", "boxes", "empty_label_images"]].sum()
    summary.loc["all"] = {
        **total.to_dict(),
        "boxes_per_image": images["boxes"].mean() if len(images) else 0.0,
        "max_boxes": images["boxes"].max() if len(images) else 0,
        "distinct_contents": images["sha256"].nunique(),
    }
    summary["boxes_per_image"] = summary["boxes_per_image"].astype(float).round(2)
    return summary.astype({c: int for c in summary.columns if c != "boxes_per_image"})


def class_summary(tables: DatasetTables) -> pd.DataFrame:
    """Per class and split: boxes, and images holding at least one box of the class."""
    boxes = tables.boxes
    index = pd.Index(tables.names, name="class")
    columns: dict[str, pd.Series] = {}
    for split in tables.images["split"].unique():
        of_split = boxes[boxes["split"] == split]
        columns[f"{split} boxes"] = of_split.groupby("class_name").size()
        columns[f"{split} images"] = of_split.groupby("class_name")["file"].nunique()
    table = pd.DataFrame(columns).reindex(index).fillna(0).astype(int)
    table["box share"] = (
        boxes.groupby("class_name").size().reindex(index).fillna(0) / max(len(boxes), 1)
    ).round(3)
    return table


def image_sizes(tables: DatasetTables) -> pd.DataFrame:
    """How many images of each split have each width x height."""
    images = tables.images
    sizes = images.assign(size=images["width"].astype(str) + "x" + images["height"].astype(str))
    return sizes.groupby(["size", "split"]).size().unstack(fill_value=0)


def box_geometry(tables: DatasetTables) -> pd.DataFrame:
    """Quartiles of box width and height (pixels), area (% of the image) and aspect ratio, per class."""
    boxes = tables.boxes.assign(area_pct=tables.boxes["area"] * 100)
    described = boxes.groupby("class_name")[["w_px", "h_px", "area_pct", "aspect"]].quantile(
        [0.05, 0.5, 0.95]
    )
    return described.unstack().round(2)
