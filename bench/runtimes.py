"""Runtimes side by side, in process: torch and each export of one model, per input size, on the same images.

Each runtime runs the service's own per-task work (Detector.detect: decode, predict, response) in
a loop for --seconds. Also measured: this CPU's peak (a large fp32 and bf16 matmul in torch) and
the model's GFLOPs per image, so each figure shows how close it comes to the physical ceiling, and
every runtime's boxes against torch's (mini_streamio.inference.parity, as in the parity test).

    .stack/python bench/runtimes.py --weights best.pt [--images DIR] [--sizes 320,416,640]
        [--seconds 8] [--threads 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from mini_streamio.offline import configure_ultralytics
from mini_streamio.settings import REPO_ROOT, get_settings

configure_ultralytics(get_settings().data_dir / "ultralytics")

import torch  # noqa: E402
from mini_streamio.inference import Detector  # noqa: E402
from mini_streamio.inference.parity import parity_problems  # noqa: E402
from mini_streamio.inference.ultralytics_runtime import UltralyticsModel  # noqa: E402
from mini_streamio.runtimes import Backend, ExportOptions, export_weights  # noqa: E402
from mini_streamio.schemas import DetectionResponse, ModelInfo  # noqa: E402

DEFAULT_IMAGES = REPO_ROOT.parent / "shared" / "datasets" / "valorant" / "test" / "images"
EXPORTED = (Backend.ONNX, Backend.OPENVINO)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def peak_gflops(dtype: torch.dtype, threads: int, n: int = 2048, rounds: int = 8) -> float:
    """The best of several rounds of a large matmul: other load on the machine only ever lowers it."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.mm(a, b)
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def model_gflops(weights: Path, size: int) -> float:
    from ultralytics.models import YOLO
    from ultralytics.utils.torch_utils import get_flops

    return float(get_flops(YOLO(str(weights)).model, imgsz=size))


def load(path: Path, backend: Backend, size: int, threads: int) -> Detector:
    info = ModelInfo(name="bench", version="0", demo=False, class_names=[], backend=backend, precision="fp32")
    detector = Detector.load(path, info, threads=threads)
    if isinstance(detector.runtime, UltralyticsModel):
        detector.runtime.model.overrides["imgsz"] = size  # torch runs at any size; an export at its own
    return detector


def loop(detector: Detector, blobs: list[bytes], seconds: float) -> dict[str, float]:
    for blob in blobs[:3]:
        detector.detect(blob, 0.25, 0.45, 300)
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        detector.detect(blobs[count % len(blobs)], 0.25, 0.45, 300)
        count += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"images_per_s": count / wall, "cpu_ms_per_image": cpu / count * 1000}


def responses(detector: Detector, blobs: list[bytes]) -> list[DetectionResponse]:
    outcomes = [detector.detect(blob, 0.25, 0.45, 300) for blob in blobs]
    return [outcome.response for outcome in outcomes if outcome.response is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--sizes", default="320,416,640")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    blobs = [p.read_bytes() for p in sorted(args.images.iterdir())]
    peaks = {name: peak_gflops(dtype, args.threads) for name, dtype in DTYPES.items()}
    print(f"peak: {peaks['fp32']:.0f} GFLOP/s fp32, {peaks['bf16']:.0f} bf16 ({args.threads} threads)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            gflops = model_gflops(args.weights, size)
            torch.set_num_threads(args.threads)
            reference = load(args.weights, Backend.TORCH, size, args.threads)
            expected = responses(reference, blobs)
            runs = [(Backend.TORCH, reference, [])]
            for backend in EXPORTED:
                options = ExportOptions(backend, imgsz=size)
                exported = export_weights(args.weights, options, Path(tmp, f"{backend}{size}"))
                detector = load(exported, backend, size, args.threads)
                pairs = zip(expected, responses(detector, blobs), strict=True)
                problems = [problem for e, a in pairs for problem in parity_problems(e, a, 0.25)]
                runs.append((backend, detector, problems))
            for backend, detector, problems in runs:
                figures = loop(detector, blobs, args.seconds)
                row = _row(size, backend, detector.info.precision, gflops, figures)
                row["share_of_peak"] = (
                    row["achieved_gflops"] / peaks["bf16" if row["precision"] == "bf16" else "fp32"]
                )
                row["boxes_compared"] = sum(len(r.instances) for r in expected)
                rows.append(row | {"parity_problems": problems})
                print(_line(rows[-1], rows, size))
    if args.json:
        args.json.write_text(
            json.dumps({"peaks_gflops": peaks, "threads": args.threads, "rows": rows}, indent=1)
        )


def _row(
    size: int, backend: Backend, precision: str, gflops: float, figures: dict[str, float]
) -> dict[str, Any]:
    row = {"size": size, "backend": backend.value, "precision": precision, "gflops_per_image": gflops}
    return row | figures | {"achieved_gflops": figures["images_per_s"] * gflops}


def _line(row: dict[str, Any], rows: list[dict[str, Any]], size: int) -> str:
    torch_rate = next(r["images_per_s"] for r in rows if r["size"] == size and r["backend"] == "torch")
    return (
        f"{size:4d} px {row['backend']:8s} {row['precision']:4s} {row['images_per_s']:6.1f} img/s "
        f"{row['cpu_ms_per_image']:6.1f} CPU ms/img  x{row['images_per_s'] / torch_rate:.2f} torch  "
        f"{row['achieved_gflops']:5.0f} GFLOP/s ({row['share_of_peak']:.0%} of peak)  "
        f"parity: {len(row['parity_problems'])} problems in {row['boxes_compared']} boxes"
    )


if __name__ == "__main__":
    main()
