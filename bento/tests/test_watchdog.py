"""serving.watchdog: a detection that runs past its limit ends the worker; nothing else does."""

from __future__ import annotations

import pytest

from mini_streamio.serving.watchdog import Watchdog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_when_a_detection_runs_past_the_limit_then_the_watchdog_fires_with_the_time_it_ran(
    clock: Clock,
) -> None:
    fired: list[float] = []
    watchdog = Watchdog(5.0, fired.append, clock)
    with watchdog.watching():
        clock.now += 5.0
        watchdog.check()
        assert fired == [], "at the limit, not past it"
        clock.now += 0.5
        watchdog.check()
    assert fired == [5.5]


def test_when_no_detection_runs_then_idle_time_never_fires_it(clock: Clock) -> None:
    fired: list[float] = []
    watchdog = Watchdog(5.0, fired.append, clock)
    with watchdog.watching():
        clock.now += 4.0
    clock.now += 60.0
    watchdog.check()
    with watchdog.watching():
        clock.now += 4.0
        watchdog.check()
    assert fired == []


def test_when_a_detection_raises_then_it_is_no_longer_watched(clock: Clock) -> None:
    fired: list[float] = []
    watchdog = Watchdog(5.0, fired.append, clock)
    with pytest.raises(ValueError), watchdog.watching():
        raise ValueError("a bad image")
    clock.now += 60.0
    watchdog.check()
    assert fired == []
