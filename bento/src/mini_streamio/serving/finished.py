"""Announcements of finished tasks, read from the task store's `finished` table (serving.task_store).

The gateway holds one `POST /detect/finished` open per replica, a long poll: the answer comes as soon
as a task of any worker finishes after the cursor the gateway sent, with the outcome of each task
that completed, so the gateway stores it at once instead of at its next poll (up to
RECONCILE_INTERVAL_MS later) and without asking /detect/get for it. The announcements are only a
shortcut: the gateway still polls, so an announcement it misses (a restart,
a reader more than FINISHED_KEPT behind) delays a task, never loses it.

The workers write the store and this reads it through a connection of its own (SQLite in WAL mode
lets it read while they write); a waiting request looks again when a worker rings the doorbell
(serving.doorbell) after storing a finish.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from typing import Any

from pydantic import BaseModel, Field

from mini_streamio.contracts import schema
from mini_streamio.serving.doorbell import Doorbell

MAX_WAIT_S = 30.0
MAX_IDS: int = schema("finished-tasks")["properties"]["task_ids"]["maxItems"]


class FinishedTasks(BaseModel):
    """contracts/finished-tasks.schema.json."""

    last: int = Field(ge=0, description="the cursor to send next")
    task_ids: list[str] = Field(max_length=MAX_IDS, description="finished after the cursor sent, in order")
    outcomes: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="the DetectionOutcome of each listed task that completed, by id, as /detect/get has it",
    )


class FinishedReader:
    def __init__(self, db_file: str, doorbell: Doorbell) -> None:
        self.db_file = db_file
        self.doorbell = doorbell
        self._conn: sqlite3.Connection | None = None

    async def wait_for(self, after: int, wait_s: float) -> FinishedTasks:
        """Tasks finished after cursor `after`; waits up to `wait_s` for one.

        -1 answers the current cursor at once. A cursor past the table's end was given by a store
        that a restart has since replaced: the answer then starts from the new store's beginning.
        """
        deadline = time.monotonic() + wait_s
        while True:
            ring = self.doorbell.next_ring()  # woken by a finish stored by any worker (doorbell.py)
            answer = self.read(after)
            left = deadline - time.monotonic()
            if after < 0 or answer.task_ids or left <= 0:
                return answer
            await self.doorbell.wait(ring, left)

    def read(self, after: int) -> FinishedTasks:
        conn = self._connection()
        (last,) = conn.execute("SELECT coalesce(max(seq), 0) FROM finished").fetchone()
        if after < 0:
            return FinishedTasks(last=last, task_ids=[])
        start = after if after <= last else 0
        rows = conn.execute(
            "SELECT f.seq, f.task_id, r.status, r.result FROM finished f LEFT JOIN result r USING (task_id)"
            " WHERE f.seq > ? ORDER BY f.seq LIMIT ?",
            (start, MAX_IDS),
        ).fetchall()
        outcomes = {
            task_id: outcome
            for _, task_id, status, result in rows
            if (outcome := _outcome(status, result)) is not None
        }
        return FinishedTasks(
            last=rows[-1][0] if rows else last, task_ids=[row[1] for row in rows], outcomes=outcomes
        )

    def _connection(self) -> sqlite3.Connection:
        # Opened on first use: the store's tables are created when the workers start.
        if self._conn is None:
            self._conn = sqlite3.connect(self.db_file, timeout=5.0, isolation_level=None)
        return self._conn


def _outcome(status: str | None, stored: bytes | None) -> Any:
    """The JSON body BentoML answers /detect/get with, for a task that completed with a 200.

    BentoML stores a task's response as JSON: its HTTP status, headers and base64 body
    (_bentoml_impl.tasks.serde.JSONSerde); a failed task, or a row already cleaned up, gives None
    and the gateway asks /detect/get as before.
    """
    if status != "completed" or stored is None:
        return None
    response = json.loads(stored)
    if response.get("status") != 200:
        return None
    return json.loads(base64.b64decode(response["content"]))
