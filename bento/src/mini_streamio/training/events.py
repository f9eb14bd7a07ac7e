"""Progress of a training as events: JSON lines for the CLI, readable lines for a person.

Event kinds, in order: `started` (run id, MLflow URL), `dataset`, `model`, one `epoch` per
finished epoch, then exactly one of `finished`, `failed` or `killed`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any


class EventSink:
    def emit(self, event: str, **fields: Any) -> None:
        raise NotImplementedError


class JsonLinesSink(EventSink):
    """One JSON object per line on a stream of its own (the CLI parses it)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        self._stream.write(json.dumps({"event": event, **fields}, default=str) + "\n")
        self._stream.flush()


class ReadableSink(EventSink):
    """Short summary lines among Ultralytics' own output, for `python bento/train.py`."""

    def __init__(self, stream: IO[str] = sys.stdout) -> None:
        self._stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        if event == "epoch":
            return  # Ultralytics prints its own epoch table
        details = " ".join(f"{key}={value}" for key, value in fields.items() if not isinstance(value, dict))
        self._stream.write(f"[mini-streamio] {event} {details}\n")
        self._stream.flush()


def reserve_stdout_for_events() -> JsonLinesSink:
    return JsonLinesSink(reserve_stdout())


def reserve_stdout() -> IO[str]:
    """The real stdout, kept for the process's own output; everything else written to fd 1 goes to stderr.

    Ultralytics, torch and MLflow print to stdout; redirecting the file descriptor (not just
    sys.stdout) keeps the output clean even for output from C code.
    """
    sys.stdout.flush()
    output = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    return output
