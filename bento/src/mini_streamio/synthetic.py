"""A small synthetic detection dataset in YOLO layout: coloured shapes on noise.

Tests, the demo model and the notebook's CI run use it, so everything runs anywhere
without the real data. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

CLASS_NAMES = ("circle", "square", "triangle")
COLOURS = ((230, 60, 60), (60, 200, 60), (70, 90, 240))


@dataclass(frozen=True)
class Box:
    class_id: int
    x_center: float
    y_center: float
    width: float
    height: float

    def label_row(self) -> str:
        return f"{self.class_id} {self.x_center:.6f} {self.y_center:.6f} {self.width:.6f} {self.height:.6f}"


def draw_image(rng: np.random.Generator, size: int, max_objects: int = 3) -> tuple[Image.Image, list[Box]]:
    """One noisy background with 1..max_objects non-overlapping shapes and their boxes."""
    pixels = rng.integers(0, 80, size=(size, size, 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    boxes: list[Box] = []
    taken: list[tuple[int, int, int, int]] = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        side = int(rng.integers(size // 5, size // 2))
        for _attempt in range(20):
            x0, y0 = (int(v) for v in rng.integers(0, size - side, size=2))
            rect = (x0, y0, x0 + side, y0 + side)
            if all(rect[2] <= t[0] or rect[0] >= t[2] or rect[3] <= t[1] or rect[1] >= t[3] for t in taken):
                break
        else:
            continue
        taken.append(rect)
        class_id = int(rng.integers(0, len(CLASS_NAMES)))
        colour = COLOURS[class_id]
        if class_id == 0:
            draw.ellipse(rect, fill=colour)
        elif class_id == 1:
            draw.rectangle(rect, fill=colour)
        else:
            draw.polygon([(x0 + side / 2, y0), (x0, y0 + side), (x0 + side, y0 + side)], fill=colour)
        boxes.append(Box(class_id, (x0 + side / 2) / size, (y0 + side / 2) / size, side / size, side / size))
    return image, boxes


def generate_shapes_dataset(
    root: Path,
    counts: dict[str, int] | None = None,
    image_size: int = 96,
    seed: int = 0,
) -> Path:
    """Writes `root/data.yaml` and `root/<split>/{images,labels}`; returns the data.yaml path."""
    counts = counts or {"train": 48, "valid": 16, "test": 8}
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        images, labels = root / split / "images", root / split / "labels"
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for index in range(count):
            image, boxes = draw_image(rng, image_size)
            image.save(images / f"{split}_{index:04d}.jpg", quality=95)
            (labels / f"{split}_{index:04d}.txt").write_text("".join(b.label_row() + "\n" for b in boxes))
    data_yaml = root / "data.yaml"
    config = {f"{'val' if s == 'valid' else s}": f"{s}/images" for s in counts} | {
        "nc": len(CLASS_NAMES),
        "names": list(CLASS_NAMES),
    }
    data_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    return data_yaml


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic shapes dataset in YOLO layout.")
    parser.add_argument("root", type=Path)
    parser.add_argument("--train", type=int, default=48)
    parser.add_argument("--valid", type=int, default=16)
    parser.add_argument("--test", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = {"train": args.train, "valid": args.valid, "test": args.test}
    print(generate_shapes_dataset(args.root, counts, args.image_size, args.seed))


if __name__ == "__main__":
    main()
