"""The floor of BentoML's task API on this machine: its CPU per task when the task does nothing.

    .stack/python bench/bentoml_floor.py [--tasks 3000] [--clients 16] [--workers 2] [--project-store]
                                         [--images /work/shared/datasets/valorant/valid/images]

Serves bench/noop_service.py with `bentoml serve` (BentoML's task queue, no model; its own task store,
or with --project-store the one the Detection service installs, serving/task_store.py) and runs
the closed loop of detect-bench.ts against it: `--clients` clients, each submitting an image
(multipart, as the gateway does) and asking /detect/get until it answers the result, `--tasks` in
all. Prints the CPU (user + system) of the server's processes per task, requests per task and tasks
per second. Whatever a task costs beyond this in BentoML comes from the model and the project's own
serving code; on two cores the model can run at most at 2000 / (its own CPU ms + this floor) images/s
behind BentoML's task queue, whatever sits in front of it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import httpx
from process_tree import cpu_seconds, free_port

BENCH_DIR = Path(__file__).resolve().parent


async def wait_ready(client: httpx.AsyncClient) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with suppress(httpx.HTTPError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.5)
    raise SystemExit("bentoml_floor: the no-op service did not start within 120 s")


async def closed_loop(
    client: httpx.AsyncClient, images: list[bytes], tasks: int, clients: int
) -> tuple[int, int]:
    """Runs the tasks; returns the requests made and the submissions refused.

    Stock BentoML 1.4.40 refuses some submissions with two workers sharing its SQLite task store
    (500; the defect mini_streamio.serving.task_store fixes): counted, and the task is not retried.
    """
    next_task = 0
    requests = 0
    refused = 0

    async def one_client() -> None:
        nonlocal next_task, requests, refused
        while next_task < tasks:
            image = images[next_task % len(images)]
            next_task += 1
            files = {"image": ("image.jpg", image, "image/jpeg")}
            fields = {"conf": "0.25", "iou": "0.45", "max_det": "300"}
            answer = await client.post("/detect/submit", files=files, data=fields)
            requests += 1
            if answer.status_code == 500:
                refused += 1
                continue
            answer.raise_for_status()
            task_id = answer.json()["task_id"]
            while True:
                await asyncio.sleep(0.02)  # a no-op task is done within this: one /get each, mostly
                requests += 1
                got = await client.get("/detect/get", params={"task_id": task_id})
                if got.status_code == 200:
                    break
                if got.status_code != 400:
                    raise SystemExit(f"bentoml_floor: /detect/get answered {got.status_code}: {got.text}")

    await asyncio.gather(*(one_client() for _ in range(clients)))
    return requests, refused


async def measure(
    url: str, server_pid: int, images: list[bytes], args: argparse.Namespace
) -> dict[str, object]:
    load_before = os.getloadavg()
    limits = httpx.Limits(max_connections=args.clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:
        await wait_ready(client)
        await closed_loop(client, images, 50, args.clients)  # warm-up
        cpu_before, start = cpu_seconds(server_pid), time.monotonic()
        requests, refused = await closed_loop(client, images, args.tasks, args.clients)
        seconds, cpu = time.monotonic() - start, cpu_seconds(server_pid) - cpu_before
    done = args.tasks - refused
    return {
        "service": "bench/noop_service.py (a BentoML task that does nothing)",
        "task_store": "the project's" if args.project_store else "BentoML's",
        "workers": args.workers,
        "tasks": args.tasks,
        "clients": args.clients,
        "submissions_refused": refused,
        "tasks_per_s": round(done / seconds, 1),
        "bentoml_cpu_ms_per_task": round(1000 * cpu / done, 2),
        "requests_per_task": round(requests / done, 2),
        "load_average_before": [round(load, 2) for load in load_before],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--project-store", action="store_true", help="with the project's task store (serving.task_store)"
    )
    parser.add_argument("--images", type=Path, default=Path("/work/shared/datasets/valorant/valid/images"))
    args = parser.parse_args()
    suffixes = {".jpg", ".jpeg", ".png"}
    images = [p.read_bytes() for p in sorted(args.images.iterdir()) if p.suffix.lower() in suffixes]
    if not images:
        raise SystemExit(f"bentoml_floor: no images in {args.images}")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bentoml-floor-") as home:
        env = os.environ | {
            "BENTOML_HOME": home,
            "BENTOML_DO_NOT_TRACK": "true",
            "BENTOML_WORKERS": str(args.workers),
            "PYTHONPATH": os.pathsep.join([str(BENCH_DIR), os.environ.get("PYTHONPATH", "")]),
            "NOOP_PROJECT_STORE": "1" if args.project_store else "0",
        }
        bentoml = str(Path(sys.executable).with_name("bentoml"))
        server = subprocess.Popen(
            [bentoml, "serve", "noop_service:Noop", "--host", "127.0.0.1", "--port", str(port)],
            cwd=BENCH_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            result = asyncio.run(measure(f"http://127.0.0.1:{port}", server.pid, images, args))
        finally:
            os.killpg(server.pid, 15)
            server.wait(30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
