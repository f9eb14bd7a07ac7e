"""Helpers of the Python benchmarks that start a server: a free port, and a process tree's CPU and memory."""

from __future__ import annotations

import socket
from contextlib import suppress

import psutil


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree(root: int) -> list[psutil.Process]:
    parent = psutil.Process(root)
    return [parent, *parent.children(recursive=True)]


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by a process and all its descendants (e.g. the workers)."""
    total = 0.0
    for process in tree(root):
        with suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def rss_mib(root: int) -> float:
    """Resident memory of a process and all its descendants."""
    total = 0
    for process in tree(root):
        with suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20
