"""One loaded YOLO model: image bytes and thresholds in, a DetectionOutcome out.

Every request ends in an outcome: a bad upload becomes `image_decode_failed` / `image_too_large`,
bad thresholds `invalid_parameters`, anything the model raises `model_error`. Nothing escapes, so
a task can never crash or hang on its input.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import ValidationError

from mini_streamio.inference.images import ImageRejectedError, decode_image
from mini_streamio.runtimes import Backend, precision, tune
from mini_streamio.schemas import (
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


@dataclass(frozen=True)
class DetectionRequest:
    """One image as uploaded and the thresholds asked for (validated by `Detector`)."""

    image: bytes
    conf: float
    iou: float
    max_det: int


class Detector:
    """Runs one model. Calls are serialised by a lock: an Ultralytics predictor is not thread-safe."""

    def __init__(self, model: Any, info: ModelInfo, max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        self.model = model
        self.info = info
        self.max_image_pixels = max_image_pixels
        # The names the network itself was trained with, by class id.
        self.class_names: dict[int, str] = {int(k): str(v) for k, v in model.names.items()}
        self._lock = threading.Lock()

    @classmethod
    def load(
        cls,
        weights: Path,
        info: ModelInfo,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
        threads: int = 0,
    ) -> Detector:
        """Loads weights or an export (`info.backend`) and warms it up: a broken file fails here.

        `threads`: runtime threads (0 leaves the runtime's default); `info.precision` is replaced by
        what the runtime computes in once loaded.
        """
        from ultralytics.models import YOLO  # after mini_streamio.offline.configure_ultralytics

        model = YOLO(str(weights), task="detect")
        if model.task != "detect":
            raise ValueError(f"{weights} holds a {model.task} model, not a detection model")
        backend = Backend(info.backend)
        warm_up = [Image.new("RGB", (32, 32))]
        model.predict(warm_up, verbose=False)  # creates the predictor and its runtime
        if threads:
            tune(model, backend, threads)
        info = info.model_copy(update={"precision": precision(model, backend, info.precision)})
        detector = cls(model, info, max_image_pixels)
        detector._predict(warm_up, DetectionParams())
        return detector

    @property
    def ref(self) -> ModelRef:
        info = self.info
        return ModelRef(name=info.name, version=info.version, backend=info.backend, precision=info.precision)

    def detect(self, image: bytes, conf: float, iou: float, max_det: int) -> DetectionOutcome:
        return self.detect_many([DetectionRequest(image, conf, iou, max_det)])[0]

    def detect_many(self, requests: Sequence[DetectionRequest]) -> list[DetectionOutcome]:
        """Outcomes in request order; images that share thresholds go through the model as one batch."""
        outcomes: dict[int, DetectionOutcome] = {}
        batches: dict[DetectionParams, list[tuple[int, Image.Image]]] = {}
        for index, request in enumerate(requests):
            try:
                params = DetectionParams(conf=request.conf, iou=request.iou, max_det=request.max_det)
                image = decode_image(request.image, self.max_image_pixels)
            except ValidationError as error:
                outcomes[index] = DetectionOutcome.failure(ErrorCode.INVALID_PARAMETERS, _describe(error))
            except ImageRejectedError as rejected:
                outcomes[index] = DetectionOutcome.failure(rejected.code, rejected.message)
            else:
                batches.setdefault(params, []).append((index, image))
        for params, batch in batches.items():
            outcomes.update(self._detect_batch(batch, params))
        return [outcomes[index] for index in range(len(requests))]

    def _detect_batch(
        self, batch: list[tuple[int, Image.Image]], params: DetectionParams
    ) -> dict[int, DetectionOutcome]:
        try:
            results = self._predict([image for _, image in batch], params)
            return {
                index: DetectionOutcome(response=self._response(result))
                for (index, _), result in zip(batch, results, strict=True)
            }
        except Exception as error:
            logger.exception(
                "model %s v%s failed on %d image(s)", self.info.name, self.info.version, len(batch)
            )
            message = f"model {self.info.name} v{self.info.version} failed: {type(error).__name__}: {error}"
            return {index: DetectionOutcome.failure(ErrorCode.MODEL_ERROR, message) for index, _ in batch}

    def _predict(self, images: list[Image.Image], params: DetectionParams) -> list[Any]:
        with self._lock:
            return list(
                self.model.predict(
                    images, conf=params.conf, iou=params.iou, max_det=params.max_det, verbose=False
                )
            )

    def _response(self, result: Any) -> DetectionResponse:
        height, width = result.orig_shape
        boxes = result.boxes
        instances = [
            Instance(
                bounding_box=" ".join(f"{value:.4f}" for value in xywhn),
                class_id=str(class_id),
                class_name=self.class_names.get(class_id, str(class_id)),
                confidence=round(confidence, 4),
            )
            for xywhn, class_id, confidence in zip(
                boxes.xywhn.tolist(), (int(c) for c in boxes.cls.tolist()), boxes.conf.tolist(), strict=True
            )
        ]
        return DetectionResponse(
            instances=instances,
            image=ImageSize(width=int(width), height=int(height)),
            model=self.ref,
            inference_ms=round(sum(result.speed.values()), 2),
        )


def _describe(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}" for e in error.errors())
