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

It also numbers the tasks as they finish (table `finished`, filled by a trigger), which
serving/finished.py serves as announcements: the gateway learns of a finish at once instead of at
its next poll; `on_finish` (the doorbell, serving.doorbell) wakes the requests waiting for one.

It also opens each connection with `synchronous=NORMAL`: in WAL mode a commit then no longer waits
for an fdatasync (checkpoints still sync). The store did three per task (310 for 100 tasks, 10 with
NORMAL, counted with strace: docs/BENCHMARKS.md), on the disk where MinIO syncs every object the
gateway writes, and a POST waits for those. A commit survives a crash of BentoML either way; only an
OS crash can drop the last ones, and the gateway, which keeps the durable copy of every task,
re-submits a task BentoML no longer knows.

And it keeps the store small and its clean-up cheap, which BentoML's store is not under a steady
load: it kept every task's request, image included (base64 in JSON, ~80 kB a task), for 24 hours,
and every stored result ran `DELETE ... WHERE completed_at < ?` over the whole table with no index,
following each row's image through its overflow pages to reach `completed_at`: 18 ms a task after
600 tasks, 128 ms after 5,000, growing for a day (bench/task_store_growth.py, docs/BENCHMARKS.md).
A request is now stored without its body (nothing reads it back: the task runs on the request in
memory, and the gateway retries from its own copy, so BentoML's /retry endpoint, which would resend
it, is not used), `completed_at` has an index, and results are kept for an hour instead of a day.

Each stored request names the worker that took it, and a worker opening the store ends the tasks of
workers that died (serving.dead_workers).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from _bentoml_impl.tasks.result import Sqlite3Store
from _bentoml_impl.tasks.serde import JSONSerde, _consume_response
from starlette.requests import Request
from starlette.responses import Response

from mini_streamio.serving import dead_workers

log = logging.getLogger(__name__)

READ_METHODS = ("get_status", "get")
WRITE_METHODS = ("new_entry", "set_status", "set_result")
FINISHING_METHODS = ("set_status", "set_result")  # they fill the `finished` table (the trigger)
ATTEMPTS = 5
FIRST_RETRY_DELAY_S = 0.05  # doubled on every retry: 0.75 s of back-off in all
# How long a finished task's result is kept (BentoML: a day). The gateway fetches it within seconds;
# one it fetches later than this (it was down that long) is re-run, using one of its attempts.
RESULT_RETENTION_S = 60 * 60
# What the store's clean-up of old results (run with every result stored) looks rows up by.
RETENTION_INDEX = "CREATE INDEX IF NOT EXISTS result_completed_at ON result (completed_at)"
# Every task that stops being in_progress gets a sequence number here, in the same transaction
# as its result (a trigger, so BentoML's own writes need no change): /detect/finished reads it.
FINISHED_TABLE = (
    "CREATE TABLE IF NOT EXISTS finished (seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL)"
)
FINISHED_KEPT = 10_000  # a reader further behind than this falls back to polling
FINISHED_TRIGGER = f"""
CREATE TRIGGER IF NOT EXISTS announce_finished AFTER UPDATE OF status ON result
WHEN OLD.status = 'in_progress' AND NEW.status != 'in_progress'
BEGIN
  INSERT INTO finished (task_id) VALUES (NEW.task_id);
  DELETE FROM finished WHERE seq <= (SELECT max(seq) FROM finished) - {FINISHED_KEPT};
END
"""

Method = Callable[..., Awaitable[Any]]

# Called after a write that may have finished a task (install's `on_finish`).
_on_finish: Callable[[], None] | None = None


def install(on_finish: Callable[[], None] | None = None) -> None:
    """Wraps the store's methods once (idempotent); `on_finish` runs after a task's status is stored."""
    global _on_finish
    _on_finish = on_finish
    for name in READ_METHODS + WRITE_METHODS:
        method = getattr(Sqlite3Store, name)
        if not getattr(method, "_patched", False):
            wrap = _retried_write if name in WRITE_METHODS else _alone
            setattr(Sqlite3Store, name, wrap(method))
    if not getattr(Sqlite3Store.__aenter__, "_patched", False):
        Sqlite3Store.__aenter__ = _tuned(Sqlite3Store.__aenter__)
    Sqlite3Store.RESULT_RETENTION = RESULT_RETENTION_S


class RequestsWithoutBody(JSONSerde):  # type: ignore[misc]  # BentoML's internals are untyped
    """BentoML's serializer, except that a task's stored request keeps its headers but not its body."""

    async def serialize_request(self, request: Request) -> bytes:
        await request.body()  # read as BentoML does, so the task finds the body cached
        # The worker that takes a task runs it: named so that its tasks can be ended if it dies.
        stored: bytes = self.json_encode(
            {"scope": self.get_scope(request.scope), "content": "", "worker": dead_workers.identity()}
        )
        return stored


def _tuned(enter: Method) -> Method:
    """Opens the store with commits that do not sync, an indexed clean-up and bodiless requests;
    then ends the tasks of dead workers (this worker may be replacing one)."""

    @functools.wraps(enter)
    async def wrapper(store: Sqlite3Store) -> Sqlite3Store:
        entered = await enter(store)
        await store._conn.execute("PRAGMA synchronous=NORMAL")
        # Both workers try each; IF NOT EXISTS makes that safe.
        for statement in (RETENTION_INDEX, FINISHED_TABLE, FINISHED_TRIGGER):
            await store._conn.execute(statement)
        await store._conn.commit()
        store.serializer = RequestsWithoutBody()
        await dead_workers.fail_tasks_of_dead_workers(store)
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
                    written = await write(store, *args)
                except sqlite3.OperationalError as error:
                    await store._conn.rollback()  # no transaction, and no snapshot, outlives a failure
                    name = write.__name__
                    log.warning("task store %s failed (attempt %d of %d): %s", name, attempt, ATTEMPTS, error)
                    if attempt == ATTEMPTS:
                        raise
                else:
                    if _on_finish is not None and write.__name__ in FINISHING_METHODS:
                        _on_finish()
                    return written
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
