"""Announcements of finished tasks, read from the task store's `finished` table (serving.task_store).

The gateway holds one `POST /detect/finished` open per replica, a long poll: the answer comes as soon
as a task of any worker finishes after the cursor the gateway sent, and the gateway then fetches
that result at once, instead of at its next poll (up to RECONCILE_INTERVAL_MS later). The
announcements are only a shortcut: the gateway still polls, so an announcement it misses (a restart,
a reader more than FINISHED_KEPT behind) delays a task, never loses it.

The workers write the store and this reads it through a connection of its own: SQLite in WAL mode
lets it read while they write, and a query by primary key costs microseconds, so looking every
CHECK_INTERVAL_S is cheaper than any signal between the worker processes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from pydantic import BaseModel, Field

from mini_streamio.contracts import schema

# How often a waiting request looks at the table: the latency an announcement adds, at most.
CHECK_INTERVAL_S = 0.02
MAX_WAIT_S = 30.0
MAX_IDS: int = schema("finished-tasks")["properties"]["task_ids"]["maxItems"]


class FinishedTasks(BaseModel):
    """contracts/finished-tasks.schema.json."""

    last: int = Field(ge=0, description="the cursor to send next")
    task_ids: list[str] = Field(max_length=MAX_IDS, description="finished after the cursor sent, in order")


class FinishedReader:
    def __init__(self, db_file: str) -> None:
        self.db_file = db_file
        self._conn: sqlite3.Connection | None = None

    async def wait_for(self, after: int, wait_s: float) -> FinishedTasks:
        """Tasks finished after cursor `after`; waits up to `wait_s` for one.

        -1 answers the current cursor at once. A cursor past the table's end was given by a store
        that a restart has since replaced: the answer then starts from the new store's beginning.
        """
        deadline = time.monotonic() + wait_s
        while True:
            answer = self.read(after)
            if after < 0 or answer.task_ids or time.monotonic() >= deadline:
                return answer
            await asyncio.sleep(CHECK_INTERVAL_S)

    def read(self, after: int) -> FinishedTasks:
        conn = self._connection()
        (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM finished").fetchone()
        if after < 0:
            return FinishedTasks(last=last, task_ids=[])
        start = after if after <= last else 0
        rows = conn.execute(
            "SELECT seq, task_id FROM finished WHERE seq > ? ORDER BY seq LIMIT ?", (start, MAX_IDS)
        ).fetchall()
        return FinishedTasks(last=rows[-1][0] if rows else last, task_ids=[task_id for _, task_id in rows])

    def _connection(self) -> sqlite3.Connection:
        # Opened on first use: the store's tables are created when the workers start.
        if self._conn is None:
            self._conn = sqlite3.connect(self.db_file, timeout=5.0, isolation_level=None)
        return self._conn
