"""Ends a BentoML worker when its server process dies, instead of leaving it running as an orphan.

BentoML starts each worker in a session of its own, so a signal sent to the server's process group
does not reach the workers. When the server is killed outright (SIGKILL, the OOM killer, a crashed
supervisor) its workers live on: they keep the model's memory and the listening socket, and answer
requests in place of the next server on that port (seen in tests/test_service.py). Linux sends a
process a chosen signal when its parent dies (`PR_SET_PDEATHSIG`); each worker asks for SIGKILL.
What it leaves behind (uploads in BentoML's temp dir, its SQLite task store) the next server's start
clears.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def exit_with_parent() -> None:
    """Has the kernel kill this process when its parent dies (Linux; elsewhere nothing happens)."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
        log.warning("could not tie the worker to its server: %s", os.strerror(ctypes.get_errno()))
        return
    if os.getppid() != parent:  # the server died before the request took effect: no signal will come
        os._exit(1)
