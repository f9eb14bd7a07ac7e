"""What `mini-streamio train` costs on top of plain Ultralytics, as a wall-time ratio.

Trains the same synthetic dataset for the same epochs twice per repeat, alternating:
  plain:  a Python process that configures Ultralytics offline and calls YOLO(model).train(...)
  mini:   `mini-streamio train` (CLI → Python trainer → MLflow run, artifacts, registry version)
Both are timed from process start to exit. The dataset is pushed and fetched into the local
cache first, so the figure is the tracking overhead, not the download. Real MinIO and MLflow
servers are started on free ports for the run (scripts/stack/serve-test.ts).

    .stack/python bench/train_overhead.py [--images 200] [--imgsz 128] [--epochs 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bento" / "src"))

from mini_streamio.settings import Settings  # noqa: E402
from mini_streamio.synthetic import generate_shapes_dataset  # noqa: E402
from mini_streamio.training.dataset import fetch_dataset  # noqa: E402

PLAIN = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from mini_streamio.offline import configure_ultralytics
    configure_ultralytics(Path(sys.argv[1]) / "ultralytics")
    from ultralytics import YOLO
    YOLO(sys.argv[2]).train(data=sys.argv[3], epochs=int(sys.argv[4]), imgsz=int(sys.argv[5]),
                            batch=int(sys.argv[6]), device="cpu", project=sys.argv[1] + "/plain",
                            name="run", exist_ok=True, plots=True)
    """
)


def start_services(log: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        ["node", "--import", "tsx", "scripts/stack/serve-test.ts", "minio", "mlflow"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        sys.exit(f"services did not start; see {log}")
    return process, json.loads(line)


def timed(command: list[str], env: dict[str, str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("w") as out:
        result = subprocess.run(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"{' '.join(command[:6])}… failed ({result.returncode}); see {log}")
    return elapsed


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--images", type=int, default=200, help="synthetic training images")
    parser.add_argument("--imgsz", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--model", default="yolov8n.yaml")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="mini-streamio-bench-"))
    services, service_env = start_services(work / "services.log")
    try:
        data_dir = work / "data"
        env = os.environ | service_env | {"MINI_STREAMIO_DATA_DIR": str(data_dir), "OCLIF_COLUMNS": "200"}
        dataset = work / "shapes"
        counts = {"train": options.images, "valid": max(8, options.images // 4)}
        generate_shapes_dataset(dataset, counts, image_size=options.imgsz, seed=0)
        cli = ["node", "--import", "tsx", "cli/bin/run.js"]
        timed([*cli, "dataset", "push", str(dataset), "--name", "bench-shapes"], env, work / "push.log")
        settings = Settings(
            minio_endpoint=service_env["MINIO_ENDPOINT"],
            mlflow_tracking_uri=service_env["MLFLOW_TRACKING_URI"],
            MINI_STREAMIO_DATA_DIR=data_dir,
        )
        cached = fetch_dataset(settings, "bench-shapes")  # what the trainer will find in its cache

        train_args = [str(options.epochs), str(options.imgsz), str(options.batch)]
        plain_cmd = [sys.executable, "-c", PLAIN, str(work), options.model, str(cached.data_yaml)]
        plain_cmd += train_args
        mini_cmd = [*cli, "train", "--dataset=bench-shapes", f"--model={options.model}", "--device=cpu"]
        mini_cmd += [f"--epochs={options.epochs}", f"--imgsz={options.imgsz}", f"--batch={options.batch}"]
        plain_times: list[float] = []
        mini_times: list[float] = []
        for repeat in range(options.repeats):
            plain_times.append(timed(plain_cmd, env, work / f"plain-{repeat}.log"))
            mini_times.append(timed(mini_cmd, env, work / f"mini-{repeat}.log"))
            print(f"repeat {repeat + 1}: plain {plain_times[-1]:.1f} s, mini-streamio {mini_times[-1]:.1f} s")

        print(
            f"\n{options.images} train images, imgsz {options.imgsz}, {options.epochs} epochs, "
            f"batch {options.batch}, model {options.model}, CPU: {cpu_model()} ({os.cpu_count()} cores)"
        )
        for label, times in (("plain Ultralytics  ", plain_times), ("mini-streamio train", mini_times)):
            listed = ", ".join(f"{t:.1f}" for t in times)
            print(f"{label} min {min(times):.1f} s  median {statistics.median(times):.1f} s  ({listed})")
        # On a shared machine other processes only ever add time, so the fastest run of each is the
        # least disturbed; the median ratio is printed too.
        best = min(mini_times) / min(plain_times)
        typical = statistics.median(mini_times) / statistics.median(plain_times)
        print(f"ratio (min) {best:.3f}, ratio (median) {typical:.3f}  (target <= 1.10)")
        print(f"overhead (min) {min(mini_times) - min(plain_times):+.1f} s")
    finally:
        assert services.stdin is not None
        services.stdin.close()
        services.wait(60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
