"""Does BentoML adaptive batching, or another worker/thread split, raise detection throughput here?

    .stack/python bench/bento_batching.py [--tasks 120] [--rounds 2] [--only LABEL,…] [--skip-in-process]
                                          [--work-dir .data/bench/batching]

1. Trains a YOLOv8n on synthetic 416 px shapes for one epoch (cached in the work dir; quality is
   irrelevant to speed, the architecture and image size are what count).
2. In process: a plain `model.predict` loop, and `detect_many` (bench/batch_detect.py) in batches of
   1, 2, 4 and 8, with 2 and 1 torch threads.
3. Through BentoML, against a real MinIO + MLflow (scripts/stack/serve-test.ts) holding the model:
   the service as shipped (`mini_streamio.serving.service:Detection`, one image per call) and the
   batched variants of bench/batched_service.py, with BENTOML_WORKERS x INFERENCE_THREADS in
   {1x2 (torch's default on 2 cores), 1x1, 2x1}. Each run submits `--tasks` images at once through
   /detect/submit and waits until /detect/status says every task finished: finished tasks per second,
   failed tasks, CPU time of the service's processes per task, and their resident memory.
   Configurations alternate over `--rounds` rounds so background load hits them alike.
Prints Markdown table rows; the figures are in docs/BENCHMARKS.md ("Inference batching").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bento" / "src"))

from mini_streamio.offline import configure_ultralytics  # noqa: E402
from mini_streamio.settings import Settings  # noqa: E402
from process_tree import cpu_seconds, free_port, rss_mib  # noqa: E402

MODEL_NAME = "bench-detector"
IMAGE_SIZE = 416


TARGETS = {
    "as shipped (one image per call)": "mini_streamio.serving.service:Detection",
    "batched, self-proxy": "batched_service:SelfProxyDetection",
    "batched, model service": "batched_service:FrontDetection",
}


@dataclass(frozen=True)
class ServiceConfig:
    variant: str  # a key of TARGETS
    workers: int  # of the service that runs the model
    threads: int  # torch threads per such worker
    no_session_refresh: bool = False  # works around BentoML's client dropping in-flight calls

    @property
    def target(self) -> str:
        return TARGETS[self.variant]

    @property
    def label(self) -> str:
        patch = " (client session refresh off)" if self.no_session_refresh else ""
        return f"{self.variant}{patch}: {self.workers} worker(s) x {self.threads} torch thread(s)"


SPLITS = ((1, 2), (1, 1), (2, 1))
CONFIGS = [
    *(ServiceConfig("as shipped (one image per call)", w, t) for w, t in SPLITS),
    ServiceConfig("batched, self-proxy", 1, 1),
    ServiceConfig("batched, self-proxy", 1, 1, no_session_refresh=True),
    *(ServiceConfig("batched, model service", w, t) for w, t in SPLITS),
    *(ServiceConfig("batched, model service", w, t, no_session_refresh=True) for w, t in SPLITS),
]


def prepare_model(work: Path) -> tuple[Path, list[bytes]]:
    from mini_streamio.synthetic import generate_shapes_dataset
    from ultralytics.models import YOLO

    dataset = work / "shapes416"
    weights = work / "train" / "weights" / "best.pt"
    if not weights.exists():
        data_yaml = generate_shapes_dataset(
            dataset, {"train": 32, "valid": 16}, image_size=IMAGE_SIZE, seed=3
        )
        YOLO("yolov8n.yaml").train(
            data=str(data_yaml), epochs=1, imgsz=IMAGE_SIZE, batch=8, workers=0, device="cpu",
            amp=False, plots=False, verbose=False, project=str(work), name="train", exist_ok=True,
        )  # fmt: skip
    images = [p.read_bytes() for p in sorted((dataset / "valid" / "images").iterdir())]
    return weights, images


def bench_in_process(weights: Path, images: list[bytes], count: int) -> list[tuple[str, float]]:
    import io

    import torch
    from batch_detect import DetectionRequest, detect_many
    from mini_streamio.inference import Detector
    from mini_streamio.inference.ultralytics_runtime import UltralyticsModel
    from mini_streamio.schemas import ModelInfo
    from PIL import Image

    rows = []
    info = ModelInfo(name=MODEL_NAME, version="1", demo=False, class_names=[])
    for threads in (2, 1):
        torch.set_num_threads(threads)
        detector = Detector.load(weights, info)
        pictures = [Image.open(io.BytesIO(data)) for data in images]
        assert isinstance(detector.runtime, UltralyticsModel)  # torch weights
        model = detector.runtime.model
        model.predict(pictures[0], verbose=False)
        start = time.perf_counter()
        for index in range(count):
            model.predict(pictures[index % len(pictures)], verbose=False)
        rows.append(
            (
                f"plain `model.predict` loop, {threads} torch thread(s)",
                count / (time.perf_counter() - start),
            )
        )
        for batch in (1, 2, 4, 8):
            requests = [DetectionRequest(images[i % len(images)], 0.25, 0.45, 300) for i in range(count)]
            detect_many(detector, requests[:batch])
            start = time.perf_counter()
            for offset in range(0, count, batch):
                detect_many(detector, requests[offset : offset + batch])
            rows.append(
                (
                    f"`detect_many`, batch {batch}, {threads} torch thread(s)",
                    count / (time.perf_counter() - start),
                )
            )
    return rows


@contextmanager
def minio_and_mlflow() -> Iterator[dict[str, str]]:
    stack = subprocess.Popen(
        ["node", "--import", "tsx", "scripts/stack/serve-test.ts", "minio", "mlflow"],
        cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert stack.stdout is not None and stack.stdin is not None
    try:
        yield json.loads(stack.stdout.readline())
    finally:
        stack.stdin.close()
        stack.wait(60)


def register(env: dict[str, str], weights: Path) -> None:
    import mlflow
    from mini_streamio.registry import register_weights

    settings = Settings(
        minio_endpoint=env["MINIO_ENDPOINT"],
        minio_access_key=env["MINIO_ACCESS_KEY"],
        minio_secret_key=env["MINIO_SECRET_KEY"],
        mlflow_tracking_uri=env["MLFLOW_TRACKING_URI"],
    )
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    with mlflow.start_run() as run:
        pass
    register_weights(
        settings,
        weights,
        run.info.run_id,
        ["circle", "square", "triangle"],
        name=MODEL_NAME,
        alias="production",
    )


@contextmanager
def bento(config: ServiceConfig, stack_env: dict[str, str], work: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    home = work / "bentoml"
    home.mkdir(parents=True, exist_ok=True)
    env = (
        os.environ
        | stack_env
        | {
            "BENTOML_HOME": str(home),
            "BENTOML_DO_NOT_TRACK": "true",
            "MINI_STREAMIO_DATA_DIR": str(work / "data"),
            "REGISTERED_MODEL_NAME": MODEL_NAME,
            "BENTOML_WORKERS": str(config.workers),
            "INFERENCE_THREADS": str(config.threads),
            "BENCH_NO_SESSION_REFRESH": "1" if config.no_session_refresh else "0",
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "bento" / "src"), str(REPO_ROOT / "bench")]),
        }
    )
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    with (work / "bento.log").open("a") as log:
        process = subprocess.Popen(
            [bentoml, "serve", config.target, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{config.label} did not become ready; see {work / 'bento.log'}")
            try:
                if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield url, process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(60)


async def finished_per_second(url: str, images: list[bytes], count: int) -> tuple[float, int]:
    """Submits `count` tasks at once and waits for all: finished tasks per second, and how many failed."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:

        async def submit(index: int) -> str:
            files = {"image": (f"{index}.jpg", images[index % len(images)], "image/jpeg")}
            reply = await client.post("/detect/submit", files=files, data={"conf": "0.25", "iou": "0.45"})
            reply.raise_for_status()
            return str(reply.json()["task_id"])

        start = time.perf_counter()
        pending = list(await asyncio.gather(*(submit(i) for i in range(count))))
        failed = 0
        while pending:
            # Tasks finish roughly in submission order: check from the oldest, stop at the first unfinished.
            still = []
            for position, task_id in enumerate(pending):
                status = (await client.get("/detect/status", params={"task_id": task_id})).json()["status"]
                if status == "in_progress":
                    still = pending[position:]
                    break
                failed += status != "completed"
            pending = still
            if pending:
                await asyncio.sleep(0.1)
        return count / (time.perf_counter() - start), failed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: run only the service configurations whose label has one",
    )
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".data" / "bench" / "batching")
    args = parser.parse_args()
    work: Path = args.work_dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    configure_ultralytics(work / "ultralytics")

    weights, images = prepare_model(work)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs"
    print(f"machine: {machine}; load before: {os.getloadavg()}")
    if not args.skip_in_process:
        for label, rate in bench_in_process(weights, images, args.tasks):
            print(f"| in process | {label} | {rate:.1f} |", flush=True)

    wanted = args.only.split(",")
    configs = [config for config in CONFIGS if any(part in config.label for part in wanted)]
    results: dict[ServiceConfig, list[tuple[float, int, float]]] = {config: [] for config in configs}
    with minio_and_mlflow() as stack_env:
        register(stack_env, weights)
        for _round in range(args.rounds):
            for config in configs:
                with bento(config, stack_env, work) as (url, pid):
                    asyncio.run(finished_per_second(url, images, 8))  # warm-up
                    cpu_before = cpu_seconds(pid)
                    rate, failed = asyncio.run(finished_per_second(url, images, args.tasks))
                    cpu_ms = (cpu_seconds(pid) - cpu_before) * 1000 / args.tasks
                    rss = rss_mib(pid)
                results[config].append((rate, failed, cpu_ms))
                load = os.getloadavg()[0]
                print(
                    f"  {config.label}: {rate:.1f} tasks/s, {failed} failed, "
                    f"{cpu_ms:.0f} CPU ms/task, {rss:.0f} MiB RSS (load {load:.1f})",
                    flush=True,
                )
    print(
        "| via BentoML | configuration | finished tasks/s, median (runs) "
        f"| service CPU ms per task, median | failed of {args.tasks} |"
    )
    for config, runs in results.items():
        rates = ", ".join(f"{rate:.1f}" for rate, _, _ in runs)
        failures = ", ".join(str(failed) for _, failed, _ in runs)
        median = statistics.median(rate for rate, _, _ in runs)
        cpu = statistics.median(cpu_ms for _, _, cpu_ms in runs)
        print(f"| via BentoML | {config.label} | {median:.1f} ({rates}) | {cpu:.0f} | {failures} |")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
