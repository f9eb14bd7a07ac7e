"""The Detector without BentoML: decoding guards, thresholds and the contract's output format."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mini_streamio.inference import Detector, ImageRejectedError, decode_image
from mini_streamio.inference.native import Boxes
from mini_streamio.inference.parity import xywh_iou
from mini_streamio.schemas import DetectionOutcome, DetectionResponse, ErrorCode, ModelInfo
from tests.conftest import TinyModel
from tests.contract_check import validator

INFO = ModelInfo(name="tiny", version="7", demo=False, class_names=["circle", "square", "triangle"])


@pytest.fixture(scope="module")
def detector(tiny_model: TinyModel) -> Detector:
    return Detector.load(tiny_model.weights, INFO)


def response_of(outcome: DetectionOutcome) -> DetectionResponse:
    # What BentoML sends is contracts/detection-outcome.schema.json.
    validator("detection-outcome").validate(outcome.model_dump(mode="json"))
    assert outcome.error is None, outcome.error
    assert outcome.response is not None
    return outcome.response


def encoded(image_path: Path, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.open(image_path).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels but holds a few bytes of data: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_when_an_image_of_shapes_is_detected_then_every_object_gets_a_box_of_its_class(
    detector: Detector, tiny_model: TinyModel
) -> None:
    hits, total = 0, 0
    for image in tiny_model.images()[:8]:
        response = response_of(detector.detect(image.read_bytes(), conf=0.25, iou=0.45, max_det=300))
        found = [(int(i.class_id), [float(v) for v in i.bounding_box.split()]) for i in response.instances]
        for class_id, box in tiny_model.labels(image):
            total += 1
            hits += any(c == class_id and xywh_iou(b, box) > 0.5 for c, b in found)
    assert hits / total >= 0.8, f"{hits} of {total} objects found"


def test_when_a_detection_succeeds_then_the_response_has_the_contract_format(
    detector: Detector, tiny_model: TinyModel
) -> None:
    image = tiny_model.images()[0]
    outcome = detector.detect(image.read_bytes(), conf=0.25, iou=0.45, max_det=300)
    wire = outcome.model_dump(mode="json")

    assert wire["error"] is None
    response = wire["response"]
    assert response["image"] == {"width": 64, "height": 64}
    assert response["model"] == {"name": "tiny", "version": "7", "backend": "torch", "precision": "fp32"}
    assert response["inference_ms"] > 0
    assert response["instances"]
    for instance in response["instances"]:
        assert set(instance) == {"boundingBox", "class", "className", "confidence"}
        assert re.fullmatch(r"0\.\d{4} 0\.\d{4} [01]\.\d{4} [01]\.\d{4}", instance["boundingBox"])
        assert instance["class"] in {"0", "1", "2"}
        assert instance["className"] == INFO.class_names[int(instance["class"])]
        assert instance["confidence"] == round(instance["confidence"], 4)
        assert 0.25 <= instance["confidence"] <= 1


@pytest.mark.parametrize(("fmt", "options"), [("PNG", {}), ("WEBP", {"lossless": True}), ("BMP", {})])
def test_when_the_image_is_png_webp_or_bmp_then_it_is_detected_like_the_jpeg(
    detector: Detector, tiny_model: TinyModel, fmt: str, options: dict[str, Any]
) -> None:
    image = tiny_model.images()[1]
    jpeg = response_of(detector.detect(image.read_bytes(), 0.25, 0.45, 300))
    other = response_of(detector.detect(encoded(image, fmt, **options), 0.25, 0.45, 300))
    assert sorted(i.class_id for i in other.instances) == sorted(i.class_id for i in jpeg.instances)


def test_when_the_image_has_an_alpha_channel_or_is_greyscale_then_it_is_converted(
    detector: Detector, tiny_model: TinyModel
) -> None:
    image = Image.open(tiny_model.images()[0])
    for mode in ("RGBA", "L", "P"):
        buffer = io.BytesIO()
        image.convert(mode).save(buffer, format="PNG")
        response = response_of(detector.detect(buffer.getvalue(), 0.25, 0.45, 300))
        assert response.image.width == 64


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, this is text", "is not a JPEG, PNG, WEBP or BMP image"),
        (b"GIF89a" + b"\0" * 64, "is not a JPEG, PNG, WEBP or BMP image"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 10, "JPEG image (14 bytes) is truncated or corrupt"),
    ],
)
def test_when_the_upload_is_not_a_supported_image_then_the_outcome_is_image_decode_failed(
    detector: Detector, data: bytes, message: str
) -> None:
    outcome = detector.detect(data, 0.25, 0.45, 300)
    assert outcome.response is None
    assert outcome.error is not None
    assert outcome.error.code == ErrorCode.IMAGE_DECODE_FAILED
    assert message in outcome.error.message


def test_when_a_jpeg_is_cut_short_then_the_outcome_names_the_truncation(
    detector: Detector, tiny_model: TinyModel
) -> None:
    data = encoded(tiny_model.images()[0], "JPEG", quality=95)
    outcome = detector.detect(data[: len(data) // 2], 0.25, 0.45, 300)
    assert outcome.error is not None
    assert outcome.error.code == ErrorCode.IMAGE_DECODE_FAILED
    assert "truncated" in outcome.error.message


def test_when_the_header_claims_an_absurd_pixel_count_then_it_is_refused_before_decoding() -> None:
    with pytest.raises(ImageRejectedError) as rejected:
        decode_image(png_header_claiming(10_000, 10_000), max_pixels=50_000_000)
    assert rejected.value.code == ErrorCode.IMAGE_TOO_LARGE
    assert "10000x10000 = 100000000 pixels, over the limit of 50000000" in rejected.value.message
    # Past Pillow's own limit its error comes first; the outcome is the same.
    with pytest.raises(ImageRejectedError) as rejected:
        decode_image(png_header_claiming(100_000, 100_000), max_pixels=50_000_000)
    assert rejected.value.code == ErrorCode.IMAGE_TOO_LARGE
    assert "10000000000 pixels" in rejected.value.message


def test_when_the_image_is_over_the_configured_pixel_limit_then_the_outcome_is_image_too_large(
    tiny_model: TinyModel, detector: Detector
) -> None:
    strict = Detector(detector.runtime, INFO, max_image_pixels=64 * 64 - 1)
    outcome = strict.detect(tiny_model.images()[0].read_bytes(), 0.25, 0.45, 300)
    assert outcome.error is not None
    assert outcome.error.code == ErrorCode.IMAGE_TOO_LARGE
    assert "64x64 = 4096 pixels, over the limit of 4095" in outcome.error.message


def test_when_conf_rises_then_fewer_boxes_remain_and_none_below_it(
    detector: Detector, tiny_model: TinyModel
) -> None:
    data = tiny_model.images()[0].read_bytes()
    loose = response_of(detector.detect(data, conf=0.01, iou=0.45, max_det=300))
    strict = response_of(detector.detect(data, conf=0.8, iou=0.45, max_det=300))
    assert len(strict.instances) < len(loose.instances)
    assert all(i.confidence >= 0.8 for i in strict.instances)
    assert all(i.confidence >= 0.01 for i in loose.instances)


def test_when_iou_is_lower_then_nms_suppresses_more_overlapping_boxes(
    detector: Detector, tiny_model: TinyModel
) -> None:
    data = tiny_model.images()[0].read_bytes()
    suppressive = response_of(detector.detect(data, conf=0.001, iou=0.1, max_det=300))
    permissive = response_of(detector.detect(data, conf=0.001, iou=0.9, max_det=300))
    assert len(suppressive.instances) < len(permissive.instances)


def test_when_max_det_is_one_then_only_the_most_confident_box_is_kept(
    detector: Detector, tiny_model: TinyModel
) -> None:
    data = tiny_model.images()[0].read_bytes()
    everything = response_of(detector.detect(data, conf=0.01, iou=0.45, max_det=300))
    one = response_of(detector.detect(data, conf=0.01, iou=0.45, max_det=1))
    assert len(everything.instances) > 1
    assert [i.confidence for i in one.instances] == [max(i.confidence for i in everything.instances)]


@pytest.mark.parametrize(
    ("conf", "iou", "max_det", "named"),
    [(1.5, 0.45, 300, "conf=1.5"), (0.25, -0.1, 300, "iou=-0.1"), (0.25, 0.45, 0, "max_det=0")],
)
def test_when_a_threshold_is_out_of_range_then_the_outcome_is_invalid_parameters(
    detector: Detector, tiny_model: TinyModel, conf: float, iou: float, max_det: int, named: str
) -> None:
    outcome = detector.detect(tiny_model.images()[0].read_bytes(), conf, iou, max_det)
    assert outcome.error is not None
    assert outcome.error.code == ErrorCode.INVALID_PARAMETERS
    assert named in outcome.error.message


def test_when_detections_follow_one_another_then_each_outcome_is_the_one_its_image_gets_alone(
    detector: Detector, tiny_model: TinyModel
) -> None:
    first, second = (p.read_bytes() for p in tiny_model.images()[:2])
    alone = [detector.detect(data, 0.25, 0.45, 300) for data in (first, second)]
    outcomes = [
        detector.detect(first, 0.25, 0.45, 300),
        detector.detect(b"junk", 0.25, 0.45, 300),
        detector.detect(second, 0.25, 0.45, 1),
        detector.detect(second, 0.25, 0.45, 300),
    ]
    assert response_of(outcomes[0]).instances == response_of(alone[0]).instances
    assert outcomes[1].error is not None
    assert outcomes[1].error.code == ErrorCode.IMAGE_DECODE_FAILED
    assert len(response_of(outcomes[2]).instances) == 1
    assert response_of(outcomes[3]).instances == response_of(alone[1]).instances


class ExplodingModel:
    def __init__(self) -> None:
        self.names = {0: "thing"}

    def predict(self, image: Image.Image, conf: float, iou: float, max_det: int) -> Boxes:
        raise RuntimeError("CUDA out of memory")


def test_when_the_model_raises_then_the_outcome_is_model_error_naming_the_cause(
    tiny_model: TinyModel,
) -> None:
    outcome = Detector(ExplodingModel(), INFO).detect(tiny_model.images()[0].read_bytes(), 0.25, 0.45, 300)
    assert outcome.error is not None
    assert outcome.error.code == ErrorCode.MODEL_ERROR
    assert outcome.error.message == "model tiny v7 failed: RuntimeError: CUDA out of memory"


def test_when_weights_are_not_a_model_then_loading_fails_instead_of_serving(
    ultralytics_offline: None, tmp_path: Path
) -> None:
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"not a checkpoint")
    with pytest.raises(Exception):  # noqa: B017 - whatever torch raises, loading must not succeed
        Detector.load(weights, INFO)
