"""Ends the tasks of a worker that died, so the gateway retries them now instead of after its timeout.

A worker killed mid-task (the OOM killer, a crash inside a runtime) leaves the tasks it had taken
`in_progress` in the shared task store: BentoML's arbiter starts a new worker, but nothing ends the
old one's tasks, and the gateway would re-submit them only after TASK_TIMEOUT_MS (5 minutes). A task
runs in the worker that accepted it, so each stored request names that worker (serving.task_store),
and a worker starting up marks the tasks of workers no longer running `failed` with a 500 naming
the cause. Their finish is announced like any other, and the gateway retries them within its
attempts, so an image that kills every worker it meets still ends failed.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

from _bentoml_impl.tasks.result import ResultStatus, Sqlite3Store
from starlette.responses import JSONResponse

log = logging.getLogger(__name__)


def identity() -> str:
    """This process as `<pid>:<start time>`: a pid alone could belong to a later process."""
    return _identity(os.getpid())  # per call: a forked child gets its own


@functools.cache
def _identity(pid: int) -> str:
    return f"{pid}:{_start_time(pid)}"


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the process name (which may hold spaces): [0] is field 3, the state."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _start_time(pid: int) -> str:
    """Clock ticks from boot to the process's start (field 22); '' without /proc."""
    try:
        return _stat(pid)[19]
    except OSError:
        return ""


def is_running(worker: str) -> bool:
    """Whether the process an identity names still runs (a zombie waiting to be reaped does not)."""
    pid_text, _, started = worker.partition(":")
    pid = int(pid_text)
    try:
        fields = _stat(pid)
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: the pid alone decides
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return fields[0] != "Z" and fields[19] == started


async def fail_tasks_of_dead_workers(store: Sqlite3Store) -> list[str]:
    """Marks the in-progress tasks of workers that no longer run as failed; returns their ids."""
    cursor = await store._conn.execute("SELECT task_id, input FROM result WHERE status = ?", ("in_progress",))
    rows = await cursor.fetchall()
    failed = []
    for task_id, stored_request in rows:
        worker = json.loads(stored_request).get("worker")
        if not worker or is_running(worker):
            continue  # no worker named: left to the gateway's timeout
        message = f"the worker running this task (pid {worker.partition(':')[0]}) died before it finished"
        answer = JSONResponse({"error": message}, status_code=500)
        await store.set_result(task_id, answer, ResultStatus.FAILED)
        failed.append(task_id)
    if failed:
        log.warning("marked %d task(s) of a worker that died as failed", len(failed))
    return failed
