"""Runtimes side by side, in process: torch and each export of one model, per input size, on the same images.

Each runtime runs the service's own per-task work (Detector.detect: decode, predict, response) in
a loop for --seconds. Also measured: this CPU's peak (a large fp32 and bf16 matmul in torch) and
the model's GFLOPs per image, so each figure shows how close it comes to the physical ceiling, and
every runtime's boxes against torch's (mini_streamio.inference.parity, as in the parity test), with
the matched boxes' IoU and confidence differences.

    .stack/python bench/runtimes.py --weights best.pt [--images DIR] [--sizes 320,416,640]
        [--runtimes onnx,openvino] [--calibration DIR] [--seconds 8] [--threads 2] [--json FILE]

Runtimes: onnx, openvino (bf16 where the CPU has it), openvino-fp32 (the same export held to
fp32), openvino-int8 (quantised by nncf on the images in --calibration); torch always runs.
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
import yaml  # noqa: E402
from mini_streamio.inference import Detector  # noqa: E402
from mini_streamio.inference.native import NativeModel, _OpenVinoSession  # noqa: E402
from mini_streamio.inference.parity import FLOAT, INT8, match_boxes, parity_problems  # noqa: E402
from mini_streamio.inference.ultralytics_runtime import UltralyticsModel  # noqa: E402
from mini_streamio.runtimes import Backend, ExportOptions, backend_of, export_weights  # noqa: E402
from mini_streamio.schemas import DetectionResponse, ModelInfo  # noqa: E402

VALORANT = REPO_ROOT.parent / "shared" / "datasets" / "valorant"
DEFAULT_IMAGES = VALORANT / "test" / "images"
RUNTIMES = ("onnx", "openvino", "openvino-fp32", "openvino-int8")
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


def export(weights: Path, runtime: str, size: int, calibration: Path, tmp: Path) -> Path:
    """The runtime's export at `size`; int8 is calibrated on the images in `calibration`."""
    options = ExportOptions(backend_of(runtime.removesuffix("-fp32")), imgsz=size)
    if runtime.endswith("-int8"):
        from ultralytics.models import YOLO

        names = YOLO(str(weights)).names
        data = tmp / "calibration.yaml"  # Ultralytics calibrates on a dataset's `val` split
        data.write_text(yaml.safe_dump({"path": str(calibration.parent), "train": str(calibration),
                                        "val": str(calibration), "names": names}))  # fmt: skip
        options = ExportOptions(options.backend, int8=True, data=data, imgsz=size)
    return export_weights(weights, options, tmp / f"{runtime}{size}")


def held_to_fp32(detector: Detector, directory: Path, threads: int) -> Detector:
    """The same OpenVINO export compiled to infer in fp32 (the default is bf16 where the CPU has it)."""
    import openvino as ov

    assert isinstance(detector.runtime, NativeModel)
    config = {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_NUM_THREADS": threads,
        "INFERENCE_PRECISION_HINT": "f32",
    }
    compiled = ov.Core().compile_model(str(next(directory.glob("*.xml"))), "CPU", config)
    detector.runtime.session = _OpenVinoSession(compiled, quantised=False)
    detector.info = detector.info.model_copy(update={"precision": detector.runtime.precision()})
    return detector


def box_agreement(expected: list[DetectionResponse], actual: list[DetectionResponse]) -> dict[str, float]:
    """Matched boxes' IoU and |confidence difference| against torch, and boxes without a match."""
    ious: list[float] = []
    deltas: list[float] = []
    missing = extra = 0
    for reference, other in zip(expected, actual, strict=True):
        pairs, left = match_boxes(reference, other)
        extra += len(left)
        for box, best, iou in pairs:
            if best is None:
                missing += 1
            else:
                ious.append(iou)
                deltas.append(abs(best.confidence - box.confidence))
    ious.sort()
    deltas.sort()
    return {
        "matched": len(ious), "missing": missing, "extra": extra,
        "iou_min": quantile(ious, 0.0), "iou_p05": quantile(ious, 0.05), "iou_median": quantile(ious, 0.5),
        "conf_delta_median": quantile(deltas, 0.5), "conf_delta_p95": quantile(deltas, 0.95),
        "conf_delta_max": quantile(deltas, 1.0),
    }  # fmt: skip


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of sorted values (nearest rank); NaN for none."""
    return values[min(int(q * len(values)), len(values) - 1)] if values else float("nan")


def loop(detector: Detector, blobs: list[bytes], seconds: float) -> dict[str, float]:
    for blob in blobs[:3]:
        detector.detect(blob, 0.25, 0.45, 300)
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        detector.detect(blobs[count % len(blobs)], 0.25, 0.45, 300)
        count += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"images_per_s": count / wall, "cpu_ms_per_image": cpu / count * 1000}


def responses(detector: Detector, blobs: list[bytes], conf: float) -> list[DetectionResponse]:
    outcomes = [detector.detect(blob, conf, 0.45, 300) for blob in blobs]
    return [outcome.response for outcome in outcomes if outcome.response is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--sizes", default="320,416,640")
    parser.add_argument("--runtimes", default="onnx,openvino", help=f"of {', '.join(RUNTIMES)}")
    parser.add_argument("--calibration", type=Path, default=VALORANT / "valid" / "images")
    parser.add_argument("--conf", type=float, default=0.25, help="threshold of the box comparison")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    runtimes = [name for name in args.runtimes.split(",") if name]
    assert set(runtimes) <= set(RUNTIMES), f"--runtimes: choose from {', '.join(RUNTIMES)}"
    blobs = [p.read_bytes() for p in sorted(args.images.iterdir())]
    peaks = {name: peak_gflops(dtype, args.threads) for name, dtype in DTYPES.items()}
    print(f"peak: {peaks['fp32']:.0f} GFLOP/s fp32, {peaks['bf16']:.0f} bf16 ({args.threads} threads)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            gflops = model_gflops(args.weights, size)
            torch.set_num_threads(args.threads)
            reference = load(args.weights, Backend.TORCH, size, args.threads)
            expected = responses(reference, blobs, args.conf)
            runs: list[tuple[str, Detector, float]] = [("torch", reference, 0.0)]
            for runtime in runtimes:
                start = time.perf_counter()
                exported = export(args.weights, runtime, size, args.calibration, Path(tmp))
                export_s = time.perf_counter() - start
                detector = load(
                    exported,
                    backend_of(runtime.removesuffix("-fp32")),
                    size,
                    args.threads,
                )
                if runtime.endswith("-fp32"):
                    detector = held_to_fp32(detector, exported, args.threads)
                runs.append((runtime, detector, export_s))
            for runtime, detector, export_s in runs:
                tolerance = INT8 if detector.info.precision == "int8" else FLOAT
                actual = responses(detector, blobs, args.conf)
                pairs = zip(expected, actual, strict=True)
                problems = [
                    problem for e, a in pairs for problem in parity_problems(e, a, args.conf, tolerance)
                ]
                figures = loop(detector, blobs, args.seconds)
                row = _row(size, runtime, detector.info.precision, gflops, figures)
                peak = peaks.get(row["precision"])
                row["share_of_peak"] = row["achieved_gflops"] / peak if peak else None
                row["export_s"] = export_s
                row["boxes_compared"] = sum(len(r.instances) for r in expected)
                row["agreement"] = box_agreement(expected, actual)
                rows.append(row | {"parity_problems": problems})
                print(_line(rows[-1], rows, size))
    if args.json:
        args.json.write_text(
            json.dumps({"peaks_gflops": peaks, "threads": args.threads, "rows": rows}, indent=1)
        )


def _row(size: int, runtime: str, precision: str, gflops: float, figures: dict[str, float]) -> dict[str, Any]:
    row = {
        "size": size,
        "backend": runtime,
        "precision": precision,
        "gflops_per_image": gflops,
    }
    return row | figures | {"achieved_gflops": figures["images_per_s"] * gflops}


def _line(row: dict[str, Any], rows: list[dict[str, Any]], size: int) -> str:
    torch_rate = next(r["images_per_s"] for r in rows if r["size"] == size and r["backend"] == "torch")
    share = f"{row['share_of_peak']:.0%} of peak" if row["share_of_peak"] is not None else "-"
    agreement = row["agreement"]
    return (
        f"{size:4d} px {row['backend']:13s} {row['precision']:4s} {row['images_per_s']:6.1f} img/s "
        f"{row['cpu_ms_per_image']:6.1f} CPU ms/img  x{row['images_per_s'] / torch_rate:.2f} torch  "
        f"{row['achieved_gflops']:5.0f} GFLOP/s ({share})  export {row['export_s']:.1f} s  "
        f"parity: {len(row['parity_problems'])} problems in {row['boxes_compared']} boxes; "
        f"matched {agreement['matched']}, missing {agreement['missing']}, extra {agreement['extra']}, "
        f"IoU min/p5/median {agreement['iou_min']:.3f}/{agreement['iou_p05']:.3f}/"
        f"{agreement['iou_median']:.3f}, "
        f"|dconf| median/p95/max {agreement['conf_delta_median']:.3f}/{agreement['conf_delta_p95']:.3f}/"
        f"{agreement['conf_delta_max']:.3f}"
    )


if __name__ == "__main__":
    main()
