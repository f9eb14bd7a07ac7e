"""Lowers an inference worker's CPU priority, so that requests are not queued behind inference.

Inference is throughput work: a detection that starts a few milliseconds later costs nothing. The
gateway and MinIO answer requests, and a POST waits for three MinIO writes: while inference keeps
every core busy, each of those waits for a time slice unless inference yields to them. Lowering
inference's priority does not cost it throughput either, as the CPU it leaves is only what the
request path uses; measured in docs/BENCHMARKS.md ("Detection service").

What yields best is the SCHED_IDLE policy: a thread under it is preempted at once whenever another
thread wants its core, where a high nice value only makes that likely (measured: POST p90 16-22 ms
with it, 18-28 ms at nice 10 alone, 38 ms at nice 0; docs/BENCHMARKS.md). It also means inference gets almost
nothing while other work keeps the cores busy, so it can be turned off (INFERENCE_SCHED_IDLE=false),
leaving the nice value.

For the nice value on Linux two things are needed: the nice value of every thread (priorities
are per thread; threads started later inherit it), and, where the kernel groups processes by
session for scheduling (autogroup, the default on desktop and many server kernels), the nice value
of the session's group: there a thread's nice value only ranks it against its own session, and
BentoML starts each worker in a session of its own. Between containers the runtime's CPU weight
counts instead (docker-compose.yml gives the BentoML container a lower cpu_shares).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PROC_SELF = Path("/proc/self")


def lower_cpu_priority(nice: int, idle: bool = False, proc: Path = PROC_SELF) -> None:
    """Puts this process's threads under SCHED_IDLE (`idle`, where the OS has it) and raises their
    nice value, and their autogroup's, to `nice` (0: no change). Threads started later inherit both."""
    if not hasattr(os, "setpriority"):
        return
    tasks = proc / "task"
    thread_ids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [0]
    for thread_id in thread_ids:
        try:
            if idle and hasattr(os, "SCHED_IDLE"):
                os.sched_setscheduler(thread_id, os.SCHED_IDLE, os.sched_param(0))
            if os.getpriority(os.PRIO_PROCESS, thread_id) < nice:
                os.setpriority(os.PRIO_PROCESS, thread_id, nice)
        except ProcessLookupError:
            pass  # the thread ended meanwhile
    if nice <= 0:
        return
    autogroup = proc / "autogroup"
    # The group is the whole session's: change it only where the session is this process's own (as
    # for BentoML's workers), never, say, the terminal's that `python -m mini_streamio.serving` ran in.
    if autogroup.exists() and leads_its_session():
        try:
            autogroup.write_text(str(nice))
        except OSError as error:  # e.g. a read-only /proc in a sandbox: the thread priorities still hold
            log.warning("could not lower the autogroup's CPU priority: %s", error)


def leads_its_session() -> bool:
    return os.getsid(0) == os.getpid()
