"""Makes BentoML's SQLite task store safe for two workers, which it is not in BentoML 1.4.40.

The store (`_bentoml_impl.tasks.result.Sqlite3Store`, one aiosqlite connection per worker, one
shared file in WAL mode) has two defects that show once two workers share the file:

1. A failed write is never rolled back. When a write fails ("database is locked"), its transaction
   stays open; the worker's next read then pins a snapshot inside it, and from then on the worker
   answers /status and /get from that snapshot (404 for every newer task) and every write it tries
   fails at once. A benchmark with two workers lost 168 of 615 tasks this way.
2. Calls on one connection interleave. A status poll runs its SELECT and fetches the row in two
   separate hops to the connection's thread; a write of the same worker that runs in between finds
   a read transaction open, and if the other worker has committed since it began, SQLite refuses the
   write at once with "database is locked" (SQLITE_BUSY_SNAPSHOT: no busy timeout is waited). A
   refused `set_result` leaves the task in_progress for good: the gateway re-submits it only after
   its task timeout (one task of a 200-task burst stalled 60 s this way in CI).

`install()` wraps the store's methods: each call holds the worker's connection to itself (a lock),
so no read is open while a write runs; a failed write is rolled back and tried again with back-off
before the error reaches BentoML (which then logs the task as failed, as before). It patches the
class in place, so it must run before the server creates its store: at service import.
tests/test_task_store.py reproduces both defects against the installed class.

It also opens each connection with `synchronous=NORMAL`: in WAL mode a commit then no longer waits
for an fdatasync (checkpoints still sync). The store did three per task (310 for 100 tasks, 10 with
NORMAL, counted with strace: docs/BENCHMARKS.md), on the disk where MinIO syncs every object the
gateway writes, and a POST waits for those. A commit survives a crash of BentoML either way; only an
OS crash can drop the last ones, and the gateway, which keeps the durable copy of every task,
re-submits a task BentoML no longer knows.
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

READ_METHODS = ("get_status", "get")
WRITE_METHODS = ("new_entry", "set_status", "set_result")
ATTEMPTS = 5
FIRST_RETRY_DELAY_S = 0.05  # doubled on every retry: 0.75 s of back-off in all

Method = Callable[..., Awaitable[Any]]


def install() -> None:
    """Wraps the store's methods once (idempotent)."""
    for name in READ_METHODS + WRITE_METHODS:
        method = getattr(Sqlite3Store, name)
        if not getattr(method, "_patched", False):
            wrap = _retried_write if name in WRITE_METHODS else _alone
            setattr(Sqlite3Store, name, wrap(method))
    if not getattr(Sqlite3Store.__aenter__, "_patched", False):
        Sqlite3Store.__aenter__ = _without_commit_sync(Sqlite3Store.__aenter__)


def _without_commit_sync(enter: Method) -> Method:
    @functools.wraps(enter)
    async def wrapper(store: Sqlite3Store) -> Sqlite3Store:
        entered = await enter(store)
        await store._conn.execute("PRAGMA synchronous=NORMAL")
        return entered

    wrapper._patched = True  # type: ignore[attr-defined]
    return wrapper


def _connection_lock(store: Sqlite3Store) -> asyncio.Lock:
    lock: asyncio.Lock | None = getattr(store, "_call_lock", None)
    if lock is None:
        lock = store._call_lock = asyncio.Lock()
    return lock


def _alone(read: Method) -> Method:
    @functools.wraps(read)
    async def wrapper(store: Sqlite3Store, *args: Any) -> Any:
        async with _connection_lock(store):
            return await read(store, *args)

    wrapper._patched = True  # type: ignore[attr-defined]
    return wrapper


def _retried_write(write: Method) -> Method:
    @functools.wraps(write)
    async def wrapper(store: Sqlite3Store, *args: Any) -> Any:
        args = await _replayable(args)
        for attempt in range(1, ATTEMPTS + 1):
            async with _connection_lock(store):
                try:
                    return await write(store, *args)
                except sqlite3.OperationalError as error:
                    await store._conn.rollback()  # no transaction, and no snapshot, outlives a failure
                    name = write.__name__
                    log.warning("task store %s failed (attempt %d of %d): %s", name, attempt, ATTEMPTS, error)
                    if attempt == ATTEMPTS:
                        raise
            # Outside the lock: the worker's polls go on while this write waits for its next try.
            await asyncio.sleep(FIRST_RETRY_DELAY_S * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    wrapper._patched = True  # type: ignore[attr-defined]
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
