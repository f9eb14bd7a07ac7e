"""How BentoML's task store slows down as it fills, before and after serving.task_store's patch.

Fills the store (the installed `Sqlite3Store`, as a worker uses it) with tasks whose request carries an
image-sized body and a stored result, and at each size times storing one more result, which is what
every finished task costs the worker (BentoML's `set_result` also deletes old results), and the size
of the file. Runs unpatched, then patched, each in a fresh file; prints a Markdown table.

    .stack/python bench/task_store_growth.py [--sizes 100,600,2000,5000] [--body-kb 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from _bentoml_impl.tasks.result import ResultStatus, Sqlite3Store
from mini_streamio.serving import task_store
from starlette.requests import Request
from starlette.responses import Response

TIMED = 20  # results stored and timed at each size


def request_with(body: bytes) -> Request:
    scope = {"type": "http", "method": "POST", "path": "/detect/submit", "headers": [], "query_string": b""}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def one_task(store: Sqlite3Store, body: bytes) -> float:
    """Submits and finishes one task; seconds spent storing its result."""
    task_id = await store.new_entry("detect", request_with(body))
    started = time.perf_counter()
    await store.set_result(task_id, Response(b'{"instances": []}'), ResultStatus.COMPLETED)
    return time.perf_counter() - started


async def measure(db: Path, sizes: list[int], body: bytes) -> list[tuple[int, float, float]]:
    """(tasks stored, ms per result stored, MiB on disk) at each size."""
    Sqlite3Store.init_db(str(db))
    rows = []
    async with Sqlite3Store(str(db)) as store:
        stored = 0
        for size in sizes:
            while stored < size - TIMED:
                await one_task(store, body)
                stored += 1
            timed = [await one_task(store, body) for _ in range(TIMED)]
            stored += TIMED
            on_disk = sum(f.stat().st_size for f in db.parent.glob(db.name + "*")) / 2**20
            rows.append((stored, 1000 * sum(timed) / TIMED, on_disk))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,600,2000,5000")
    parser.add_argument("--body-kb", type=int, default=60, help="request body per task (an image)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    body = os.urandom(args.body_kb * 1024)
    with tempfile.TemporaryDirectory() as tmp:
        before = asyncio.run(measure(Path(tmp) / "before.db", sizes, body))
        task_store.install()
        after = asyncio.run(measure(Path(tmp) / "after.db", sizes, body))
    print("| tasks in the store | ms per result stored: BentoML / patched | file, MiB: BentoML / patched |")
    print("| --- | --- | --- |")
    for (count, ms_before, mib_before), (_, ms_after, mib_after) in zip(before, after, strict=True):
        print(f"| {count} | {ms_before:.1f} / {ms_after:.1f} | {mib_before:.0f} / {mib_after:.1f} |")


if __name__ == "__main__":
    main()
