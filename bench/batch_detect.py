"""Several detections in one call, as BentoML's batching dispatcher hands them over (bench only).

Used by bench/batched_service.py (the batchable APIs) and bench/bento_batching.py (the in-process
rows); the shipped service detects one image per task (docs/BENCHMARKS.md, "Inference batching").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mini_streamio.inference import Detector
from mini_streamio.schemas import DetectionOutcome


@dataclass(frozen=True)
class DetectionRequest:
    """One image as uploaded and the thresholds asked for (validated by `Detector.detect`)."""

    image: bytes
    conf: float
    iou: float
    max_det: int


def detect_many(detector: Detector, requests: Sequence[DetectionRequest]) -> list[DetectionOutcome]:
    """Outcomes in request order, one image at a time."""
    return [detector.detect(r.image, r.conf, r.iou, r.max_det) for r in requests]
