"""serving.watchdog: a detection stalled past its limit ends the worker; a slow or starved one does not."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from mini_streamio.serving.watchdog import Watchdog, runnable_s

LIMIT_S = 5.0


class Process:
    """A fake clock, and the seconds the worker's threads have been runnable, both moved by the test."""

    def __init__(self) -> None:
        self.now = 100.0
        self.runnable: float | None = 10.0

    def clock(self) -> float:
        return self.now

    def runnable_s(self) -> float | None:
        return self.runnable

    def stall(self, seconds: float) -> None:
        self.now += seconds

    def work(self, seconds: float) -> None:
        """Runs (or waits for a core) all along."""
        self.now += seconds
        if self.runnable is not None:
            self.runnable += seconds


@pytest.fixture
def process() -> Process:
    return Process()


@pytest.fixture
def fired() -> list[float]:
    return []


@pytest.fixture
def watchdog(process: Process, fired: list[float]) -> Watchdog:
    return Watchdog(LIMIT_S, fired.append, process.clock, process.runnable_s)


def test_when_a_detection_stalls_past_the_limit_then_the_watchdog_fires_with_the_time_it_ran(
    process: Process, watchdog: Watchdog, fired: list[float]
) -> None:
    with watchdog.watching():
        watchdog.check()  # the watchdog thread's first look
        process.stall(LIMIT_S)
        watchdog.check()
        assert fired == [], "at the limit, not past it"
        process.stall(0.5)
        watchdog.check()
    assert fired == [5.5]


def test_when_a_detection_keeps_running_or_waiting_for_a_core_then_it_is_left_alone_until_it_stalls(
    process: Process, watchdog: Watchdog, fired: list[float]
) -> None:
    with watchdog.watching():
        watchdog.check()
        for _ in range(10):  # a minute of compute, or of starvation under a training run
            process.work(6.0)
            watchdog.check()
        assert fired == []
        process.stall(3.0)
        watchdog.check()
        process.stall(3.0)
        watchdog.check()
    assert fired == [66.0], "a whole limit stalled, after the work"


def test_when_no_detection_runs_then_idle_time_never_fires_it(
    process: Process, watchdog: Watchdog, fired: list[float]
) -> None:
    with watchdog.watching():
        watchdog.check()
        process.stall(4.0)
    process.stall(60.0)
    watchdog.check()
    with pytest.raises(ValueError), watchdog.watching():
        raise ValueError("a bad image")
    process.stall(60.0)
    watchdog.check()
    assert fired == []


def test_when_the_scheduler_statistics_are_unknown_then_the_limit_is_wall_clock_time(
    process: Process, watchdog: Watchdog, fired: list[float]
) -> None:
    process.runnable = None
    with watchdog.watching():
        watchdog.check()
        process.work(6.0)
        watchdog.check()
    assert fired == [6.0]


def runnable_across(work: Callable[[], None]) -> float:
    """The runnable seconds gained while `work` runs in a thread of its own (read before it ends:
    an ended thread leaves /proc, and its seconds with it)."""
    gained: list[float] = []

    def run() -> None:
        before = runnable_s()
        work()
        after = runnable_s()
        assert before is not None and after is not None, "Linux should expose /proc/self/task/*/schedstat"
        gained.append(after - before)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return gained[0]


def compute() -> None:
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:
        pass


def test_when_a_thread_computes_then_the_runnable_seconds_grow_and_when_it_sleeps_they_do_not() -> None:
    assert runnable_across(compute) >= 0.25
    assert runnable_across(lambda: time.sleep(0.3)) < 0.05
