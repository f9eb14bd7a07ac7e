"""Draws detections on images: `mini-streamio detect --save DIR` runs `python -m mini_streamio.draw`.

Input (stdin): JSON `{"items": [{"image": in_path, "output": out_path, "instances": [...]}]}`, the
instances as the detection API returns them (`boundingBox` "xc yc w h" normalised, `class`,
`className`, `confidence`). Output (stdout): one JSON line per item, `{"output": path}` or
`{"image": path, "error": message}`; an unreadable image does not stop the others.

Drawn with Pillow, which reads every format the service accepts (JPEG, PNG, WebP, BMP) and writes
the same one back. Labels use Pillow's built-in font: nothing is read from the network or
downloaded (Ultralytics' Annotator fetches Arial.ttf), and Ultralytics is not imported. Images are
turned upright by their EXIF orientation first, as the service does before detecting.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, ImageOps

# One colour per class id (cycled): Ultralytics' palette, so pictures look like `yolo predict`'s.
PALETTE = (
    "042AFF", "0BDBEB", "F3F3F3", "00DFB7", "111F68", "FF6FDD", "FF444F", "CCED00", "00F344", "BD00FF",
    "00B4FF", "DD00BA", "00FFFF", "26C000", "01FFB3", "7D24FF", "7B0068", "FF1B6C", "FC6D2F", "A2FF0B",
)  # fmt: skip


def class_colour(class_id: int) -> tuple[int, int, int]:
    code = PALETTE[class_id % len(PALETTE)]
    return int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16)


def _text_colour(background: tuple[int, int, int]) -> tuple[int, int, int]:
    red, green, blue = background
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else (255, 255, 255)


def draw_detections(image: Image.Image, instances: Sequence[dict[str, Any]]) -> Image.Image:
    """A copy of `image` (upright, RGB) with each instance's box and "name confidence" label."""
    drawn = ImageOps.exif_transpose(image).convert("RGB")
    width, height = drawn.size
    line = max(2, round((width + height) / 2 * 0.003))
    font = ImageFont.load_default(size=max(10, round(min(width, height) * 0.03)))
    canvas = ImageDraw.Draw(drawn)
    for instance in instances:
        xc, yc, w, h = (float(v) for v in str(instance["boundingBox"]).split())
        x0, y0 = (xc - w / 2) * width, (yc - h / 2) * height
        x1, y1 = (xc + w / 2) * width, (yc + h / 2) * height
        colour = class_colour(int(instance["class"]))
        canvas.rectangle((x0, y0, x1, y1), outline=colour, width=line)
        label = f"{instance.get('className') or instance['class']} {float(instance['confidence']):.2f}"
        left, top, right, bottom = canvas.textbbox((0, 0), label, font=font)
        text_w, text_h = right - left, bottom - top
        pad = max(1, line)
        # Above the box, or inside its top edge when the box touches the top of the image.
        label_y = y0 - text_h - 2 * pad if y0 - text_h - 2 * pad >= 0 else y0
        label_x = min(max(0.0, x0), max(0.0, width - text_w - 2 * pad))
        canvas.rectangle(
            (label_x, label_y, label_x + text_w + 2 * pad, label_y + text_h + 2 * pad), fill=colour
        )
        canvas.text((label_x + pad - left, label_y + pad - top), label, fill=_text_colour(colour), font=font)
    return drawn


def save_drawn(source: Path, output: Path, instances: Sequence[dict[str, Any]]) -> None:
    """Draws on `source` and writes `output` in the source's own format."""
    with Image.open(source) as image:
        image_format = image.format or "PNG"
        drawn = draw_detections(image, instances)
    options: dict[str, Any] = {"quality": 92} if image_format in ("JPEG", "WEBP") else {}
    output.parent.mkdir(parents=True, exist_ok=True)
    drawn.save(output, format=image_format, **options)


def draw_all(items: Iterable[dict[str, Any]]) -> Iterable[dict[str, str]]:
    for item in items:
        try:
            save_drawn(Path(item["image"]), Path(item["output"]), item.get("instances") or [])
            yield {"output": str(item["output"])}
        except Exception as error:
            yield {"image": str(item["image"]), "error": f"{type(error).__name__}: {error}"}


def main() -> int:
    request = json.load(sys.stdin)
    for outcome in draw_all(request["items"]):
        print(json.dumps(outcome), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
