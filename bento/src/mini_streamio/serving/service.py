"""The BentoML service: a thin shell; model loading and prediction live in mini_streamio.inference.

Started by `python -m mini_streamio.serving`. It serves the registry version with the `production`
alias of REGISTERED_MODEL_NAME and follows the alias (see inference/model_source.py): with no such
version it still starts, /readyz answers 503 and the registry is polled every MODEL_POLL_INTERVAL_S
seconds (default 10); when the alias moves, the new version is loaded and swapped in while in-flight
tasks finish on the old one.

Workers: BENTOML_WORKERS processes (default 2, see settings.py), each with its own model and alias
watcher, so during an alias move the workers switch within one poll interval of each other, and each
at nice INFERENCE_NICE (serving/priority.py). They share one SQLite task store, which BentoML 1.4.40
gets wrong with more than one worker (stuck after a failed write; writes refused between a poll's
SELECT and its fetch); serving.task_store fixes both and is installed below.
A worker runs one detection at a time (BentoML runs sync APIs on a one-thread limiter) with
INFERENCE_THREADS runtime threads (default: cores / workers), on INFERENCE_BACKEND (default auto: the
fastest runtime here, see runtimes.py); one that stalls for INFERENCE_TIMEOUT_S ends the worker,
which is replaced (serving/watchdog.py). No adaptive batching: on CPU it gains at
most ~10 % in the model, and in BentoML 1.4.40 every batching set-up needs a service-to-service call
that drops in-flight calls under load; measured in bench/bento_batching.py, figures in
docs/BENCHMARKS.md.

Endpoints and their behaviour in BentoML 1.4.40, read in _bentoml_impl/server/app.py and
_bentoml_impl/tasks/result.py; all but cancel/retry and a dying worker are checked by
tests/test_service.py:

- `GET /readyz`: 200 once a model is loaded, else 503. `GET /livez`, `GET /healthz`: 200 while up.
- `POST /model`, JSON body `{}`: 200 `ModelInfo` of the loaded model (with the backend it runs on and
  its precision); 503 while none is loaded.
- `POST /detect/submit`, multipart/form-data with the file part `image` (raw bytes, any filename and
  content type) and the plain form fields `conf`, `iou`, `max_det` (each parsed as JSON, so `0.25`
  and `300` work; omitted fields take the defaults 0.25, 0.45, 300): 200
  `{"task_id": "<32 hex chars>", "status": "in_progress"}`. Submit never validates the input: it
  stores the request (SQLite; its headers only, see serving.task_store) and answers; parsing
  happens when the task runs, on the request in memory.
- `GET /detect/status?task_id=…`: 200 `{"task_id", "status", "created_at", "executed_at"}` with status
  `in_progress` | `completed` | `failed` (`canceled` only after /detect/cancel). The times are UTC
  without a zone suffix, to the second (`2026-11-26T04:47:03`), and `executed_at` is the submit time
  too (BentoML sets it on insert). Unknown id: 404 `{"error": "task_id not found"}`; no task_id: 400.
- `GET /detect/get?task_id=…`: when completed, 200 with the DetectionOutcome JSON. While the task
  runs: 400 `{"error": "task <id> is not completed yet"}`. Unknown id: 404.
  A task whose input BentoML itself could not parse (a form field that is not a number, no `image`
  part) ends `failed`, and /get answers 400 `{"error": "1 validation error for Input", "detail": […]}`;
  a task whose method raised would end `failed` with 500. `detect` itself never raises: every image
  ends `completed` with an outcome, its `error` naming the problem (image_decode_failed,
  image_too_large, invalid_parameters for thresholds out of range, model_error, no_model).
- `POST /detect/finished`, JSON `{"after": <cursor>, "wait": <seconds, 0-30>}`: 200
  `{"last": <cursor>, "task_ids": [...], "outcomes": {<task_id>: <DetectionOutcome>}}`, the tasks
  (of every worker) that finished after `after`, in order, and the outcome /detect/get would give
  for each that completed; answered as soon as there is one or when `wait` ends; `after` -1
  answers the current cursor at once. The gateway long-polls it to store a result as soon as it
  exists, without a /detect/get per task (serving/finished.py).
- `PUT /detect/cancel` marks an in-progress task `canceled` but answers 400 and does not stop it (the
  result then overwrites the status); `POST /detect/retry` would re-run a finished task under a new
  id from its stored request, which here has no body, so it ends failed. The gateway needs neither:
  it polls /detect/get alone, and retries from its own copy of the image.
- Tasks live in BENTOML_HOME/task_result.db (SQLite, shared by the workers, so status/get answer
  from any worker).
  BentoML deletes the file when the server starts: after a restart every earlier id answers 404.
  A task whose worker dies ends `failed` (500, naming the worker) when BentoML's arbiter has started
  its replacement (serving.dead_workers). Finished results are deleted after an
  hour (BentoML: 24 hours; serving.task_store).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import bentoml
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml.exceptions import ServiceUnavailable
from pydantic import Field

from mini_streamio.contracts import production_alias
from mini_streamio.schemas import (
    DEFAULT_CONF,
    DEFAULT_IOU,
    DEFAULT_MAX_DET,
    DetectionOutcome,
    ErrorCode,
    ModelInfo,
)
from mini_streamio.settings import get_settings

settings = get_settings()
# BentoML's logging config keeps the root logger at WARNING; model loads and swaps are worth INFO.
logging.getLogger("mini_streamio").setLevel(logging.INFO)

from mini_streamio.inference import ModelWatcher, RegistryModelSource  # noqa: E402
from mini_streamio.serving import doorbell, task_store  # noqa: E402
from mini_streamio.serving.finished import MAX_WAIT_S, FinishedReader, FinishedTasks  # noqa: E402
from mini_streamio.serving.orphans import exit_with_parent  # noqa: E402
from mini_streamio.serving.priority import lower_cpu_priority  # noqa: E402
from mini_streamio.serving.watchdog import Watchdog  # noqa: E402

# Before BentoML creates the store: see task_store for the defect it fixes. A stored finish rings the
# doorbell that wakes the workers' waiting /detect/finished requests.
task_store.install(on_finish=lambda: doorbell.beside_task_store().ring())

# The endpoints the gateway calls for every task.
TASK_PATHS = ["/detect/submit", "/detect/get", "/detect/status", "/detect/finished"]


def request_log_config(enabled: bool) -> dict[str, Any]:
    """BentoML's per-request work that serves no one here, unless BENTOML_REQUEST_LOG asks for it.

    An access log line per request, an INFO line per task submitted and completed, and an
    OpenTelemetry span per request with no exporter to send it to: a large share of a worker's CPU
    outside the model (profiled in docs/BENCHMARKS.md). The gateway logs every request.
    """
    if enabled:
        return {}
    return {"logging": {"access": {"enabled": False}}, "tracing": {"excluded_urls": TASK_PATHS}}


@bentoml.service(
    name="mini-streamio-detection",
    workers=settings.bentoml_workers,
    traffic={"timeout": 300},
    **request_log_config(settings.bentoml_request_log),
)
class Detection:
    def __init__(self) -> None:
        exit_with_parent()  # a worker must not outlive a server that was killed outright
        if not settings.bentoml_request_log:
            # Its lines per task submitted and completed; errors still show. In the workers only:
            # the server's start-up lines come from the same logger.
            logging.getLogger("bentoml.serve").setLevel(logging.WARNING)
        # Before the runtime starts its threads: they inherit it.
        lower_cpu_priority(settings.inference_nice, settings.inference_sched_idle)
        # Each worker runs one inference at a time; more runtime threads than cores per worker only
        # make the workers fight (measured: docs/BENCHMARKS.md).
        cores = len(os.sched_getaffinity(0))
        threads = settings.inference_threads or max(1, cores // settings.bentoml_workers)
        self.models = ModelWatcher(RegistryModelSource(settings, threads), settings.model_poll_interval_s)
        self.models.start()
        self.watchdog = Watchdog(settings.inference_timeout_s)
        self.watchdog.start()
        self.finishes = FinishedReader(BentoMLContainer.result_store_file.get(), doorbell.beside_task_store())

    @bentoml.on_shutdown
    def stop_watching(self) -> None:
        self.models.stop()

    async def __is_ready__(self) -> bool:
        return self.models.current is not None

    @bentoml.api(route="/model")
    async def model(self) -> ModelInfo:
        """The registry version now serving; 503 while none is loaded."""
        detector = self.models.current
        if detector is None:
            raise ServiceUnavailable("no model is loaded yet")
        return detector.info

    @bentoml.api(route="/detect/finished")
    async def finished(
        self,
        after: Annotated[int, Field(ge=-1)] = -1,
        wait: Annotated[float, Field(ge=0, le=MAX_WAIT_S)] = 0,
    ) -> FinishedTasks:
        """Ids of detect tasks finished after cursor `after`, waiting up to `wait` s for one."""
        return await self.finishes.wait_for(after, wait)

    @bentoml.task
    def detect(
        self,
        image: Path,
        conf: float = DEFAULT_CONF,
        iou: float = DEFAULT_IOU,
        max_det: int = DEFAULT_MAX_DET,
    ) -> DetectionOutcome:
        """Detects objects in one image; always completes, problems are reported in `error`."""
        detector = self.models.current
        if detector is None:
            return DetectionOutcome.failure(
                ErrorCode.NO_MODEL, f"no model is loaded: none has the '{production_alias()}' alias yet"
            )
        try:
            data = image.read_bytes()
        except OSError as error:
            return DetectionOutcome.failure(
                ErrorCode.IMAGE_DECODE_FAILED, f"the upload is unreadable: {error}"
            )
        with self.watchdog.watching():
            return detector.detect(data, conf, iou, max_det)
