"""Inference runtimes: which one serves a model, and exporting weights to it with Ultralytics' exporter.

On this project's CPUs OpenVINO is the fastest (it computes in bf16 where the CPU has it), then ONNX
Runtime, then PyTorch; TensorRT needs an NVIDIA GPU. Figures: docs/BENCHMARKS.md, "Runtimes".
How each runs: inference/native.py (ONNX, OpenVINO), inference/ultralytics_runtime.py (torch, TensorRT).
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class Backend(StrEnum):
    TORCH = "torch"
    ONNX = "onnx"
    OPENVINO = "openvino"
    TENSORRT = "tensorrt"


AUTO = "auto"
EXPORTABLE = (Backend.ONNX, Backend.OPENVINO, Backend.TENSORRT)
# Ultralytics' name for each export format.
ULTRALYTICS_FORMAT = {Backend.ONNX: "onnx", Backend.OPENVINO: "openvino", Backend.TENSORRT: "engine"}
# The Python package each backend runs on.
_PACKAGE = {
    Backend.TORCH: "torch",
    Backend.ONNX: "onnxruntime",
    Backend.OPENVINO: "openvino",
    Backend.TENSORRT: "tensorrt",
}


class ExportError(Exception):
    """An export cannot be made here (bad options, a runtime or a GPU missing); the message says which."""


@dataclass(frozen=True)
class ExportOptions:
    """How a backend's export is made: `half` = fp16 weights, `int8` = quantised on `data` (a data.yaml)."""

    backend: Backend
    half: bool = False
    int8: bool = False
    data: Path | None = None
    imgsz: int | None = None  # the input size; None: the size the weights were trained at

    @property
    def precision(self) -> str:
        return "int8" if self.int8 else "fp16" if self.half else "fp32"

    @property
    def key(self) -> str:
        """The export's name in the version's exports tag and its MinIO folder: the backend, and for an
        int8 export `<backend>-int8`, kept beside the backend's float export rather than replacing it."""
        return f"{self.backend}{INT8_SUFFIX}" if self.int8 else self.backend.value


INT8_SUFFIX = "-int8"


def backend_of(key: str) -> Backend:
    """The backend an export (a key of the exports tag: `openvino`, `openvino-int8` …) runs on."""
    return Backend(key.removesuffix(INT8_SUFFIX))


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def installed(backend: Backend) -> bool:
    return importlib.util.find_spec(_PACKAGE[backend]) is not None


def check_exportable(options: ExportOptions) -> None:
    """Raises ExportError naming what is missing for this export on this machine."""
    backend = options.backend
    if backend not in EXPORTABLE:
        raise ExportError(f"format {backend!r} cannot be exported; choose one of {', '.join(EXPORTABLE)}")
    if backend is Backend.TENSORRT and not cuda_available():
        raise ExportError("a TensorRT engine needs an NVIDIA GPU, and CUDA sees none here")
    if not installed(backend):
        raise ExportError(f"the {backend} runtime ({_PACKAGE[backend]}) is not installed")
    if options.int8 and options.half:
        raise ExportError("choose one of --half and --int8")
    if options.int8:
        if backend is Backend.ONNX:
            raise ExportError("int8 is offered for openvino and tensorrt exports, not onnx")
        if backend is Backend.OPENVINO and importlib.util.find_spec("nncf") is None:
            raise ExportError("an int8 OpenVINO export needs the nncf package, which is not installed")


def export_weights(weights: Path, options: ExportOptions, out_dir: Path) -> Path:
    """Exports `weights` with Ultralytics into `out_dir`; returns the exported file or directory.

    Exports have a fixed input size: by default the size the weights were trained at.
    """
    check_exportable(options)
    from ultralytics.models import YOLO  # after mini_streamio.offline.configure_ultralytics

    out_dir.mkdir(parents=True, exist_ok=True)
    source = out_dir / "best.pt"  # Ultralytics writes the export beside the weights
    shutil.copyfile(weights, source)
    model = YOLO(str(source), task="detect")
    arguments: dict[str, Any] = {
        "format": ULTRALYTICS_FORMAT[options.backend],
        "imgsz": options.imgsz or model.overrides.get("imgsz", 640),
        "quantize": 8 if options.int8 else 16 if options.half else None,
        "device": 0 if options.backend is Backend.TENSORRT else "cpu",
        "verbose": False,
    }
    if options.data is not None:
        arguments["data"] = str(options.data)
    exported = Path(model.export(**arguments))
    source.unlink()
    if not exported.exists():
        raise ExportError(f"Ultralytics reported {exported} but wrote nothing there")
    return exported


def resolve_backend(requested: str, exported: set[Backend]) -> Backend:
    """The backend to serve with: `requested`, or for `auto` the fastest one usable here.

    auto = TensorRT on an NVIDIA GPU when its engine exists (engines are GPU-specific and slow to
    build, so never built implicitly), else OpenVINO, else ONNX Runtime, else PyTorch.
    """
    if requested != AUTO:
        return Backend(requested)
    if Backend.TENSORRT in exported and installed(Backend.TENSORRT) and cuda_available():
        return Backend.TENSORRT
    for backend in (Backend.OPENVINO, Backend.ONNX):
        if installed(backend):
            return backend
    return Backend.TORCH
