"""Baseline for the detection benchmark: the service's own per-task work in a plain in-process loop.

Loads the registry version the BentoML service serves (alias `production`, or --version) on the
runtime it serves with (INFERENCE_BACKEND, or --backend; exported on first use as the service does),
then decodes and predicts the given images one by one, as the service does per task, and prints one
JSON line: {"model", "version", "backend", "precision", "images", "seconds", "images_per_s",
"cpu_seconds", "images_per_cpu_s"}.

    .stack/python bench/predict_loop.py --images DIR [--count 100] [--backend auto] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from mini_streamio.offline import configure_ultralytics
from mini_streamio.settings import get_settings

settings = get_settings()
configure_ultralytics(settings.data_dir / "ultralytics")

from mini_streamio.inference import RegistryModelSource  # noqa: E402
from mini_streamio.registry import resolve  # noqa: E402

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--version", default="@production")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--iou", type=float, default=0.45)
    parser.add_argument("--max-det", type=int, default=300)
    parser.add_argument("--backend", default=settings.inference_backend, help="auto, torch, onnx, openvino")
    parser.add_argument("--threads", type=int, default=0, help="runtime threads (0: the runtime's default)")
    args = parser.parse_args()

    registered = resolve(settings, args.version)
    if registered is None:
        sys.exit(f"no registry version {args.version} of {settings.registered_model_name}")
    source_settings = settings.model_copy(update={"inference_backend": args.backend})
    detector = RegistryModelSource(source_settings, args.threads).load(registered)
    blobs = [p.read_bytes() for p in sorted(args.images.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    if not blobs:
        sys.exit(f"no images in {args.images}")

    def predict(blob: bytes) -> None:
        detector.detect(blob, args.conf, args.iou, args.max_det)  # decode + predict + response

    for blob in blobs[:3]:  # warm-up: first calls build the predictor
        predict(blob)
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in range(args.count):
        predict(blobs[i % len(blobs)])
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start  # all threads of this process
    print(
        json.dumps(
            {
                "model": registered.name,
                "version": registered.version,
                "backend": detector.info.backend,
                "precision": detector.info.precision,
                "images": args.count,
                "seconds": round(seconds, 3),
                "images_per_s": round(args.count / seconds, 3),
                "cpu_seconds": round(cpu_seconds, 3),
                "images_per_cpu_s": round(args.count / cpu_seconds, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
