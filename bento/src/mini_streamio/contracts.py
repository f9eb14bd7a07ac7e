"""The shared formats of contracts/ (JSON Schema at the repository root), read once.

Values both languages need (detection defaults and ranges, trainer exit codes, train defaults,
the serving alias) are written only there; Python takes them from here. The folder sits three
levels above this package both in a clone and in Dockerfile.bento (/app/contracts beside
/app/bento/src).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parents[3] / "contracts"


@cache
def schema(name: str) -> dict[str, Any]:
    """contracts/<name>.schema.json, parsed."""
    loaded: dict[str, Any] = json.loads((CONTRACTS_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True)
class Bounded:
    """A number's default and inclusive range, from a schema property."""

    default: Any
    minimum: Any
    maximum: Any


def _bounded(name: str, prop: str) -> Bounded:
    spec = schema(name)["properties"][prop]
    return Bounded(spec["default"], spec["minimum"], spec["maximum"])


def detection_param(prop: str) -> Bounded:
    """conf, iou or max_det (detection-params.schema.json)."""
    return _bounded("detection-params", prop)


def train_default(prop: str) -> Any:
    """The default of a train option (train-options.schema.json), e.g. epochs → 100."""
    return schema("train-options")["properties"][prop]["default"]


def trainer_exit_codes() -> dict[str, int]:
    """How the trainer exits: {"finished": 0, "failed": 1, "usage": 2, "killed": 130}."""
    properties = schema("trainer-exit-codes")["properties"]
    return {name: int(spec["const"]) for name, spec in properties.items()}


def registry_tag(name: str) -> str:
    """A registry version tag the contract defines (registry-tags.schema.json); KeyError if not."""
    if name not in schema("registry-tags")["properties"]:
        raise KeyError(f"registry-tags.schema.json defines no tag {name!r}")
    return name


def registry_metric_prefix() -> str:
    """What a metric tag's name starts with: "metric.", the literal of its patternProperties key."""
    patterns = list(schema("registry-tags")["patternProperties"])
    match = re.fullmatch(r"\^((?:[A-Za-z0-9_-]|\\[./-])+)", patterns[0]) if len(patterns) == 1 else None
    if match is None:
        raise ValueError(
            f"registry-tags.schema.json: {patterns} is not one pattern ^ followed by literal characters"
        )
    return re.sub(r"\\(.)", r"\1", match.group(1))


def production_alias() -> str:
    """The registry alias the service serves."""
    return str(schema("registry-tags")["$defs"]["production_alias"]["const"])
