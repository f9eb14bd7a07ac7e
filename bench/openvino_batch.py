"""Does batching lower OpenVINO's CPU per image here? The served model's export, run at batch 1, 2, 4, 8.

Each worker runs one image at a time (serving/service.py); batching would only pay if a batch of N
cost less than N single images. This compiles the OpenVINO export as a worker does (LATENCY hint,
--threads threads, unpinned), reshaped to each batch size, and prints the CPU time per image.

    .stack/python bench/openvino_batch.py [--weights best.pt] [--size 416] [--batches 1,2,4,8]
        [--threads 1] [--seconds 4]

Without --weights it uses an untrained yolov8n built from its architecture: speed does not depend
on the weights' values. Figures: docs/BENCHMARKS.md ("Inference batching").
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from mini_streamio.offline import configure_ultralytics
from mini_streamio.settings import get_settings

configure_ultralytics(get_settings().data_dir / "ultralytics")

import numpy as np  # noqa: E402
import openvino as ov  # noqa: E402
import torch  # noqa: E402
from mini_streamio.runtimes import Backend, ExportOptions, export_weights  # noqa: E402


def untrained_weights(directory: Path) -> Path:
    from ultralytics.models import YOLO

    weights = directory / "yolov8n.pt"
    torch.save({"model": YOLO("yolov8n.yaml").model, "train_args": {}}, weights)
    return weights


def cpu_ms_per_image(xml: Path, batch: int, size: int, threads: int, seconds: float) -> float:
    model = ov.Core().read_model(str(xml))
    model.reshape([batch, 3, size, size])
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads,
        "ENABLE_CPU_PINNING": False,
    }
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
    images = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
    for _ in range(3):
        request.infer({0: images})
    done, start, deadline = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        request.infer({0: images})
        done += batch
    return (time.process_time() - start) / done * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weights", type=Path)
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or untrained_weights(Path(tmp))
        options = ExportOptions(Backend.OPENVINO, imgsz=args.size)
        xml = next(export_weights(weights, options, Path(tmp) / "openvino").glob("*.xml"))
        for batch in (int(b) for b in args.batches.split(",")):
            ms = cpu_ms_per_image(xml, batch, args.size, args.threads, args.seconds)
            print(f"batch {batch}: {ms:.2f} ms of CPU per image ({args.threads} thread(s), {args.size} px)")


if __name__ == "__main__":
    main()
