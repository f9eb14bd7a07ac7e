"""The BentoML service as a real process against real MinIO and MLflow: task endpoints and model lifecycle.

These tests also pin down how BentoML 1.4.40's task endpoints behave, which the gateway relies on
(see the docstring of mini_streamio.serving.service).
"""

from __future__ import annotations

import io
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pytest
from PIL import Image

from mini_streamio.inference.parity import xywh_iou
from mini_streamio.registry import register_weights
from mini_streamio.schemas import DetectionOutcome, DetectionResponse, ErrorCode
from mini_streamio.settings import Settings
from tests.conftest import BentoProcess, TinyModel
from tests.contract_check import validator
from tests.test_inference import png_header_claiming


def register(settings: Settings, tiny_model: TinyModel, name: str) -> str:
    """Registers the tiny model as a new version of `name` and gives it the production alias."""
    mlflow.set_tracking_uri(str(settings.mlflow_tracking_uri))
    with mlflow.start_run() as run:
        pass
    registered = register_weights(
        settings, tiny_model.weights, run.info.run_id, tiny_model.class_names, name=name, alias="production"
    )
    return registered.version


def submit(bento: BentoProcess, image: bytes, **fields: Any) -> str:
    reply = bento.http.post(
        "/detect/submit",
        files={"image": ("upload.jpg", image, "image/jpeg")},
        data={key: str(value) for key, value in fields.items()},
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["status"] == "in_progress"
    assert len(body["task_id"]) == 32
    return str(body["task_id"])


def finished_status(bento: BentoProcess, task_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = bento.http.get("/detect/status", params={"task_id": task_id})
        assert reply.status_code == 200, reply.text
        status: dict[str, Any] = reply.json()
        if status["status"] != "in_progress":
            return status
        time.sleep(0.1)
    raise TimeoutError(f"task {task_id} still in progress after {timeout} s")


def outcome_of(bento: BentoProcess, task_id: str) -> DetectionOutcome:
    assert finished_status(bento, task_id)["status"] == "completed"
    reply = bento.http.get("/detect/get", params={"task_id": task_id})
    assert reply.status_code == 200, reply.text
    return DetectionOutcome.model_validate(reply.json())


def response_of(bento: BentoProcess, task_id: str) -> DetectionResponse:
    outcome = outcome_of(bento, task_id)
    assert outcome.error is None, outcome.error
    assert outcome.response is not None
    return outcome.response


def served_version(bento: BentoProcess) -> str | None:
    reply = bento.http.post("/model", json={})
    return str(reply.json()["version"]) if reply.status_code == 200 else None


@pytest.fixture(scope="module")
def served(
    start_bento: Callable[..., BentoProcess], settings: Settings, tiny_model: TinyModel
) -> BentoProcess:
    """A service started after its model was registered, with the default number of workers."""
    name = f"served-{uuid.uuid4().hex[:8]}"
    register(settings, tiny_model, name)
    bento = start_bento(REGISTERED_MODEL_NAME=name)
    bento.wait_until(lambda: bento.http.get("/readyz").status_code == 200, "became ready")
    return bento


def test_when_an_image_is_submitted_then_the_task_completes_with_boxes_on_the_objects(
    served: BentoProcess, tiny_model: TinyModel
) -> None:
    hits, total = 0, 0
    for image in tiny_model.images()[:4]:
        task_id = submit(served, image.read_bytes(), conf=0.25, iou=0.45, max_det=300)
        status = finished_status(served, task_id)
        assert set(status) == {"task_id", "status", "created_at", "executed_at"}
        assert (status["task_id"], status["status"]) == (task_id, "completed")
        response = response_of(served, task_id)
        assert response.image.width == 64
        assert response.model.version == "1"
        assert response.model.backend == "openvino"
        found = [(int(i.class_id), [float(v) for v in i.bounding_box.split()]) for i in response.instances]
        for class_id, box in tiny_model.labels(image):
            total += 1
            hits += any(c == class_id and xywh_iou(b, box) > 0.5 for c, b in found)
    assert hits / total >= 0.8, f"{hits} of {total} objects found"


def test_when_a_worker_serves_an_openvino_export_then_it_never_loads_torch(served: BentoProcess) -> None:
    # torch and Ultralytics would cost the worker most of its memory; the export ran in a child process.
    workers = served.worker_pids()
    assert workers
    for pid in workers:
        libraries = Path(f"/proc/{pid}/maps").read_text()
        assert "libopenvino" in libraries
        assert "libtorch" not in libraries


def test_when_thresholds_are_sent_as_form_fields_then_they_apply(
    served: BentoProcess, tiny_model: TinyModel
) -> None:
    image = tiny_model.images()[0].read_bytes()
    loose = response_of(served, submit(served, image, conf=0.01))
    single = response_of(served, submit(served, image, conf=0.01, iou=0.45, max_det=1))
    defaults = response_of(served, submit(served, image))
    assert len(loose.instances) > 1
    assert len(single.instances) == 1
    assert all(i.confidence >= 0.25 for i in defaults.instances)


@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (b"plain text, not an image", ErrorCode.IMAGE_DECODE_FAILED),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", ErrorCode.IMAGE_DECODE_FAILED),
        (png_header_claiming(10_000, 10_000), ErrorCode.IMAGE_TOO_LARGE),
    ],
    ids=["text", "truncated-jpeg", "over-pixel-limit"],
)
def test_when_the_upload_is_not_a_usable_image_then_the_task_completes_with_an_error_outcome(
    served: BentoProcess, upload: bytes, code: ErrorCode
) -> None:
    outcome = outcome_of(served, submit(served, upload))
    assert outcome.response is None
    assert outcome.error is not None
    assert outcome.error.code == code


def test_when_a_threshold_is_out_of_range_then_the_task_completes_with_invalid_parameters(
    served: BentoProcess, tiny_model: TinyModel
) -> None:
    outcome = outcome_of(served, submit(served, tiny_model.images()[0].read_bytes(), conf=1.5))
    assert outcome.error is not None
    assert outcome.error.code == ErrorCode.INVALID_PARAMETERS


@pytest.mark.parametrize(
    ("files", "data"),
    [({"image": ("a.jpg", b"x", "image/jpeg")}, {"conf": "high"}), ({}, {"conf": "0.5"})],
    ids=["non-numeric-field", "no-image-part"],
)
def test_when_bentoml_cannot_parse_the_form_then_submit_accepts_but_the_task_fails_with_400(
    served: BentoProcess, files: dict[str, Any], data: dict[str, str]
) -> None:
    reply = served.http.post("/detect/submit", files=files or {"other": ("b", b"", "text/plain")}, data=data)
    assert reply.status_code == 200
    task_id = reply.json()["task_id"]
    assert finished_status(served, task_id)["status"] == "failed"
    result = served.http.get("/detect/get", params={"task_id": task_id})
    assert result.status_code == 400
    assert "validation error" in result.json()["error"]


def test_when_a_task_id_is_unknown_or_missing_then_status_and_get_answer_404_or_400(
    served: BentoProcess,
) -> None:
    for path in ("/detect/status", "/detect/get"):
        unknown = served.http.get(path, params={"task_id": uuid.uuid4().hex})
        assert (unknown.status_code, unknown.json()) == (404, {"error": "task_id not found"})
        assert served.http.get(path).status_code == 400


def test_when_tasks_finish_then_detect_finished_announces_them_and_their_outcomes_to_a_waiting_caller(
    served: BentoProcess, tiny_model: TinyModel
) -> None:
    cursor = served.http.post("/detect/finished", json={}).json()
    assert cursor["task_ids"] == []
    quiet = served.http.post("/detect/finished", json={"after": cursor["last"], "wait": 0.3})
    assert quiet.json() == cursor, "nothing finished: the wait ends empty, at the same cursor"

    image = tiny_model.images()[0].read_bytes()
    task_ids = [submit(served, image) for _ in range(3)]
    # One that BentoML itself fails (a form field it cannot parse): announced, with no outcome.
    failed = served.http.post(
        "/detect/submit", files={"image": ("a.jpg", image, "image/jpeg")}, data={"conf": "x"}
    )
    task_ids.append(failed.json()["task_id"])
    announced: list[str] = []
    outcomes: dict[str, Any] = {}
    deadline = time.monotonic() + 60
    while len(announced) < len(task_ids) and time.monotonic() < deadline:
        answer = served.http.post("/detect/finished", json={"after": cursor["last"], "wait": 10}).json()
        validator("finished-tasks").validate(answer)
        assert answer["last"] > cursor["last"]
        announced += answer["task_ids"]
        outcomes |= answer["outcomes"]
        cursor = answer
    assert sorted(announced) == sorted(task_ids), "each task announced once, by whichever worker ran it"
    assert set(outcomes) == set(task_ids[:3]), "an outcome for each completed task, none for the failed one"
    for task_id in task_ids[:3]:
        assert finished_status(served, task_id, timeout=1)["status"] == "completed"
        validator("detection-outcome").validate(outcomes[task_id])
        assert outcomes[task_id] == served.http.get("/detect/get", params={"task_id": task_id}).json()

    # A cursor past the end was given by a store a restart replaced: the answer starts over.
    replaced = served.http.post("/detect/finished", json={"after": cursor["last"] + 1000}).json()
    assert replaced["last"] == cursor["last"]
    assert set(announced) <= set(replaced["task_ids"])
    for bad in ({"wait": 31}, {"wait": -1}, {"after": -2}):
        assert served.http.post("/detect/finished", json=bad).status_code == 400


def test_when_a_task_is_still_queued_then_get_answers_400(
    served: BentoProcess, tiny_model: TinyModel
) -> None:
    # One worker thread takes the big images one at a time.
    task_ids = [submit(served, big_jpeg(tiny_model)) for _ in range(8)]
    last = task_ids[-1]
    status = served.http.get("/detect/status", params={"task_id": last}).json()
    result = served.http.get("/detect/get", params={"task_id": last})
    assert status["status"] == "in_progress", "the burst should still be queued; make the images bigger"
    assert (result.status_code, result.json()) == (400, {"error": f"task {last} is not completed yet"})
    assert finished_status(served, last)["status"] == "completed"


def test_when_the_production_alias_appears_and_moves_then_the_service_follows_it(
    start_bento: Callable[..., BentoProcess], settings: Settings, tiny_model: TinyModel
) -> None:
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    # One worker: with several, each switches on its own poll, and a request may meet either.
    bento = start_bento(REGISTERED_MODEL_NAME=name, MODEL_POLL_INTERVAL_S="0.5", BENTOML_WORKERS="1")
    image = tiny_model.images()[0].read_bytes()

    assert bento.http.get("/readyz").status_code == 503
    assert bento.http.post("/model", json={}).status_code == 503
    early = outcome_of(bento, submit(bento, image))
    assert early.error is not None
    assert early.error.code == ErrorCode.NO_MODEL

    assert register(settings, tiny_model, name) == "1"
    bento.wait_until(lambda: bento.http.get("/readyz").status_code == 200, "became ready")
    info = bento.http.post("/model", json={}).json()
    runtime = {key: info.pop(key) for key in ("backend", "precision")}
    assert info == {"name": name, "version": "1", "demo": False, "class_names": tiny_model.class_names}
    assert runtime["backend"] == "openvino"  # auto, on a CPU: the version was exported when first loaded
    assert runtime["precision"] in ("bf16", "fp32")
    assert response_of(bento, submit(bento, image)).model.version == "1"

    assert register(settings, tiny_model, name) == "2"
    bento.wait_until(lambda: served_version(bento) == "2", "switched to version 2")
    finished = submit(bento, image)
    assert response_of(bento, finished).model.version == "2"

    bento.restart()
    bento.wait_until(lambda: served_version(bento) == "2", "served version 2 after the restart")
    for path in ("/detect/status", "/detect/get"):
        assert bento.http.get(path, params={"task_id": finished}).status_code == 404


def is_running(pid: int) -> bool:
    """Whether the process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_when_the_server_is_killed_then_its_workers_end_and_their_uploads_are_gone_at_the_next_start(
    start_bento: Callable[..., BentoProcess], tiny_model: TinyModel
) -> None:
    bento = start_bento(REGISTERED_MODEL_NAME=f"none-{uuid.uuid4().hex[:8]}", BENTOML_WORKERS="1")
    temp = Path(bento.env["MINI_STREAMIO_DATA_DIR"]) / "bentoml" / "tmp"
    finished_status(bento, submit(bento, tiny_model.images()[0].read_bytes()))
    workers = bento.worker_pids()
    assert workers
    bento.kill()
    left_behind = {path.name for path in temp.glob("bentoml-request-*")}
    assert left_behind, f"BentoML should keep its request dirs in {temp}"
    deadline = time.monotonic() + 10
    while any(map(is_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(is_running, workers)), "the workers outlived their server"
    bento.start()
    assert not left_behind & {path.name for path in temp.glob("bentoml-request-*")}


def big_jpeg(tiny_model: TinyModel) -> bytes:
    """A 12 Mpx JPEG: it takes a while to decode and shrink, so a burst of them queues."""
    big = io.BytesIO()
    Image.open(tiny_model.images()[0]).resize((4000, 3000)).save(big, format="JPEG", quality=80)
    return big.getvalue()


def test_when_a_worker_dies_then_its_unfinished_tasks_end_failed_and_are_announced_once_a_new_one_starts(
    start_bento: Callable[..., BentoProcess], settings: Settings, tiny_model: TinyModel
) -> None:
    name = f"dying-{uuid.uuid4().hex[:8]}"
    register(settings, tiny_model, name)
    bento = start_bento(REGISTERED_MODEL_NAME=name, BENTOML_WORKERS="1")
    bento.wait_until(lambda: bento.http.get("/readyz").status_code == 200, "became ready")
    cursor = bento.http.post("/detect/finished", json={"after": -1}).json()["last"]
    image = big_jpeg(tiny_model)
    task_ids = [submit(bento, image) for _ in range(6)]
    [worker] = bento.worker_pids()
    os.kill(worker, signal.SIGKILL)
    bento.wait_until(lambda: bento.worker_pids() not in ([], [worker]), "started a new worker")

    statuses = {task_id: finished_status(bento, task_id)["status"] for task_id in task_ids}
    assert set(statuses.values()) <= {"completed", "failed"}
    assert statuses[task_ids[-1]] == "failed", "the last of the burst was still queued when its worker died"
    failure = bento.http.get("/detect/get", params={"task_id": task_ids[-1]})
    assert failure.status_code == 500
    assert f"(pid {worker}) died before it finished" in failure.json()["error"]
    announced = bento.http.post("/detect/finished", json={"after": cursor, "wait": 5}).json()["task_ids"]
    assert set(task_ids) <= set(announced)
