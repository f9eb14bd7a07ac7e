"""mini_streamio.draw: the pictures `mini-streamio detect --save` writes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mini_streamio import draw
from mini_streamio.draw import class_colour, draw_all, draw_detections
from tests.test_offline import NETWORK_GUARD

FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp"}


def instance(class_id: int, box: str, confidence: float = 0.87, name: str = "thing") -> dict[str, Any]:
    return {"boundingBox": box, "class": str(class_id), "className": name, "confidence": confidence}


def grey(width: int = 200, height: int = 100) -> Image.Image:
    return Image.new("RGB", (width, height), (128, 128, 128))


def close(actual: float | tuple[int, ...] | None, expected: tuple[int, int, int], tolerance: int = 0) -> bool:
    assert isinstance(actual, tuple), actual
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


def test_when_boxes_are_drawn_then_each_has_its_class_colour_at_its_pixels_and_a_label_above() -> None:
    # Box of class 0 from (20, 40) to (80, 80); class 1 from (120, 40) to (180, 80).
    drawn = draw_detections(
        grey(),
        [instance(0, "0.25 0.6 0.3 0.4", name="circle"), instance(1, "0.75 0.6 0.3 0.4", name="square")],
    )
    assert drawn.size == (200, 100)
    assert close(drawn.getpixel((50, 79)), class_colour(0))  # bottom edge
    assert close(drawn.getpixel((179, 60)), class_colour(1))  # right edge
    assert close(drawn.getpixel((50, 60)), (128, 128, 128))  # inside: untouched
    label_pixels = [drawn.getpixel((x, y)) for x in range(20, 60) for y in range(25, 40)]
    assert any(close(p, class_colour(0)) for p in label_pixels)  # the label's background
    assert class_colour(0) != class_colour(1)


def test_when_a_box_touches_the_top_then_its_label_goes_inside_and_the_image_keeps_its_size() -> None:
    drawn = draw_detections(grey(), [instance(2, "0.5 0.2 0.5 0.4")])
    assert drawn.size == (200, 100)
    label_pixels = [drawn.getpixel((x, y)) for x in range(50, 90) for y in range(0, 12)]
    assert sum(close(p, class_colour(2)) for p in label_pixels) > 100


@pytest.mark.parametrize("image_format", FORMATS)
def test_when_an_image_of_an_accepted_format_is_saved_drawn_then_it_keeps_its_format_and_size(
    tmp_path: Path, image_format: str
) -> None:
    source = tmp_path / f"in{FORMATS[image_format]}"
    grey(160, 120).save(source, format=image_format)
    output = tmp_path / "out" / f"in{FORMATS[image_format]}"
    outcomes = list(
        draw_all(
            [{"image": str(source), "output": str(output), "instances": [instance(5, "0.5 0.5 0.5 0.5")]}]
        )
    )
    assert outcomes == [{"output": str(output)}]
    with Image.open(output) as saved:
        assert saved.format == image_format
        assert saved.size == (160, 120)
        # The bottom edge of the box (lossy formats blur a thin line: the middle of it, loosely).
        assert close(saved.convert("RGB").getpixel((80, 89)), class_colour(5), tolerance=60)


def test_when_the_jpeg_is_rotated_by_exif_then_boxes_are_drawn_on_the_upright_image(tmp_path: Path) -> None:
    # Stored 100x50 with orientation 6 (rotate 90° clockwise to view): upright it is 50x100, as the
    # service sees it and as its normalised boxes are measured.
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "rotated.jpg"
    grey(100, 50).save(source, exif=exif)
    output = tmp_path / "drawn.jpg"
    list(draw_all([{"image": str(source), "output": str(output), "instances": [instance(0, "0.5 0.5 1 1")]}]))
    with Image.open(output) as saved:
        assert saved.size == (50, 100)
        assert saved.getexif().get(0x0112) in (None, 1)


def test_when_one_image_is_unreadable_then_it_is_reported_and_the_others_are_drawn(tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    grey().save(good)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    outcomes = list(
        draw_all(
            [
                {
                    "image": str(tmp_path / "bad.png"),
                    "output": str(tmp_path / "o" / "bad.png"),
                    "instances": [],
                },
                {"image": str(good), "output": str(tmp_path / "o" / "good.png"), "instances": []},
            ]
        )
    )
    assert outcomes[0]["image"] == str(tmp_path / "bad.png")
    assert "UnidentifiedImageError" in outcomes[0]["error"]
    assert outcomes[1] == {"output": str(tmp_path / "o" / "good.png")}


def test_when_run_as_main_then_it_reads_the_items_from_stdin_and_prints_one_line_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "a.png"
    grey().save(source)
    items = [
        {
            "image": str(source),
            "output": str(tmp_path / "out.png"),
            "instances": [instance(0, "0.5 0.5 0.2 0.2")],
        }
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"items": items})))
    assert draw.main() == 0
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [
        {"output": str(tmp_path / "out.png")}
    ]


GUARDED_DRAW = NETWORK_GUARD + textwrap.dedent(
    """
    import io, json, runpy
    sys.stdin = io.StringIO(sys.argv[1])
    sys.argv = ["draw"]
    try:
        runpy.run_module("mini_streamio.draw", run_name="__main__")
    except SystemExit:
        pass
    print("ULTRALYTICS", "ultralytics" in sys.modules, "ATTEMPTS", attempts)
    """
)


@pytest.mark.integration  # runs a child process
def test_when_the_entry_point_draws_then_it_fetches_nothing_and_leaves_ultralytics_alone(
    tmp_path: Path,
) -> None:
    source = tmp_path / "a.jpg"
    grey().save(source)
    items = [
        {
            "image": str(source),
            "output": str(tmp_path / "out.jpg"),
            "instances": [instance(0, "0.5 0.5 0.2 0.2")],
        }
    ]
    config_dir = tmp_path / "yolo-config"
    result = subprocess.run(
        [sys.executable, "-c", GUARDED_DRAW, json.dumps({"items": items})],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "YOLO_CONFIG_DIR": str(config_dir)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[0]) == {"output": str(tmp_path / "out.jpg")}
    assert "ULTRALYTICS False ATTEMPTS []" in result.stdout
    assert not config_dir.exists()  # no font (Arial.ttf) or settings written there
    assert (tmp_path / "out.jpg").exists()
