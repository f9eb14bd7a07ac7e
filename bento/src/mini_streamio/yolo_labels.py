"""What a YOLO label row is (contracts/dataset-rules.json, `label_row`), in one place for every reader:
the notebook's tables (analysis/dataset_stats.py), `dataset push`'s check and `evaluate`'s ground
truth (the CLI asks for both through `python -m mini_streamio.shared_rules`).

Imports only the standard library and the contract, so that the CLI's spawn starts at once.
"""

from __future__ import annotations

import json
from pathlib import Path

from mini_streamio.dataset_rules import BOX_VALUES, NUMBER_PATTERN, POLYGON_MIN_VALUES

# class_id, x_center, y_center, width, height (normalised)
LabelBox = tuple[int, float, float, float, float]
COORDINATES = ("x_center", "y_center", "width", "height")


class LabelError(ValueError):
    """A label row that is not `class xc yc w h` (or a polygon) of decimal numbers."""


def read_label_text(path: Path) -> str:
    """A label file's text as stored: line ends untouched, undecodable bytes replaced (as Node reads it)."""
    return path.read_bytes().decode("utf-8", errors="replace")


def label_rows(text: str) -> list[tuple[int, str, list[str]]]:
    """The non-empty rows of a label file: (1-based line number, the row, its fields). Lines end at
    `\n` (a `\r` before it is whitespace); fields are separated by whitespace."""
    rows: list[tuple[int, str, list[str]]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if fields:
            rows.append((number, line.strip(), fields))
    return rows


def is_number(field: str) -> bool:
    """Whether a field is a decimal number as the contract writes it (no `0x`, `nan` or `inf`)."""
    return NUMBER_PATTERN.fullmatch(field) is not None


def _is_class_id(value: float) -> bool:
    return value.is_integer() and value >= 0


def row_box(fields: list[str]) -> LabelBox:
    """A row's box: `class xc yc w h`, or a polygon's (`class x1 y1 x2 y2 …`) bounding box.
    Raises LabelError saying why the row is neither."""
    if not all(is_number(field) for field in fields):
        raise LabelError("not numbers")
    first, *values = (float(field) for field in fields)
    if not _is_class_id(first):
        raise LabelError(f"class {fields[0]} is not a whole number >= 0")
    class_id = int(first)
    if len(values) == BOX_VALUES:
        xc, yc, w, h = values
        return class_id, xc, yc, w, h
    if len(values) >= POLYGON_MIN_VALUES and len(values) % 2 == 0:
        xs, ys = values[0::2], values[1::2]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        return class_id, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    raise LabelError(f"{len(values)} coordinates (expected {BOX_VALUES} or a polygon)")


def parse_label_rows(text: str, source: str = "label") -> list[LabelBox]:
    """The boxes of a label file; a bad row raises LabelError naming `source:line`."""
    boxes: list[LabelBox] = []
    for number, row, fields in label_rows(text):
        try:
            boxes.append(row_box(fields))
        except LabelError as err:
            raise LabelError(f'{source}:{number}: not a YOLO label line ({err}): "{row}"') from None
    return boxes


def check_label_rows(text: str, classes: int) -> tuple[list[tuple[int, str]], list[int]]:
    """`dataset push`'s check: box rows only (`class xc yc w h`), the class one of `classes` names,
    coordinates in [0, 1] and a size above 0. Returns every problem as (line, message) and the
    class of every row without one."""
    problems: list[tuple[int, str]] = []
    found: list[int] = []
    for number, _, fields in label_rows(text):
        if len(fields) != BOX_VALUES + 1:
            problems.append(
                (number, f'expected 5 values "class x_center y_center width height", got {len(fields)}')
            )
            continue
        not_numbers = [field for field in fields if not is_number(field)]
        if not_numbers:
            quoted = ", ".join(json.dumps(field, ensure_ascii=False) for field in not_numbers)
            problems.append((number, f"{quoted} not a number"))
            continue
        first, *coordinates = (float(field) for field in fields)
        ok = True
        if not _is_class_id(first) or first >= classes:
            valid = f"0..{classes - 1}" if classes > 0 else "no names defined"
            problems.append((number, f"class id {fields[0]} is outside names ({valid})"))
            ok = False
        for i, value in enumerate(coordinates):
            if value < 0 or value > 1:
                problems.append((number, f"{COORDINATES[i]} {fields[i + 1]} is outside [0, 1]"))
                ok = False
            elif i >= 2 and value == 0:
                problems.append((number, f"{COORDINATES[i]} is 0 (an empty box)"))
                ok = False
        if ok:
            found.append(int(first))
    return problems, found
