"""CPU per thread of the stack's processes over a window, from /proc: where a task's CPU goes in each process.

detect-bench.ts reports CPU per process; this splits each process into its threads (a BentoML
worker's inference thread against its event loop, the gateway's main thread against its
reconciler thread). Run it while a load runs, e.g. during `detect-bench.ts --start-stack`:

    python3 bench/thread_cpu.py [--seconds 12] [--tasks-per-s 59.2]

With --tasks-per-s (the bench's throughput) each thread's share is also given in ms per task.
Threads are listed busiest first with their process; Python and Node do not name their threads.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# Command-line fragments of the stack's processes, and the name each is listed under.
KINDS = {
    "_bentoml_impl.worker": "bentoml worker",
    "bentoml serve": "bentoml arbiter",
    "minio server": "minio",
    "gateway": "gateway",
    "detect-bench": "bench clients",
    "mlflow": "mlflow",
}


def kind_of(pid: str) -> str | None:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    return next((name for fragment, name in KINDS.items() if fragment in command), None)


def thread_ticks() -> dict[tuple[str, str], tuple[str, int]]:
    """(pid, tid) -> (process kind, user + system clock ticks so far) for every stack thread."""
    ticks: dict[tuple[str, str], tuple[str, int]] = {}
    for process in Path("/proc").iterdir():
        pid = process.name
        kind = kind_of(pid) if pid.isdigit() else None
        if kind is None:
            continue
        try:
            threads = list((process / "task").iterdir())
        except OSError:
            continue
        for thread in threads:
            tid = thread.name
            try:
                stat = (thread / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # after the name, which may hold spaces
            ticks[(pid, tid)] = (kind, int(fields[11]) + int(fields[12]))
    return ticks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--tasks-per-s", type=float, help="the load's throughput, for ms per task")
    args = parser.parse_args()
    before = thread_ticks()
    time.sleep(args.seconds)
    after = thread_ticks()
    per_s = os.sysconf("SC_CLK_TCK") * args.seconds
    rows = sorted(
        ((ticks - before.get(key, (kind, 0))[1]) / per_s, kind, *key) for key, (kind, ticks) in after.items()
    )
    for share, kind, pid, tid in reversed(rows):
        if share < 0.005:
            break
        per_task = f"  {share * 1000 / args.tasks_per_s:5.1f} ms per task" if args.tasks_per_s else ""
        print(f"{share * 100:5.1f} % of a core{per_task}  {kind} {pid} thread {tid}")


if __name__ == "__main__":
    main()
