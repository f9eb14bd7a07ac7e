"""serving.priority: the worker's threads and its autogroup end at the requested nice value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mini_streamio.serving import priority
from mini_streamio.serving.priority import lower_cpu_priority

# In a child process: lowering priority cannot be undone without privileges.
CHILD = textwrap.dedent(
    """
    import json, os, sys, threading
    from pathlib import Path
    from mini_streamio.serving.priority import lower_cpu_priority

    started, done = threading.Event(), threading.Event()
    def other_thread():
        started.set()
        done.wait()
    thread = threading.Thread(target=other_thread, daemon=True)
    thread.start()
    started.wait()
    lower_cpu_priority(int(sys.argv[1]), sys.argv[2] == "idle")
    late = []
    later = threading.Thread(
        target=lambda: late.append([os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)])
    )
    later.start()
    later.join()
    def priority(tid):
        try:
            return [os.getpriority(os.PRIO_PROCESS, tid), os.sched_getscheduler(tid)]
        except ProcessLookupError:  # `later`, gone from /proc a moment after join()
            return None
    found = [priority(int(tid)) for tid in os.listdir("/proc/self/task")]
    autogroup = Path("/proc/self/autogroup")
    print(json.dumps({
        "threads": [p for p in found if p is not None],
        "thread_started_later": late[0],
        "autogroup": autogroup.read_text() if autogroup.exists() else None,
    }))
    done.set()
    """
)


def run_child(nice: int, own_session: bool = True, idle: bool = False) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(nice), "idle" if idle else "normal"],
        capture_output=True, text=True, check=True, start_new_session=own_session, timeout=60,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


@pytest.mark.integration  # runs a child process
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_when_lowered_then_every_thread_and_the_autogroup_run_at_that_nice_value() -> None:
    child = run_child(7)
    expected = [max(os.getpriority(os.PRIO_PROCESS, 0), 7), os.sched_getscheduler(0)]
    threads = list(child["threads"])  # type: ignore[call-overload]
    assert len(threads) >= 2 and all(t == expected for t in threads)
    assert child["thread_started_later"] == expected
    if child["autogroup"] is not None:  # kernels without autogroup have no such file
        assert str(child["autogroup"]).split()[-1] == "7"


@pytest.mark.integration  # runs a child process
@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="needs Linux scheduling policies")
def test_when_idle_then_every_thread_runs_under_sched_idle_and_later_ones_too() -> None:
    child = run_child(7, idle=True)
    expected = [max(os.getpriority(os.PRIO_PROCESS, 0), 7), os.SCHED_IDLE]
    threads = list(child["threads"])  # type: ignore[call-overload]
    assert len(threads) >= 2 and all(t == expected for t in threads)
    assert child["thread_started_later"] == expected


@pytest.mark.integration  # runs a child process
@pytest.mark.skipif(not Path("/proc/self/autogroup").exists(), reason="needs a kernel with autogroup")
def test_when_the_session_is_not_its_own_then_its_autogroup_is_left_alone() -> None:
    before = Path("/proc/self/autogroup").read_text()
    child = run_child(7, own_session=False)  # in pytest's session: its group is pytest's too
    assert child["autogroup"] == before


@pytest.mark.integration  # runs a child process
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_when_nice_is_zero_then_nothing_changes() -> None:
    child = run_child(0)
    expected = [os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0)]
    threads = list(child["threads"])  # type: ignore[call-overload]
    assert len(threads) >= 2 and all(t == expected for t in threads)


def test_when_the_autogroup_cannot_be_written_then_it_warns_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only /proc (some sandboxes): the threads' priorities are all one can set."""
    monkeypatch.setattr(priority, "leads_its_session", lambda: True)
    proc = tmp_path / "proc"
    (proc / "task").mkdir(parents=True)  # no threads listed: only the autogroup is touched
    (proc / "autogroup").mkdir()  # writing to a directory fails like a read-only file
    lower_cpu_priority(5, proc=proc)
    assert "could not lower the autogroup" in caplog.text
