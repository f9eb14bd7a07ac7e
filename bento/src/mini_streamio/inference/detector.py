"""One loaded YOLO model: image bytes and thresholds in, a DetectionOutcome out.

Every request ends in an outcome: a bad upload becomes `image_decode_failed` / `image_too_large`,
bad thresholds `invalid_parameters`, anything the model raises `model_error`. Nothing escapes, so
a task can never crash or hang on its input.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from PIL import Image
from pydantic import ValidationError

from mini_streamio.inference.images import ImageRejectedError, decode_image
from mini_streamio.inference.native import Boxes, NativeModel
from mini_streamio.inference.ultralytics_runtime import UltralyticsModel
from mini_streamio.runtimes import Backend
from mini_streamio.schemas import (
    DEFAULT_CONF,
    DEFAULT_IOU,
    DEFAULT_MAX_DET,
    DetectionOutcome,
    DetectionParams,
    DetectionResponse,
    ErrorCode,
    ImageSize,
    Instance,
    ModelInfo,
    ModelRef,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class Runtime(Protocol):
    """A loaded model: one image and thresholds in, boxes out (native.py, ultralytics_runtime.py)."""

    names: dict[int, str]

    def predict(self, image: Image.Image, conf: float, iou: float, max_det: int) -> Boxes: ...


class Detector:
    """Runs one model. Calls are serialised by a lock: neither runtime's predictor is thread-safe."""

    def __init__(
        self, runtime: Runtime, info: ModelInfo, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    ) -> None:
        self.runtime = runtime
        self.info = info
        self.max_image_pixels = max_image_pixels
        # The names the network itself was trained with, by class id.
        self.class_names = runtime.names
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        path: Path,
        info: ModelInfo,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        threads: int = 0,
    ) -> Detector:
        """Loads weights or an export (`info.backend`) and warms it up: a broken file fails here.

        `threads`: runtime threads (0 leaves the runtime's default). ONNX and OpenVINO exports run
        natively; `info.precision` then becomes what the runtime computes in (bf16 for OpenVINO on
        CPUs that have it). torch and TensorRT run through Ultralytics (configure_ultralytics first).
        """
        backend = Backend(info.backend)
        runtime: Runtime
        if backend in (Backend.ONNX, Backend.OPENVINO):
            native = NativeModel.load(path, backend, threads)
            info = info.model_copy(update={"precision": native.precision()})
            runtime = native
        else:
            runtime = UltralyticsModel.load(path, threads)
        detector = cls(runtime, info, max_image_pixels)
        runtime.predict(Image.new("RGB", (32, 32)), DEFAULT_CONF, DEFAULT_IOU, DEFAULT_MAX_DET)
        return detector

    @property
    def ref(self) -> ModelRef:
        info = self.info
        return ModelRef(name=info.name, version=info.version, backend=info.backend, precision=info.precision)

    def detect(self, image: bytes, conf: float, iou: float, max_det: int) -> DetectionOutcome:
        try:
            params = DetectionParams(conf=conf, iou=iou, max_det=max_det)
            decoded = decode_image(image, self.max_image_pixels)
        except ValidationError as error:
            return DetectionOutcome.failure(ErrorCode.INVALID_PARAMETERS, _describe(error))
        except ImageRejectedError as rejected:
            return DetectionOutcome.failure(rejected.code, rejected.message)
        try:
            with self._lock:
                boxes = self.runtime.predict(decoded, params.conf, params.iou, params.max_det)
        except Exception as error:
            logger.exception("model %s v%s failed", self.info.name, self.info.version)
            message = f"model {self.info.name} v{self.info.version} failed: {type(error).__name__}: {error}"
            return DetectionOutcome.failure(ErrorCode.MODEL_ERROR, message)
        return DetectionOutcome(response=self._response(boxes, decoded.size))

    def _response(self, boxes: Boxes, size: tuple[int, int]) -> DetectionResponse:
        instances = [
            Instance(
                bounding_box=" ".join(f"{value:.4f}" for value in xywhn),
                class_id=str(class_id),
                class_name=self.class_names.get(class_id, str(class_id)),
                confidence=round(confidence, 4),
            )
            for xywhn, class_id, confidence in zip(
                boxes.xywhn.tolist(), boxes.classes.tolist(), boxes.confidences.tolist(), strict=True
            )
        ]
        return DetectionResponse(
            instances=instances,
            image=ImageSize(width=size[0], height=size[1]),
            model=self.ref,
            inference_ms=round(boxes.milliseconds, 2),
        )


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in error.errors())
