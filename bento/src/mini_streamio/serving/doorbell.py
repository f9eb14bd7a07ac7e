"""A doorbell between BentoML's workers: a finish stored by any worker wakes the waiting announcements.

A `/detect/finished` long poll waits in one worker for tasks that any worker may finish. The worker
that stores a finish sends an empty datagram to every socket in one directory beside the task store;
a worker with requests waiting binds its socket there (named by its pid) and wakes them when one
arrives, so an idle worker does not keep looking at the table (docs/BENCHMARKS.md).

A ring can be missed (a worker that binds after it, a datagram dropped), so a waiting request still
looks at the table every FALLBACK_S; where no socket can be bound (AF_UNIX paths stop at 107 bytes),
every POLL_S as before. A socket left by a worker that died is removed by the next ring.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
from pathlib import Path

from bentoml._internal.configuration.containers import BentoMLContainer

log = logging.getLogger(__name__)

FALLBACK_S = 1.0
POLL_S = 0.02


class Doorbell:
    def __init__(self, directory: Path, name: str | None = None) -> None:
        """`name`: of this worker's socket (default: its pid)."""
        self.directory = directory
        self.name = name or str(os.getpid())
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_ring: asyncio.Event | None = None
        self._unbindable = False

    def ring(self) -> None:
        """Wakes the waiting requests of every worker (this one's too). Never raises: it runs after a
        task's result is stored, which must not look failed for a bell that did not ring."""
        try:
            entries = [entry.path for entry in os.scandir(self.directory) if entry.name.endswith(".sock")]
        except OSError:
            return  # no worker has waited yet
        for path in entries:
            try:
                self._sender.sendto(b"", path)
            except BlockingIOError:
                pass  # its buffer is full of rings: it wakes anyway
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    Path(path).unlink()  # its worker is gone
            except OSError as error:
                log.debug("doorbell %s did not ring: %s", path, error)

    def next_ring(self) -> asyncio.Event | None:
        """Set by the next ring; None where this worker cannot hear one (poll instead).

        Take it before looking at the table: a ring between the look and the wait then still wakes.
        """
        if self._next_ring is None and not self._unbindable:
            self._listen()
        return self._next_ring

    async def wait(self, ring: asyncio.Event | None, timeout_s: float) -> None:
        """Until `ring` is set, or for at most `timeout_s` (FALLBACK_S, or POLL_S without a ring)."""
        if ring is None:
            await asyncio.sleep(min(timeout_s, POLL_S))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ring.wait(), min(timeout_s, FALLBACK_S))

    def close(self) -> None:
        if self._listener is not None and self._loop is not None:
            self._loop.remove_reader(self._listener.fileno())
            self._listener.close()
            self._path().unlink(missing_ok=True)
            self._listener = self._next_ring = None
        self._sender.close()

    def _listen(self) -> None:
        path = self._path()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # a socket of a dead worker whose pid this one reuses
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        except OSError as error:
            self._cannot_listen(path, error)
            return
        try:
            listener.setblocking(False)
            listener.bind(str(path))
        except OSError as error:
            listener.close()
            self._cannot_listen(path, error)
            return
        self._listener = listener
        self._next_ring = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(listener.fileno(), self._heard)

    def _cannot_listen(self, path: Path, error: OSError) -> None:
        self._unbindable = True
        log.warning("no doorbell at %s (%s): announcements poll every %s s", path, error, POLL_S)

    def _heard(self) -> None:
        assert self._listener is not None
        # Every ring waiting (one wake-up answers them all), until BlockingIOError: none left.
        with contextlib.suppress(OSError):
            while True:
                self._listener.recv(1)
        if self._next_ring is not None:
            rung, self._next_ring = self._next_ring, asyncio.Event()
            rung.set()

    def _path(self) -> Path:
        return self.directory / f"{self.name}.sock"


@functools.cache
def beside_task_store() -> Doorbell:
    """This worker's doorbell, in the directory of BentoML's task store (shared by the workers)."""
    return Doorbell(Path(BentoMLContainer.result_store_file.get()).parent / "doorbell")
