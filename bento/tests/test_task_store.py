"""BentoML's SQLite task store with two connections on one file, as two workers use it.

Two scenarios, each against the installed BentoML, unpatched and patched by
mini_streamio.serving.task_store:
- worker A's write fails because worker B holds the write lock too long; A then reads (a status
  poll) while B keeps accepting tasks. Unpatched, A is stuck from then on: it cannot see B's tasks
  and cannot write.
- worker A writes while one of its own status polls is half done and B has committed since the
  poll began. Unpatched, SQLite refuses A's write at once.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from _bentoml_impl.tasks.result import ResultStatus, Sqlite3Store
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from mini_streamio.serving import dead_workers, task_store

LOCK_WAIT_MS = 100  # worker A's busy timeout here (BentoML's own is 5 s)


@pytest.fixture
def restore_store() -> Iterator[None]:
    names = (*task_store.READ_METHODS, *task_store.WRITE_METHODS, "__aenter__")
    originals = {name: getattr(Sqlite3Store, name) for name in (*names, "RESULT_RETENTION")}
    on_finish = task_store._on_finish
    yield
    for name, method in originals.items():
        setattr(Sqlite3Store, name, method)
    task_store._on_finish = on_finish


@pytest.fixture
def patched(restore_store: None) -> Iterator[None]:
    task_store.install()
    yield


def request_with(body: bytes) -> Request:
    scope = {"type": "http", "method": "POST", "path": "/detect", "headers": [], "query_string": b""}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def new_task(store: Sqlite3Store, body: bytes = b"") -> str:
    return str(await store.new_entry("detect", request_with(body)))


async def worker_a_after_a_failed_write(db: Path) -> tuple[bool, bool]:
    """Runs the scenario; whether worker A then (sees B's newest task, can write)."""
    Sqlite3Store.init_db(str(db))
    async with Sqlite3Store(str(db)) as worker_a, Sqlite3Store(str(db)) as worker_b:
        await worker_a._conn.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
        first = await new_task(worker_a)
        # B holds the write lock (a write transaction in progress) for longer than A waits.
        await worker_b._conn.execute("UPDATE result SET status = status WHERE task_id = ?", (first,))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await worker_a.set_status(first, ResultStatus.COMPLETED)
        await worker_b._conn.commit()
        await worker_a.get_status(first)  # a poll answered by A
        newest = await new_task(worker_b)
        try:
            await worker_a.get_status(newest)
            sees_newest = True
        except KeyError:
            sees_newest = False
        try:
            await new_task(worker_a)
            can_write = True
        except sqlite3.OperationalError:
            can_write = False
        return sees_newest, can_write


def test_when_a_write_fails_then_the_unpatched_store_is_stuck(tmp_path: Path) -> None:
    """Pins the defect in the installed BentoML: if this fails, the patch may no longer be needed."""
    assert asyncio.run(worker_a_after_a_failed_write(tmp_path / "tasks.db")) == (False, False)


def test_when_a_write_fails_then_the_patched_store_recovers(patched: None, tmp_path: Path) -> None:
    assert asyncio.run(worker_a_after_a_failed_write(tmp_path / "tasks.db")) == (True, True)


def test_when_the_lock_is_released_soon_then_the_patched_write_is_retried_and_stores_the_whole_result(
    patched: None, tmp_path: Path
) -> None:
    """The result is a streamed response, which the first, failed attempt already consumed."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"instances": '
        yield b"[]}"

    async def scenario() -> tuple[ResultStatus, bytes]:
        db = str(tmp_path / "tasks.db")
        Sqlite3Store.init_db(db)
        async with Sqlite3Store(db) as worker_a, Sqlite3Store(db) as worker_b:
            await worker_a._conn.execute(f"PRAGMA busy_timeout={LOCK_WAIT_MS}")
            task_id = await new_task(worker_a)
            await worker_b._conn.execute("UPDATE result SET status = status WHERE task_id = ?", (task_id,))
            result = StreamingResponse(body(), media_type="application/json")
            write = asyncio.create_task(worker_a.set_result(task_id, result, ResultStatus.COMPLETED))
            await asyncio.sleep(LOCK_WAIT_MS * 1.5 / 1000)  # A's first try has failed by now
            await worker_b._conn.commit()
            await write
            row = await worker_b.get(task_id)
            return row.status, bytes(row.result.body)

    assert asyncio.run(scenario()) == (ResultStatus.COMPLETED, b'{"instances": []}')


def test_when_a_task_ends_then_on_finish_is_called_once_and_not_for_a_new_task(
    restore_store: None, tmp_path: Path
) -> None:
    calls: list[str] = []
    task_store.install(on_finish=lambda: calls.append("rung"))

    async def scenario() -> list[list[str]]:
        db = tmp_path / "tasks.db"
        Sqlite3Store.init_db(str(db))
        seen = []
        async with Sqlite3Store(str(db)) as worker:
            task_id = await new_task(worker)
            seen.append(list(calls))
            await worker.set_result(task_id, Response(b"{}"), ResultStatus.COMPLETED)
            seen.append(list(calls))
            await worker.set_status(await new_task(worker), ResultStatus.CANCELED)
            seen.append(list(calls))
        return seen

    assert asyncio.run(scenario()) == [[], ["rung"], ["rung", "rung"]]


def test_when_installed_twice_then_writes_are_wrapped_once(patched: None) -> None:
    wrapped = Sqlite3Store.set_result
    task_store.install()
    assert Sqlite3Store.set_result is wrapped


READ_HELD_S = 1.0  # longer than the patched write's back-off (0.75 s): retrying alone cannot win


async def write_during_own_read(db: Path, install_patch: bool) -> bool:
    """Whether A's write succeeds while A's status poll is between its SELECT and its fetch."""
    poll_started, poll_may_finish = asyncio.Event(), asyncio.Event()

    async def slow_get_status(store: Sqlite3Store, task_id: str) -> object:
        # BentoML's get_status with a pause where a real poll yields to the event loop.
        cursor = await store._conn.execute("SELECT status FROM result WHERE task_id = ?", (task_id,))
        poll_started.set()
        await poll_may_finish.wait()
        return await cursor.fetchone()

    Sqlite3Store.get_status = slow_get_status
    if install_patch:
        task_store.install()
    Sqlite3Store.init_db(str(db))
    async with Sqlite3Store(str(db)) as worker_a, Sqlite3Store(str(db)) as worker_b:
        task_id = await new_task(worker_a)
        poll = asyncio.create_task(worker_a.get_status(task_id))
        await poll_started.wait()
        await new_task(worker_b)  # B commits while A's poll holds its snapshot
        write = asyncio.create_task(worker_a.set_status(task_id, ResultStatus.COMPLETED))
        await asyncio.sleep(READ_HELD_S)
        poll_may_finish.set()
        await poll
        try:
            await write
        except sqlite3.OperationalError:
            return False
        return True


def test_when_a_write_meets_a_half_done_poll_then_the_unpatched_store_refuses_it(
    restore_store: None, tmp_path: Path
) -> None:
    assert asyncio.run(write_during_own_read(tmp_path / "tasks.db", install_patch=False)) is False


def test_when_a_write_meets_a_half_done_poll_then_the_patched_store_waits_for_the_poll(
    restore_store: None, tmp_path: Path
) -> None:
    assert asyncio.run(write_during_own_read(tmp_path / "tasks.db", install_patch=True)) is True


async def commit_sync_level(db: Path) -> int:
    """SQLite's `synchronous` setting on a worker's connection (2 FULL: every commit syncs, 1 NORMAL)."""
    Sqlite3Store.init_db(str(db))
    async with Sqlite3Store(str(db)) as worker, worker._conn.execute("PRAGMA synchronous") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_when_unpatched_then_every_commit_syncs(restore_store: None, tmp_path: Path) -> None:
    assert asyncio.run(commit_sync_level(tmp_path / "tasks.db")) == 2


def test_when_patched_then_commits_no_longer_sync(patched: None, tmp_path: Path) -> None:
    assert asyncio.run(commit_sync_level(tmp_path / "tasks.db")) == 1
    task_store.install()  # a second install does not wrap it twice
    assert not getattr(Sqlite3Store.__aenter__.__wrapped__, "_patched", False)


IMAGE = bytes(range(256)) * 40  # stands in for an uploaded image: 10 kB


async def what_a_task_leaves_behind(db: Path) -> tuple[str, str, bytes]:
    """(the request body kept for one task, the plan of the clean-up of old results, the body the
    task itself then reads)."""
    Sqlite3Store.init_db(str(db))
    async with Sqlite3Store(str(db)) as worker:
        request = request_with(IMAGE)
        task_id = await worker.new_entry("detect", request)
        async with worker._conn.execute("SELECT input FROM result WHERE task_id = ?", (task_id,)) as cursor:
            row = await cursor.fetchone()
        cleanup = "EXPLAIN QUERY PLAN DELETE FROM result WHERE completed_at IS NOT NULL AND completed_at < ?"
        async with worker._conn.execute(cleanup, ("2026-01-01",)) as cursor:
            plan = " ".join(str(step[-1]) for step in await cursor.fetchall())
    assert row is not None
    return json.loads(row[0])["content"], plan, await request.body()


def test_when_unpatched_then_each_image_is_kept_and_the_cleanup_scans_every_row(
    restore_store: None, tmp_path: Path
) -> None:
    kept, plan, _ = asyncio.run(what_a_task_leaves_behind(tmp_path / "tasks.db"))
    assert base64.b64decode(kept) == IMAGE
    assert "SCAN result" in plan


def test_when_patched_then_no_image_is_kept_and_the_cleanup_uses_an_index(
    patched: None, tmp_path: Path
) -> None:
    kept, plan, body_for_the_task = asyncio.run(what_a_task_leaves_behind(tmp_path / "tasks.db"))
    assert kept == ""
    assert "USING INDEX result_completed_at" in plan
    assert body_for_the_task == IMAGE


async def a_result_stored_and_read(db: Path) -> tuple[int, bytes]:
    Sqlite3Store.init_db(str(db))
    async with Sqlite3Store(str(db)) as worker:
        task_id = await new_task(worker, IMAGE)
        await worker.set_result(task_id, Response(b'{"instances": []}'), ResultStatus.COMPLETED)
        row = await worker.get(task_id)
    return row.result.status_code, bytes(row.result.body)


def test_when_patched_then_results_are_stored_and_read_as_before(patched: None, tmp_path: Path) -> None:
    assert asyncio.run(a_result_stored_and_read(tmp_path / "tasks.db")) == (200, b'{"instances": []}')


async def tasks_left_after_a_result_two_hours_old(db: Path) -> int:
    """Stores a result, backdates it two hours, stores another; how many tasks the store then holds."""
    Sqlite3Store.init_db(str(db))
    async with Sqlite3Store(str(db)) as worker:
        for _ in range(2):
            task_id = await new_task(worker)
            await worker.set_result(task_id, Response(b"{}"), ResultStatus.COMPLETED)
            two_hours_ago = datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(hours=2)
            await worker._conn.execute(
                "UPDATE result SET completed_at = ? WHERE task_id = ?", (two_hours_ago, task_id)
            )
            await worker._conn.commit()
        async with worker._conn.execute("SELECT count(*) FROM result") as cursor:
            row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def test_when_unpatched_then_results_are_kept_for_a_day(restore_store: None, tmp_path: Path) -> None:
    assert asyncio.run(tasks_left_after_a_result_two_hours_old(tmp_path / "tasks.db")) == 2


def test_when_patched_then_results_older_than_an_hour_are_removed(patched: None, tmp_path: Path) -> None:
    assert asyncio.run(tasks_left_after_a_result_two_hours_old(tmp_path / "tasks.db")) == 1


def exited_process() -> str:
    """An identity (serving.dead_workers) whose process does not run: its pid is above the largest."""
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    return f"{pid_max + 1}:12345"


def test_when_a_process_exits_or_its_pid_is_reused_then_its_identity_no_longer_runs() -> None:
    assert dead_workers.is_running(dead_workers.identity())
    assert not dead_workers.is_running(exited_process())
    pid, _, started = dead_workers.identity().partition(":")
    assert not dead_workers.is_running(f"{pid}:{int(started) - 1}"), "a later process with the same pid"


async def statuses_after_a_worker_dies(db: Path) -> tuple[dict[str, str], list[str], str, str]:
    """Two tasks taken by this process, one then renamed to a worker that died; a new worker opens
    the store. Their statuses, the tasks announced, the dead one's error and the stored worker."""
    Sqlite3Store.init_db(str(db))
    async with Sqlite3Store(str(db)) as worker:
        alive, dead = await new_task(worker), await new_task(worker)
        async with worker._conn.execute("SELECT input FROM result WHERE task_id = ?", (alive,)) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        stored = json.loads(row[0])
        renamed = json.dumps({**stored, "worker": exited_process()}).encode()
        await worker._conn.execute("UPDATE result SET input = ? WHERE task_id = ?", (renamed, dead))
        await worker._conn.commit()
        async with Sqlite3Store(str(db)) as replacement:
            statuses = {task: (await replacement.get_status(task)).status.value for task in (alive, dead)}
            error = json.loads(bytes((await replacement.get(dead)).result.body))["error"]
            async with replacement._conn.execute("SELECT task_id FROM finished ORDER BY seq") as cursor:
                announced = [task for (task,) in await cursor.fetchall()]
    labels = {alive: "alive", dead: "dead"}
    named = {labels[task]: status for task, status in statuses.items()}
    return named, [labels[task] for task in announced], error, stored["worker"]


def test_when_a_worker_opens_the_store_then_the_tasks_of_a_dead_worker_end_failed_and_are_announced(
    patched: None, tmp_path: Path
) -> None:
    db = tmp_path / "tasks.db"
    statuses, announced, error, stored_worker = asyncio.run(statuses_after_a_worker_dies(db))
    assert stored_worker == dead_workers.identity()
    assert statuses == {"alive": "in_progress", "dead": "failed"}
    assert announced == ["dead"]
    assert "died before it finished" in error
