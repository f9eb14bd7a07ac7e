"""Exports run in their runtimes and find what torch finds: the parity every backend must keep."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from mini_streamio.inference import Detector
from mini_streamio.inference.native import NativeModel
from mini_streamio.inference.parity import FLOAT, INT8, parity_problems
from mini_streamio.runtimes import (
    AUTO,
    Backend,
    ExportError,
    ExportOptions,
    backend_of,
    check_exportable,
    cuda_available,
    export_weights,
    resolve_backend,
)
from mini_streamio.schemas import ModelInfo
from tests.conftest import TinyModel
from tests.test_inference import response_of

# The exports compared with torch, by their key in a version's exports tag.
EXPORTS = {
    "onnx": ExportOptions(Backend.ONNX),
    "openvino": ExportOptions(Backend.OPENVINO),
    "openvino-int8": ExportOptions(Backend.OPENVINO, int8=True),  # calibrated on the 16 valid images
}


@pytest.fixture(scope="module")
def exports(tiny_model: TinyModel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exports")
    data = tiny_model.dataset / "data.yaml"
    made = {}
    for key, options in EXPORTS.items():
        options = replace(options, data=data) if options.int8 else options
        made[key] = export_weights(tiny_model.weights, options, root / key)
    return made


def detector(path: Path, backend: Backend) -> Detector:
    info = ModelInfo(name="tiny", version="1", demo=False, class_names=[], backend=backend, precision="fp32")
    return Detector.load(path, info, threads=1)


@pytest.mark.parametrize("key", list(EXPORTS))
def test_when_an_export_runs_then_it_finds_the_boxes_torch_finds(
    key: str, exports: dict[str, Path], tiny_model: TinyModel
) -> None:
    """Float exports to FLOAT (IoU >= 0.95, confidence within 0.02); int8 to INT8 (IoU >= 0.9, within 0.1)."""
    backend = backend_of(key)
    tolerance = INT8 if EXPORTS[key].int8 else FLOAT
    torch_detector = detector(tiny_model.weights, Backend.TORCH)
    export_detector = detector(exports[key], backend)
    compared, problems = 0, []
    for image in tiny_model.images():
        data = image.read_bytes()
        expected = response_of(torch_detector.detect(data, 0.25, 0.45, 300))
        actual = response_of(export_detector.detect(data, 0.25, 0.45, 300))
        assert actual.model.backend == backend
        compared += len(expected.instances)
        problems += [f"{image.name}: {p}" for p in parity_problems(expected, actual, 0.25, tolerance)]
    assert compared >= 10, "too few boxes to compare: the tiny model finds nothing"
    assert problems == [], f"{len(problems)} differences in {compared} boxes"


def test_when_an_int8_export_runs_then_int8_is_reported(exports: dict[str, Path]) -> None:
    loaded = detector(exports["openvino-int8"], Backend.OPENVINO)
    assert loaded.info.precision == "int8"
    assert loaded.ref.precision == "int8"  # the detection response's model block


def test_when_openvino_runs_on_this_cpu_then_its_precision_is_reported(exports: dict[str, Path]) -> None:
    loaded = detector(exports["openvino"], Backend.OPENVINO)
    assert isinstance(loaded.runtime, NativeModel)
    compiled = loaded.runtime.session.compiled  # type: ignore[attr-defined]
    assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
    # On part of the cores (a worker's share) no pinning: other workers' models share those cores.
    assert compiled.get_property("ENABLE_CPU_PINNING") is False
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    assert loaded.info.precision == {"bf16": "bf16", "f32": "fp32", "f16": "fp16"}[hint]


def test_when_openvino_has_every_core_then_it_pins_its_threads(exports: dict[str, Path]) -> None:
    info = ModelInfo(name="t", version="1", demo=False, class_names=[], backend="openvino", precision="fp32")
    cores = len(os.sched_getaffinity(0))
    for threads in (0, cores):  # the runtime's default, or every core
        loaded = Detector.load(exports["openvino"], info, threads=threads)
        assert loaded.runtime.session.compiled.get_property("ENABLE_CPU_PINNING") is True  # type: ignore[attr-defined]


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
    check_exportable(ExportOptions(Backend.OPENVINO, int8=True))  # nncf is in the lock's int8 group


def test_when_an_export_is_int8_then_it_is_kept_beside_the_float_one_of_its_backend() -> None:
    assert ExportOptions(Backend.OPENVINO).key == "openvino"
    assert ExportOptions(Backend.OPENVINO, half=True).key == "openvino"
    assert ExportOptions(Backend.OPENVINO, int8=True).key == "openvino-int8"
    assert backend_of("openvino-int8") is Backend.OPENVINO
    assert backend_of("tensorrt") is Backend.TENSORRT


def test_when_the_backend_is_auto_then_the_fastest_usable_runtime_is_chosen() -> None:
    assert resolve_backend(AUTO, set()) is Backend.OPENVINO
    assert resolve_backend(AUTO, {Backend.TENSORRT}) is (
        Backend.TENSORRT if cuda_available() else Backend.OPENVINO
    )
    assert resolve_backend("onnx", set()) is Backend.ONNX
    assert resolve_backend("torch", {Backend.OPENVINO}) is Backend.TORCH
