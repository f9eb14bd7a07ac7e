"""The doorbell between BentoML's workers, with real AF_UNIX datagram sockets in a temp directory.

Each worker is a Doorbell named like a worker in one directory (the real ones are named by pid).
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from pathlib import Path

import pytest

from mini_streamio.serving import doorbell as doorbell_module
from mini_streamio.serving import task_store
from mini_streamio.serving.doorbell import FALLBACK_S, Doorbell
from mini_streamio.serving.finished import FinishedReader


def woken_within(bell: Doorbell, ring_from: Doorbell | None, timeout_s: float) -> tuple[bool, float]:
    """Waits on `bell` while `ring_from` rings (if given), then closes `bell`; whether the ring woke
    it, and when."""

    async def scenario() -> tuple[bool, float]:
        try:
            ring = bell.next_ring()
            assert ring is not None
            start = time.monotonic()
            if ring_from is not None:
                asyncio.get_running_loop().call_later(0.05, ring_from.ring)
            await bell.wait(ring, timeout_s)
            return ring.is_set(), time.monotonic() - start
        finally:
            bell.close()

    return asyncio.run(scenario())


def test_when_another_worker_rings_then_a_waiting_worker_wakes_at_once(tmp_path: Path) -> None:
    woken, after_s = woken_within(Doorbell(tmp_path, name="1"), Doorbell(tmp_path, name="2"), timeout_s=5)
    assert woken and after_s < FALLBACK_S, "woken by the ring, not by the fallback look"


def test_when_nobody_rings_then_a_wait_ends_at_the_fallback_look(tmp_path: Path) -> None:
    woken, after_s = woken_within(Doorbell(tmp_path, name="1"), None, timeout_s=30)
    assert not woken and FALLBACK_S <= after_s < 10 * FALLBACK_S


def test_when_a_worker_died_then_the_next_ring_removes_its_socket_and_still_wakes_the_others(
    tmp_path: Path,
) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(tmp_path / "999.sock"))
    dead.close()  # as a killed worker leaves it: the file, and nobody reading
    assert woken_within(Doorbell(tmp_path, name="1"), Doorbell(tmp_path, name="2"), timeout_s=5)[0]
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == [], "the dead worker's socket is gone, and ours closed"


def test_when_no_socket_can_be_bound_then_a_wait_polls_and_ringing_still_does_not_raise(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    too_deep = tmp_path / ("d" * 120)  # AF_UNIX paths stop at 107 bytes
    bell = Doorbell(too_deep, name="1")

    async def scenario() -> float:
        assert bell.next_ring() is None
        start = time.monotonic()
        await bell.wait(None, timeout_s=30)
        return time.monotonic() - start

    assert asyncio.run(scenario()) < FALLBACK_S
    assert "no doorbell at" in caplog.text
    bell.ring()
    Doorbell(tmp_path / "never-made", name="2").ring()


def test_when_a_finish_is_stored_then_a_waiting_announcement_answers_it_before_the_fallback(
    tmp_path: Path,
) -> None:
    db = tmp_path / "task_result.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE result (task_id TEXT PRIMARY KEY, status TEXT, result BLOB)")
        conn.execute(task_store.FINISHED_TABLE)
    waiting, finishing = Doorbell(tmp_path / "doorbell", name="1"), Doorbell(tmp_path / "doorbell", name="2")
    reader = FinishedReader(str(db), waiting)

    def finish() -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("INSERT INTO finished (task_id) VALUES ('t1')")
        finishing.ring()

    async def scenario() -> tuple[list[str], float]:
        cursor = reader.read(-1).last
        asyncio.get_running_loop().call_later(0.05, finish)
        start = time.monotonic()
        try:
            answer = await reader.wait_for(cursor, 10)
        finally:
            waiting.close()
        return answer.task_ids, time.monotonic() - start

    task_ids, after_s = asyncio.run(scenario())
    assert task_ids == ["t1"] and after_s < FALLBACK_S


def test_the_service_rings_the_doorbell_beside_bentomls_task_store() -> None:
    doorbell_module.beside_task_store.cache_clear()
    try:
        assert doorbell_module.beside_task_store().directory.name == "doorbell"
    finally:
        doorbell_module.beside_task_store.cache_clear()
