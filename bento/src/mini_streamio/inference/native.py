"""ONNX Runtime and OpenVINO exports run without torch or Ultralytics: letterbox, model, NMS in numpy.

Why not Ultralytics' own AutoBackend: it imports torch and Ultralytics into every BentoML worker,
several times the memory the runtime itself needs (docs/BENCHMARKS.md, "Runtimes"). The steps
below are Ultralytics' detection pre- and post-processing (LetterBox with auto=False, 114 grey,
non_max_suppression with class offsets, scale_boxes); bento/tests/test_runtimes.py holds every
export to torch's boxes (inference/parity.py).
"""

from __future__ import annotations

import ast
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml
from PIL import Image

PAD_VALUE = 114
MAX_NMS = 30_000  # candidates kept for NMS, most confident first
CLASS_OFFSET = 7680  # shifts each class's boxes apart so one NMS never suppresses across classes


@dataclass(frozen=True)
class Boxes:
    """One image's detections: xywh normalised to the image, class ids, confidences."""

    xywhn: np.ndarray
    classes: np.ndarray
    confidences: np.ndarray
    milliseconds: float


class Session(Protocol):
    def run(self, canvas: np.ndarray) -> np.ndarray:
        """The model's output for one letterboxed image (HxWx3 uint8 RGB)."""
        ...


class NativeModel:
    """A detection export with a fixed square-or-rectangular input, run on one image at a time."""

    def __init__(self, session: Session, input_hw: tuple[int, int], names: dict[int, str]) -> None:
        self.session = session
        self.input_hw = input_hw
        self.names = names

    @classmethod
    def load(cls, path: Path, backend: str, threads: int) -> NativeModel:
        if backend == "openvino":
            return cls._openvino(path, threads)
        if backend == "onnx":
            return cls._onnx(path, threads)
        raise ValueError(f"no native runtime for {backend!r}")

    @classmethod
    def _openvino(cls, directory: Path, threads: int) -> NativeModel:
        import openvino as ov

        xml = next(directory.glob("*.xml"))
        metadata = yaml.safe_load((directory / "metadata.yaml").read_text())
        # OpenVINO pins threads to the first cores of its own process, unaware of other processes,
        # so workers sharing the cores would all pin to core 0: pin only when this model has every
        # core (docs/BENCHMARKS.md, "OpenVINO pinned every worker to core 0").
        pinned = threads == 0 or threads >= len(os.sched_getaffinity(0))
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": pinned}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        core = ov.Core()
        model = core.read_model(str(xml))
        # An int8 export (nncf) holds FakeQuantize operations: the runtime computes those layers in int8.
        quantised = any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())
        compiled = core.compile_model(_takes_uint8_images(model), "CPU", config)
        session = _OpenVinoSession(compiled, quantised)
        return cls(session, _hw(metadata["imgsz"]), _names(metadata["names"]))

    @classmethod
    def _onnx(cls, file: Path, threads: int) -> NativeModel:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads sleep
        session = onnxruntime.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        metadata = session.get_modelmeta().custom_metadata_map
        imgsz = ast.literal_eval(metadata["imgsz"])
        return cls(_OrtSession(session), _hw(imgsz), _names(ast.literal_eval(metadata["names"])))

    def precision(self) -> str:
        return getattr(self.session, "precision", "fp32")

    def predict(self, image: Image.Image, conf: float, iou: float, max_det: int) -> Boxes:
        start = time.perf_counter()
        rgb = np.asarray(image.convert("RGB"))
        canvas, gain, pad = letterbox(rgb, self.input_hw)
        output = self.session.run(canvas)[0]  # (4 + classes, anchors)
        xyxy, confidences, classes = non_max_suppression(output, conf, iou, max_det)
        height, width = rgb.shape[:2]
        xyxy = (xyxy - [pad[0], pad[1], pad[0], pad[1]]) / [gain[1], gain[0], gain[1], gain[0]]
        xyxy = xyxy.clip(0, [width, height, width, height])
        xywhn = np.stack(
            [
                (xyxy[:, 0] + xyxy[:, 2]) / 2 / width,
                (xyxy[:, 1] + xyxy[:, 3]) / 2 / height,
                (xyxy[:, 2] - xyxy[:, 0]) / width,
                (xyxy[:, 3] - xyxy[:, 1]) / height,
            ],
            axis=1,
        )
        return Boxes(xywhn, classes, confidences, (time.perf_counter() - start) * 1000)


def letterbox(
    rgb: np.ndarray, input_hw: tuple[int, int]
) -> tuple[np.ndarray, tuple[float, float], tuple[int, int]]:
    """The image scaled to fit the input, centred on grey (HxWx3 uint8); gain (y, x), pad (x, y)."""
    import cv2

    height, width = rgb.shape[:2]
    ratio = min(input_hw[0] / height, input_hw[1] / width)
    new_h, new_w = max(round(height * ratio), 1), max(round(width * ratio), 1)
    if (new_h, new_w) != (height, width):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    dh, dw = (input_hw[0] - new_h) / 2, (input_hw[1] - new_w) / 2
    top, left = round(dh - 0.1), round(dw - 0.1)
    canvas = np.full((*input_hw, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = rgb
    return canvas, (new_h / height, new_w / width), (left, top)


def _takes_uint8_images(model: Any) -> Any:
    """The model with its input as HxWx3 uint8 images: OpenVINO scales and transposes them itself.

    Ultralytics' export takes a 1x3xHxW float batch in [0, 1]; numpy makes it with a transposed copy,
    a float conversion and a division per image, which the runtime does far cheaper in its first layer
    (measured in docs/BENCHMARKS.md).
    """
    import openvino as ov
    from openvino.preprocess import PrePostProcessor

    steps = PrePostProcessor(model)
    steps.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    steps.input().model().set_layout(ov.Layout("NCHW"))
    steps.input().preprocess().convert_element_type(ov.Type.f32).scale(255.0)
    return steps.build()


def non_max_suppression(
    output: np.ndarray, conf: float, iou: float, max_det: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best class per anchor above `conf`, then per-class greedy NMS; xyxy boxes in input pixels."""
    scores = output[4:].T  # (anchors, classes)
    classes = scores.argmax(1)
    confidences = scores[np.arange(len(scores)), classes]
    keep = confidences > conf
    xywh, confidences, classes = output[:4].T[keep], confidences[keep], classes[keep]
    order = confidences.argsort()[::-1][:MAX_NMS]
    xywh, confidences, classes = xywh[order], confidences[order], classes[order]
    xyxy = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    kept = _greedy_nms(xyxy + (classes * CLASS_OFFSET)[:, None], iou)[:max_det]
    return xyxy[kept], confidences[kept], classes[kept]


def _greedy_nms(xyxy: np.ndarray, iou: float) -> list[int]:
    """Indices kept, in the order given (most confident first)."""
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    remaining = np.arange(len(xyxy))
    kept: list[int] = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        kept.append(int(best))
        top_left = np.maximum(xyxy[best, :2], xyxy[rest, :2])
        bottom_right = np.minimum(xyxy[best, 2:], xyxy[rest, 2:])
        inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
        overlap = inter / (areas[best] + areas[rest] - inter)
        remaining = rest[overlap <= iou]
    return kept


class _OpenVinoSession:
    def __init__(self, compiled: Any, quantised: bool) -> None:
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.output = compiled.output(0)
        hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        # An int8 model's unquantised layers (the detection head) run at the hint's precision.
        floating = {"bf16": "bf16", "f16": "fp16", "f32": "fp32"}.get(hint, str(hint))
        self.precision = "int8" if quantised else floating

    def run(self, canvas: np.ndarray) -> np.ndarray:
        return np.asarray(self.request.infer({0: canvas[None]})[self.output])


class _OrtSession:
    def __init__(self, session: Any) -> None:
        self.session = session
        self.input = session.get_inputs()[0].name

    def run(self, canvas: np.ndarray) -> np.ndarray:
        batch = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0  # 1x3xHxW in [0, 1]
        return np.asarray(self.session.run(None, {self.input: batch})[0])


def _hw(imgsz: int | list[int]) -> tuple[int, int]:
    return (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))


def _names(names: dict[Any, Any]) -> dict[int, str]:
    return {int(key): str(value) for key, value in names.items()}
