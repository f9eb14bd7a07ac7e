"""Training on a GPU offline keeps mixed precision (AMP), and what that is worth. Needs a CUDA GPU.

Trains a YOLO architecture from its yaml on a generated shapes dataset, offline (Ultralytics
configured by mini_streamio.offline) with every connection off this machine refused and recorded:
once with Ultralytics' AMP check made download-free as the trainer makes it, once with `amp=False`
(what the trainer passed offline before). Prints, per run, whether AMP was on, the connections
attempted and the seconds per epoch after the first, then one JSON line.

    python bench/gpu_amp.py --out DIR [--model yolov8s.yaml] [--epochs 4] [--images 1024] [--imgsz 640]
        [--batch 32] [--workers 8]
"""

from __future__ import annotations

import argparse
import json
import socket
import time
from pathlib import Path
from typing import Any

from mini_streamio.offline import amp_check_without_download, configure_ultralytics
from mini_streamio.synthetic import generate_shapes_dataset

attempts: list[str] = []


def refuse_the_network() -> None:
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family != socket.AF_UNIX and not str(host).startswith(("127.", "::1", "localhost")):
            attempts.append(f"connect {host}")
            raise OSError("network refused by bench/gpu_amp.py")
        real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        attempts.append(f"getaddrinfo {host}")
        raise socket.gaierror("DNS refused by bench/gpu_amp.py")

    socket.socket.connect = connect  # type: ignore[method-assign, assignment]
    socket.getaddrinfo = getaddrinfo


def train(args: argparse.Namespace, data: Path, name: str, **extra: Any) -> dict[str, Any]:
    from ultralytics.models import YOLO

    attempts.clear()
    seen: dict[str, Any] = {"epoch_s": []}
    model = YOLO(args.model)
    model.add_callback("on_train_start", lambda t: seen.update(amp=bool(t.amp)))
    model.add_callback("on_train_epoch_start", lambda t: seen.update(started=time.perf_counter()))
    model.add_callback(
        "on_fit_epoch_end", lambda t: seen["epoch_s"].append(time.perf_counter() - seen["started"])
    )
    model.train(
        data=str(data), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, workers=args.workers,
        device=0, project=str(args.out), name=name, exist_ok=True, plots=False, verbose=False, **extra,
    )  # fmt: skip
    later = seen["epoch_s"][1:] or seen["epoch_s"]
    return {
        "amp": seen.get("amp"),
        "attempts": list(attempts),
        "s_per_epoch": round(sum(later) / len(later), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="yolov8s.yaml")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=8, help="data loader processes")
    args = parser.parse_args()
    refuse_the_network()
    configure_ultralytics(args.out / "ultralytics")
    data = generate_shapes_dataset(
        args.out / "shapes", {"train": args.images, "valid": args.images // 8}, 640
    )
    amp_check_without_download()
    results = {
        "offline_amp_check": train(args, data, "amp"),
        "amp_false": train(args, data, "fp32", amp=False),
    }
    for name, result in results.items():
        print(f"{name}: {result}")
    print(json.dumps({"model": args.model, "imgsz": args.imgsz, "batch": args.batch} | results))


if __name__ == "__main__":
    main()
