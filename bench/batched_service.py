"""Two ways to put BentoML adaptive batching under the detection task, for bench/bento_batching.py.

A task cannot be batchable itself: a batchable BentoML API takes exactly one argument, and the
detect task needs the image and three thresholds. So the task hands its image, as one `BatchItem`,
to a batchable API, and BentoML's dispatcher groups concurrent calls into one `detect_many` call
(bench/batch_detect.py, which detects the images one after another):

- `SelfProxyDetection`: one service; the task calls its own batchable API through the in-process
  self-proxy `self.to_async` (an aiohttp client over an ASGI connector, JSON bodies).
- `FrontDetection` + `BatchedModel`: two services; the task service depends on a model service
  (`bentoml.depends`) which runs in its own worker process(es) and batches there.

Neither ships: both lose tasks under load in BentoML 1.4.40 (see BENCH_NO_SESSION_REFRESH below
and docs/BENCHMARKS.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml
from batch_detect import DetectionRequest, detect_many
from mini_streamio.inference import ModelWatcher, RegistryModelSource
from mini_streamio.schemas import (
    DEFAULT_CONF,
    DEFAULT_IOU,
    DEFAULT_MAX_DET,
    DetectionOutcome,
    ErrorCode,
)
from mini_streamio.serving.service import Detection, settings
from pydantic import BaseModel, ConfigDict

if os.environ.get("BENCH_NO_SESSION_REFRESH") == "1":
    # BentoML 1.4.40's service-to-service client (_bentoml_impl/client/proxy2.py, SessionManager)
    # replaces its aiohttp session every 100 requests or 300 s and closes the old one while calls
    # are still in flight on it; they fail with "Connector is closed" / "Cannot write to closing
    # transport" (cf. bentoml/BentoML#5540). To measure what batching could give without that bug,
    # the bench can keep one session for the life of the process.
    from _bentoml_impl.client import proxy2

    proxy2.SessionManager._should_refresh = lambda self: False

MAX_BATCH_SIZE = 8
# BentoML cancels (503 "process is overloaded") calls that wait longer than this in its batching
# queue, and a saturated task queue waits long by design.
MAX_LATENCY_MS = 600_000


class BatchItem(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    image: bytes
    conf: float
    iou: float
    max_det: int


def detect_items(watcher: ModelWatcher, items: list[BatchItem]) -> list[DetectionOutcome]:
    detector = watcher.current
    if detector is None:
        return [DetectionOutcome.failure(ErrorCode.NO_MODEL, "no model is loaded")] * len(items)
    return detect_many(detector, [DetectionRequest(i.image, i.conf, i.iou, i.max_det) for i in items])


def as_outcome(value: object) -> DetectionOutcome:
    return value if isinstance(value, DetectionOutcome) else DetectionOutcome.model_validate(value)


@bentoml.service(
    name="detection-self-proxy",
    workers=settings.bentoml_workers,
    traffic={"timeout": 300},
)
class SelfProxyDetection(Detection.inner):  # type: ignore[misc, name-defined]
    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    def detect_batch(self, items: list[BatchItem]) -> list[DetectionOutcome]:
        return detect_items(self.models, items)

    @bentoml.task
    async def detect(
        self,
        image: Path,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
    ) -> DetectionOutcome:
        item = BatchItem(image=image.read_bytes(), conf=conf, iou=iou, max_det=max_det)
        return as_outcome((await self.to_async.detect_batch([item]))[0])


@bentoml.service(name="detection-model", workers=settings.bentoml_workers, traffic={"timeout": 300})
class BatchedModel:
    def __init__(self) -> None:
        if settings.inference_threads:
            import torch

            torch.set_num_threads(settings.inference_threads)
        self.models = ModelWatcher(RegistryModelSource(settings), settings.model_poll_interval_s)
        self.models.start()

    async def __is_ready__(self) -> bool:
        return self.models.current is not None

    @bentoml.api(batchable=True, max_batch_size=MAX_BATCH_SIZE, max_latency_ms=MAX_LATENCY_MS)
    def detect_batch(self, items: list[BatchItem]) -> list[DetectionOutcome]:
        return detect_items(self.models, items)


@bentoml.service(name="detection-front", workers=1, traffic={"timeout": 300})
class FrontDetection:
    model = bentoml.depends(BatchedModel)

    @bentoml.task
    async def detect(
        self,
        image: Path,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
    ) -> DetectionOutcome:
        item = BatchItem(image=image.read_bytes(), conf=conf, iou=iou, max_det=max_det)
        return as_outcome((await self.model.to_async.detect_batch([item]))[0])
