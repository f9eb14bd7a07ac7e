"""Following the registry's production alias: a fake source for the watcher, the real registry for loading."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import mlflow
import pytest
from PIL import Image

from mini_streamio.inference import Detector, ModelWatcher, RegistryModelSource
from mini_streamio.inference.native import Boxes
from mini_streamio.mlflow_rest import MlflowRest
from mini_streamio.registry import EXPORTS_TAG, RegisteredWeights, register_weights, resolve
from mini_streamio.schemas import ModelInfo
from mini_streamio.settings import Settings
from mini_streamio.storage import minio_client
from tests.conftest import TinyModel


class FakeModel:
    """Never asked to predict: these tests follow which version is loaded."""

    def __init__(self) -> None:
        self.names = {0: "thing"}

    def predict(self, image: Image.Image, conf: float, iou: float, max_det: int) -> Boxes:
        raise NotImplementedError


def weights(version: str, exports: dict[str, dict[str, object]] | None = None) -> RegisteredWeights:
    uri = f"s3://models/fake/{version}/best.pt"
    return RegisteredWeights("fake", version, uri, None, ["thing"], exports=exports or {})


class FakeSource:
    """A registry whose alias the test moves; loading a version listed in `broken` fails."""

    def __init__(self) -> None:
        self.production_version: str | None = None
        self.unreachable = False
        self.broken: set[str] = set()
        self.loads: list[str] = []
        self.exports: dict[str, dict[str, object]] = {}

    def production(self) -> RegisteredWeights | None:
        if self.unreachable:
            raise ConnectionError("MLflow is down")
        return weights(self.production_version, self.exports) if self.production_version else None

    def load(self, registered: RegisteredWeights) -> Detector:
        self.loads.append(registered.version)
        if registered.version in self.broken:
            raise ValueError("not a checkpoint")
        return Detector(
            FakeModel(), ModelInfo(name="fake", version=registered.version, demo=False, class_names=[])
        )


def version_of(watcher: ModelWatcher) -> str | None:
    return watcher.current.info.version if watcher.current else None


def test_when_no_version_has_the_alias_then_nothing_is_served_until_one_gets_it() -> None:
    source = FakeSource()
    watcher = ModelWatcher(source, interval_s=60)
    watcher.refresh()
    assert watcher.current is None
    source.production_version = "1"
    watcher.refresh()
    assert version_of(watcher) == "1"


def test_when_the_alias_moves_then_the_new_version_replaces_the_old_and_held_references_keep_working() -> (
    None
):
    source = FakeSource()
    source.production_version = "1"
    watcher = ModelWatcher(source, interval_s=60)
    watcher.refresh()
    in_flight = watcher.current
    watcher.refresh()
    assert source.loads == ["1"], "an unchanged alias must not reload"
    source.production_version = "2"
    watcher.refresh()
    assert version_of(watcher) == "2"
    assert in_flight is not None
    assert in_flight.info.version == "1"


def test_when_the_version_serving_gets_an_int8_export_then_it_is_loaded_again_once() -> None:
    source = FakeSource()
    source.production_version = "1"
    source.exports = {"openvino": {"precision": "fp32"}}
    watcher = ModelWatcher(source, interval_s=60)
    watcher.refresh()
    source.exports["onnx"] = {"precision": "fp32"}  # another float export changes nothing served
    watcher.refresh()
    assert source.loads == ["1"]
    source.exports["openvino-int8"] = {"precision": "int8"}
    watcher.refresh()
    watcher.refresh()
    assert source.loads == ["1", "1"]


@pytest.mark.parametrize("trouble", ["broken version", "registry unreachable", "alias removed"])
def test_when_the_next_version_cannot_be_had_then_the_current_one_keeps_serving(trouble: str) -> None:
    source = FakeSource()
    source.production_version = "1"
    watcher = ModelWatcher(source, interval_s=60)
    watcher.refresh()
    if trouble == "broken version":
        source.production_version = "2"
        source.broken.add("2")
    elif trouble == "registry unreachable":
        source.unreachable = True
    else:
        source.production_version = None
    watcher.refresh()
    assert version_of(watcher) == "1"
    source.broken.clear()
    source.unreachable = False
    source.production_version = "2"
    watcher.refresh()
    assert version_of(watcher) == "2", "the next poll must try again"


def test_when_started_then_the_watcher_polls_in_the_background_until_stopped() -> None:
    source = FakeSource()
    source.production_version = "1"
    watcher = ModelWatcher(source, interval_s=0.01)
    watcher.start()
    try:
        for _ in range(500):
            if watcher.current is not None:
                break
            time.sleep(0.01)
        assert version_of(watcher) == "1"
    finally:
        watcher.stop()
    assert watcher._thread is not None
    assert not watcher._thread.is_alive()


def test_when_the_production_version_is_loaded_from_the_registry_then_weights_are_cached_and_detect(
    settings: Settings, tiny_model: TinyModel, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"registered_model_name": "source-test", "data_dir": tmp_path})
    mlflow.set_tracking_uri(str(local.mlflow_tracking_uri))
    with mlflow.start_run() as run:
        pass
    register_weights(local, tiny_model.weights, run.info.run_id, tiny_model.class_names, alias="production")
    source = RegistryModelSource(local)

    registered = source.production()
    assert registered is not None
    detector = source.load(registered)

    # auto on a CPU: OpenVINO, exported now (in a child process) and stored for the next load.
    assert detector.info == ModelInfo(
        name="source-test",
        version="1",
        demo=False,
        class_names=["circle", "square", "triangle"],
        backend="openvino",
        precision=detector.info.precision,
    )
    assert detector.info.precision in ("bf16", "fp32")
    assert "openvino" in (source.production() or registered).exports
    assert (tmp_path / "weights" / "source-test" / "1" / "best.pt").stat().st_size > 1_000_000
    outcome = detector.detect(tiny_model.images()[0].read_bytes(), 0.25, 0.45, 300)
    assert outcome.response is not None
    assert outcome.response.model.version == "1"


def test_when_registered_weights_do_not_load_then_the_cached_file_is_removed_for_a_fresh_download(
    settings: Settings, ultralytics_offline: None, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"registered_model_name": "broken-test", "data_dir": tmp_path})
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    mlflow.set_tracking_uri(str(local.mlflow_tracking_uri))
    with mlflow.start_run() as run:
        pass
    registered = register_weights(local, junk, run.info.run_id, ["a"], alias="production")
    with pytest.raises(Exception):  # noqa: B017 - whatever torch raises, the load must fail
        RegistryModelSource(local).load(registered)
    assert not (tmp_path / "weights" / "broken-test" / "1" / "best.pt").exists()


def test_when_the_chosen_export_cannot_run_then_the_version_is_served_by_torch(
    settings: Settings, tiny_model: TinyModel, tmp_path: Path
) -> None:
    local = settings.model_copy(
        update={"registered_model_name": "fallback-test", "data_dir": tmp_path, "inference_backend": "onnx"}
    )
    mlflow.set_tracking_uri(str(local.mlflow_tracking_uri))
    with mlflow.start_run() as run:
        pass
    registered = register_weights(local, tiny_model.weights, run.info.run_id, tiny_model.class_names)
    # An export listed on the version whose file is not a model (a truncated upload, say).
    garbage = b"not an onnx model"
    minio_client(local).put_object(
        local.models_bucket, "fallback-test/1/onnx/best.onnx", io.BytesIO(garbage), len(garbage)
    )
    entry = {"precision": "fp32", "imgsz": [64, 64], "files": ["best.onnx"], "bytes": len(garbage)}
    tag = {"name": "fallback-test", "version": "1", "key": EXPORTS_TAG, "value": json.dumps({"onnx": entry})}
    MlflowRest(str(local.mlflow_tracking_uri)).post("model-versions/set-tag", tag)

    detector = RegistryModelSource(local).load(resolve(local, "1", "fallback-test") or registered)

    assert (detector.info.backend, detector.info.precision) == ("torch", "fp32")
    outcome = detector.detect(tiny_model.images()[0].read_bytes(), 0.25, 0.45, 300)
    assert outcome.response is not None and outcome.response.model.backend == "torch"
