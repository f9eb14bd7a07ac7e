"""Exports run in their runtimes and find what torch finds: the parity every backend must keep."""

from __future__ import annotations

from pathlib import Path

import pytest

from mini_streamio.inference import Detector
from mini_streamio.runtimes import (
    AUTO,
    Backend,
    ExportError,
    ExportOptions,
    check_exportable,
    cuda_available,
    export_weights,
    resolve_backend,
)
from mini_streamio.schemas import DetectionResponse, ModelInfo
from tests.conftest import TinyModel
from tests.test_inference import response_of, xywh_iou

CONF = 0.25
# Boxes this close to the threshold may fall on either side of it in another runtime.
CONF_TOLERANCE = 0.02
MIN_IOU = 0.95


def parity_problems(reference: DetectionResponse, other: DetectionResponse) -> list[str]:
    """What differs between two responses to one image: every box clear of the threshold must match one
    box of the same class (IoU >= 0.95, confidence within 0.02), and nothing clear of it may be extra."""
    problems = []
    candidates = list(other.instances)
    for box in reference.instances:
        xywh = [float(v) for v in box.bounding_box.split()]
        same_class = [c for c in candidates if c.class_id == box.class_id]
        best = max(
            same_class, key=lambda c: xywh_iou(xywh, [float(v) for v in c.bounding_box.split()]), default=None
        )
        if best is None:
            if box.confidence >= CONF + CONF_TOLERANCE:
                problems.append(f"missing {box.class_name} {box.bounding_box} conf {box.confidence}")
            continue
        iou = xywh_iou(xywh, [float(v) for v in best.bounding_box.split()])
        if iou < MIN_IOU or abs(best.confidence - box.confidence) > CONF_TOLERANCE:
            problems.append(f"{box.class_name} {box.bounding_box}@{box.confidence} vs {best.bounding_box}@"
                            f"{best.confidence}: IoU {iou:.3f}")  # fmt: skip
        candidates.remove(best)
    problems += [
        f"extra {c.class_name} conf {c.confidence}"
        for c in candidates
        if c.confidence >= CONF + CONF_TOLERANCE
    ]
    return problems


@pytest.fixture(scope="module")
def exports(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> dict[Backend, Path]:
    root = tmp_path_factory.mktemp("exports")
    return {
        backend: export_weights(tiny_model.weights, ExportOptions(backend), root / backend)
        for backend in (Backend.ONNX, Backend.OPENVINO)
    }


def detector(path: Path, backend: Backend) -> Detector:
    info = ModelInfo(name="tiny", version="1", demo=False, class_names=[], backend=backend, precision="fp32")
    return Detector.load(path, info, threads=1)


@pytest.mark.parametrize("backend", [Backend.ONNX, Backend.OPENVINO])
def test_when_an_export_runs_then_it_finds_the_boxes_torch_finds(
    backend: Backend, exports: dict[Backend, Path], tiny_model: TinyModel
) -> None:
    torch_detector = detector(tiny_model.weights, Backend.TORCH)
    export_detector = detector(exports[backend], backend)
    compared, problems = 0, []
    for image in tiny_model.images():
        data = image.read_bytes()
        expected = response_of(torch_detector.detect(data, CONF, 0.45, 300))
        actual = response_of(export_detector.detect(data, CONF, 0.45, 300))
        assert actual.model.backend == backend
        compared += len(expected.instances)
        problems += [f"{image.name}: {problem}" for problem in parity_problems(expected, actual)]
    assert compared >= 10, "too few boxes to compare: the tiny model finds nothing"
    assert problems == [], f"{len(problems)} differences in {compared} boxes"


def test_when_openvino_runs_on_this_cpu_then_its_precision_is_reported(exports: dict[Backend, Path]) -> None:
    loaded = detector(exports[Backend.OPENVINO], Backend.OPENVINO)
    compiled = loaded.model.predictor.model.backend.ov_compiled_model
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    assert loaded.info.precision == {"bf16": "bf16", "f32": "fp32", "f16": "fp16"}[hint]


def test_when_an_export_is_asked_for_then_what_is_missing_here_is_named() -> None:
    if not cuda_available():
        with pytest.raises(ExportError, match="TensorRT engine needs an NVIDIA GPU"):
            check_exportable(ExportOptions(Backend.TENSORRT))
    with pytest.raises(ExportError, match="cannot be exported"):
        check_exportable(ExportOptions(Backend.TORCH))
    with pytest.raises(ExportError, match="one of --half and --int8"):
        check_exportable(ExportOptions(Backend.OPENVINO, half=True, int8=True))
    with pytest.raises(ExportError, match="not onnx"):
        check_exportable(ExportOptions(Backend.ONNX, int8=True))
    check_exportable(ExportOptions(Backend.OPENVINO))


def test_when_the_backend_is_auto_then_the_fastest_usable_runtime_is_chosen() -> None:
    assert resolve_backend(AUTO, set()) is Backend.OPENVINO
    assert resolve_backend(AUTO, {Backend.TENSORRT}) is (
        Backend.TENSORRT if cuda_available() else Backend.OPENVINO
    )
    assert resolve_backend("onnx", set()) is Backend.ONNX
    assert resolve_backend("torch", {Backend.OPENVINO}) is Backend.TORCH
