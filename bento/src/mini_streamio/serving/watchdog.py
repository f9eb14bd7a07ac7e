"""Ends a worker whose detection has stalled for INFERENCE_TIMEOUT_S.

A runtime that hangs (a deadlock, a driver that never answers) would hold its worker for good: the
one detection thread stays busy, and every task queued behind it waits until the gateway's
TASK_TIMEOUT_MS re-submits it, to the same stuck worker as likely as not. The watchdog turns that
hang into a death: the worker exits, BentoML's arbiter starts another, and its store sweep
(serving.dead_workers) fails the tasks the old one held, which the gateway then retries.

Stalled, not slow: a detection only counts as hung while the worker's threads (its event loop
aside, which goes on answering requests) neither run nor wait for a core. A detection starved of
CPU (inference runs under SCHED_IDLE, so a training run on the same cores can hold it up for as long
as it runs) or still computing is left alone. Where /proc has no scheduler statistics, the limit is
wall-clock time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE: the arbiter logs it and starts a new worker
# Over a window of the limit, threads runnable for less than this share of one core count as stalled.
STALLED_SHARE = 0.1


def _exit(elapsed_s: float) -> None:
    log.error("a detection has stalled for %.0f s (INFERENCE_TIMEOUT_S); ending this worker", elapsed_s)
    logging.shutdown()
    os._exit(EXIT_CODE)  # the runtime's threads may be stuck: no clean shutdown would finish


def runnable_s() -> float | None:
    """Seconds this process's threads but the main one have run or waited for a core (schedstat)."""
    total_ns = 0
    main = str(os.getpid())
    try:
        threads = [task for task in Path("/proc/self/task").iterdir() if task.name != main]
    except OSError:
        return None
    for thread in threads:
        try:
            on_cpu, waiting = (thread / "schedstat").read_text().split()[:2]
        except FileNotFoundError:
            continue  # the thread has ended
        except OSError:
            return None
        total_ns += int(on_cpu) + int(waiting)
    return total_ns / 1e9


class Watchdog:
    """Calls `on_expiry` (default: exits the process) once a watched detection has stalled past `limit_s`."""

    def __init__(
        self,
        limit_s: float,
        on_expiry: Callable[[float], None] = _exit,
        clock: Callable[[], float] = time.monotonic,
        runnable: Callable[[], float | None] = runnable_s,
    ) -> None:
        self.limit_s = limit_s
        self.on_expiry = on_expiry
        self.clock = clock
        self.runnable = runnable
        self._lock = threading.Lock()
        # While a detection runs: when it began, and (once a check has looked) when the window now
        # judged began, with the threads' runnable seconds then.
        self._watched: tuple[float, float | None, float | None] | None = None

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Wraps one detection (a worker runs one at a time); costs a clock read, no /proc read."""
        with self._lock:
            self._watched = (self.clock(), None, None)
        try:
            yield
        finally:
            with self._lock:
                self._watched = None

    def check(self) -> None:
        with self._lock:
            if self._watched is None:
                return
            began, window_began, runnable_then = self._watched
            now = self.clock()
            if window_began is None:  # the first look at this detection opens its first window
                self._watched = (began, now, self.runnable())
                return
            if now - window_began <= self.limit_s:
                return
            runnable_now = self.runnable()
            if runnable_now is None or runnable_then is None:
                pass  # no scheduler statistics: the limit is wall-clock time
            elif runnable_now - runnable_then >= STALLED_SHARE * (now - window_began):
                self._watched = (began, now, runnable_now)  # running or starved: judge the next window
                return
        self.on_expiry(now - began)

    def start(self) -> None:
        """Checks in a daemon thread, a few times per limit; a limit of 0 watches nothing."""
        if self.limit_s <= 0:
            return
        interval = min(1.0, self.limit_s / 4)

        def run() -> None:
            while True:
                time.sleep(interval)
                self.check()

        threading.Thread(target=run, name="detection-watchdog", daemon=True).start()
