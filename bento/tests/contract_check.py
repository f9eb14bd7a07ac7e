"""Checks instances against contracts/ (JSON Schema 2020-12) with jsonschema, and lists the
golden fixtures; used by test_contracts.py and by the tests that run the real trainer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from mini_streamio.contracts import CONTRACTS_DIR, schema

FIXTURES = CONTRACTS_DIR / "fixtures"
SCHEMA_NAMES = sorted(path.name.removesuffix(".schema.json") for path in CONTRACTS_DIR.glob("*.schema.json"))
# Schemas refer to each other by $id (detection-outcome → detection-response).
REGISTRY: Registry[Any] = Registry().with_resources(
    (schema(name)["$id"], Resource.from_contents(schema(name))) for name in SCHEMA_NAMES
)


def validator(name: str) -> Draft202012Validator:
    checker = Draft202012Validator.FORMAT_CHECKER
    return Draft202012Validator(schema(name), registry=REGISTRY, format_checker=checker)


def instances(path: Path) -> Iterator[Any]:
    """A .json fixture is one instance; a .jsonl fixture (a trainer's stdout) one per line."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        yield from (json.loads(line) for line in text.splitlines())
    else:
        yield json.loads(text)


def fixtures(name: str, kind: str) -> list[Path]:
    """contracts/fixtures/<name>/<kind>/*.json(l), kind valid or invalid."""
    return sorted((FIXTURES / name / kind).glob("*.json*"))
