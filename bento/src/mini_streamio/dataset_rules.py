"""The dataset rules Python and TypeScript share, read from contracts/dataset-rules.json (the CLI
reads the same file: cli/src/lib/datasets/rules.ts): which files are images, the split names and
what a YOLO label row is. Change a rule there, not here; contracts/dataset-rules.cases.json holds
the cases both sides are tested against.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mini_streamio.contracts import CONTRACTS_DIR

RULES_FILE = CONTRACTS_DIR / "dataset-rules.json"
_RULES: dict[str, Any] = json.loads(RULES_FILE.read_text(encoding="utf-8"))

IMAGE_SUFFIXES: frozenset[str] = frozenset(_RULES["image_extensions"])  # keys: extension -> media type
SPLITS: tuple[str, ...] = tuple(_RULES["splits"])
REQUIRED_SPLITS: tuple[str, ...] = tuple(_RULES["required_splits"])
SPLIT_ALIASES: dict[str, str] = dict(_RULES["split_aliases"])  # other names of a split: valid -> val

NUMBER_PATTERN = re.compile(_RULES["label_row"]["number_pattern"])
BOX_VALUES: int = _RULES["label_row"]["box_values"]
POLYGON_MIN_VALUES: int = _RULES["label_row"]["polygon_min_values"]


def is_image(path: Path) -> bool:
    """Whether the file is one of a split's images, by its extension (any case)."""
    return path.suffix.lower() in IMAGE_SUFFIXES
