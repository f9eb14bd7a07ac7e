"""Makes BentoML's SQLite task store survive a failed write, which it does not in BentoML 1.4.40.

The store (`_bentoml_impl.tasks.result.Sqlite3Store`, one connection per worker, shared file) writes
in Python's implicit transactions and never rolls back. When a write fails, e.g. "database is
locked" because another worker held the write lock past the 5 s busy timeout under load, the
transaction stays open; the worker's next read then pins a snapshot inside it, and from then on the
worker answers /status and /get from that snapshot (404 for every newer task) and every write it
tries fails at once with "database is locked" (the snapshot is stale). With two workers this
happened within minutes of a benchmark (168 of 615 tasks lost, the submissions on that worker
refused with 500 for as long as it ran).

`install()` wraps the store's writes: a failed write is rolled back, so no transaction outlives it,
and tried again a few times before the error reaches BentoML (which then logs the task as failed, as
before). It patches the class in place, so it must run before the server creates its store: at
service import. tests/test_task_store.py reproduces the failure against the installed class.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from _bentoml_impl.tasks.result import Sqlite3Store
from _bentoml_impl.tasks.serde import _consume_response
from starlette.responses import Response

log = logging.getLogger(__name__)

WRITE_METHODS = ("new_entry", "set_status", "set_result")
ATTEMPTS = 3
RETRY_DELAY_S = 0.05

Write = Callable[..., Awaitable[Any]]


def install() -> None:
    """Wraps the store's write methods once (idempotent)."""
    for name in WRITE_METHODS:
        write = getattr(Sqlite3Store, name)
        if not getattr(write, "_rolls_back", False):
            setattr(Sqlite3Store, name, _rolling_back(write))


def _rolling_back(write: Write) -> Write:
    @functools.wraps(write)
    async def wrapper(store: Sqlite3Store, *args: Any) -> Any:
        args = await _replayable(args)
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await write(store, *args)
            except sqlite3.OperationalError as error:
                await store._conn.rollback()  # no transaction, and no snapshot, outlives a failure
                log.warning(
                    "task store %s failed (attempt %d of %d): %s", write.__name__, attempt, ATTEMPTS, error
                )
                if attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(RETRY_DELAY_S * attempt)
        raise AssertionError("unreachable")

    wrapper._rolls_back = True  # type: ignore[attr-defined]
    return wrapper


async def _replayable(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """The arguments with every response buffered, so that a retry stores the same bytes.

    Storing a result consumes the response's body (BentoML's serializer runs the response); a
    second attempt on the same object would store an empty body under the original Content-Length,
    which /detect/get then cannot send. Requests need nothing: starlette caches their body.
    """
    replayable = []
    for arg in args:
        if isinstance(arg, Response):
            buffered = Response(content=await _consume_response(arg), status_code=arg.status_code)
            buffered.raw_headers = list(arg.raw_headers)
            arg = buffered
        replayable.append(arg)
    return tuple(replayable)
