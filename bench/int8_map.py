"""mAP of torch, the OpenVINO export (bf16 where the CPU has it) and its int8 export, per input size.

Ultralytics' own validator on a YOLO dataset's valid split (batch 1, rect=False for all three, as an
export runs); int8 is calibrated on another split (default test), so the images scored were not
used to quantise.

    .stack/python bench/int8_map.py --weights best.pt [--dataset ../shared/datasets/valorant]
        [--sizes 320,416,640] [--calibration-split test]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import yaml
from mini_streamio.offline import configure_ultralytics
from mini_streamio.settings import REPO_ROOT, get_settings

configure_ultralytics(get_settings().data_dir / "ultralytics")

from mini_streamio.runtimes import Backend, ExportOptions, export_weights  # noqa: E402
from ultralytics.models import YOLO  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, default=REPO_ROOT.parent / "shared" / "datasets" / "valorant")
    parser.add_argument("--sizes", default="320,416,640")
    parser.add_argument("--calibration-split", default="test")
    args = parser.parse_args()
    names = YOLO(str(args.weights)).names
    root = args.dataset.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        scored = Path(tmp, "valid.yaml")  # absolute paths: the dataset's own data.yaml says `path: .`
        scored.write_text(
            yaml.safe_dump(
                {"path": str(root), "train": "train/images", "val": "valid/images", "names": names}
            )
        )
        calibration = Path(tmp, "calibration.yaml")  # Ultralytics calibrates on the `val` split
        split = f"{args.calibration_split}/images"
        calibration.write_text(
            yaml.safe_dump({"path": str(root), "train": split, "val": split, "names": names})
        )
        for size in (int(s) for s in args.sizes.split(",")):
            float_options = ExportOptions(Backend.OPENVINO, imgsz=size)
            int8_options = ExportOptions(Backend.OPENVINO, int8=True, data=calibration, imgsz=size)
            models = {
                "torch": args.weights,
                "openvino": export_weights(args.weights, float_options, Path(tmp, f"ov{size}")),
                "openvino-int8": export_weights(args.weights, int8_options, Path(tmp, f"int8{size}")),
            }
            for name, path in models.items():
                metrics = YOLO(str(path), task="detect").val(
                    data=str(scored), imgsz=size, batch=1, rect=False, device="cpu", plots=False,
                    verbose=False, workers=0, project=tmp, name=f"val-{name}-{size}",
                )  # fmt: skip
                box = metrics.box
                print(
                    f"{size:4d} px {name:14s} P {box.mp:.3f} R {box.mr:.3f} "
                    f"mAP50 {box.map50:.4f} mAP50-95 {box.map:.4f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
