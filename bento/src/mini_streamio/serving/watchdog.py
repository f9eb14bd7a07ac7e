"""Ends a worker whose detection has run longer than INFERENCE_TIMEOUT_S.

A runtime that hangs (a deadlock, a driver that never answers) would hold its worker for good: the
one detection thread stays busy, and every task queued behind it waits until the gateway's
TASK_TIMEOUT_MS re-submits it, to the same stuck worker as likely as not. The watchdog turns that
hang into a death: the worker exits, BentoML's arbiter starts another, and its store sweep
(serving.dead_workers) fails the tasks the old one held, which the gateway then retries. The
default limit (settings.py) is far above what any detection takes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

EXIT_CODE = 70  # EX_SOFTWARE: the arbiter logs it and starts a new worker


def _exit(elapsed_s: float) -> None:
    log.error("a detection has run for %.0f s (INFERENCE_TIMEOUT_S); ending this worker", elapsed_s)
    logging.shutdown()
    os._exit(EXIT_CODE)  # the runtime's threads may be stuck: no clean shutdown would finish


class Watchdog:
    """Calls `on_expiry` (default: exits the process) once a watched detection exceeds `limit_s`."""

    def __init__(
        self,
        limit_s: float,
        on_expiry: Callable[[float], None] = _exit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit_s = limit_s
        self.on_expiry = on_expiry
        self.clock = clock
        self._started: float | None = None

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Wraps one detection (a worker runs one at a time)."""
        self._started = self.clock()
        try:
            yield
        finally:
            self._started = None

    def check(self) -> None:
        started = self._started
        if started is not None and (elapsed := self.clock() - started) > self.limit_s:
            self.on_expiry(elapsed)

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
