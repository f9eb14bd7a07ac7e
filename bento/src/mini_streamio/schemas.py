"""DTOs of the contract between the gateway and the BentoML service (its HTTP side: serving/service.py).

The JSON names (`boundingBox`, `class`, `className`) are the product's; Python uses snake_case
attributes and aliases, and every model serialises by alias so the wire format is the contract's:
contracts/detection-outcome.schema.json (tests/test_contracts.py checks these models against its fixtures).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mini_streamio.contracts import detection_param

# Defaults and ranges of the detection parameters: contracts/detection-params.schema.json.
CONF = detection_param("conf")
IOU = detection_param("iou")
MAX_DET = detection_param("max_det")
DEFAULT_CONF: float = CONF.default
DEFAULT_IOU: float = IOU.default
DEFAULT_MAX_DET: int = MAX_DET.default


class WireModel(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class DetectionParams(WireModel):
    """Thresholds of one detection: minimum confidence, NMS IoU and the most boxes kept."""

    conf: float = Field(default=DEFAULT_CONF, ge=float(CONF.minimum), le=float(CONF.maximum))
    iou: float = Field(default=DEFAULT_IOU, ge=float(IOU.minimum), le=float(IOU.maximum))
    max_det: int = Field(default=DEFAULT_MAX_DET, ge=MAX_DET.minimum, le=MAX_DET.maximum)


class Instance(WireModel):
    bounding_box: str = Field(alias="boundingBox", description="YOLO-normalised 'x_center y_center w h'")
    class_id: str = Field(alias="class", description="class id as a string")
    class_name: str = Field(alias="className")
    confidence: float


class ImageSize(WireModel):
    width: int
    height: int


class ModelRef(WireModel):
    name: str
    version: str
    backend: str = Field(description="the runtime that ran the model: torch, onnx, openvino or tensorrt")
    precision: str = Field(description="what the runtime computes in: fp32, bf16, fp16 or int8")


class DetectionResponse(WireModel):
    instances: list[Instance]
    image: ImageSize
    model: ModelRef
    inference_ms: float = Field(description="model time for this image (pre-process, forward, NMS)")


class ErrorCode(StrEnum):
    IMAGE_DECODE_FAILED = "image_decode_failed"
    IMAGE_TOO_LARGE = "image_too_large"
    INVALID_PARAMETERS = "invalid_parameters"
    MODEL_ERROR = "model_error"
    NO_MODEL = "no_model"


class DetectionError(WireModel):
    code: ErrorCode
    message: str


class DetectionOutcome(WireModel):
    """The result of one detection task: exactly one of `response` and `error` is set."""

    response: DetectionResponse | None = None
    error: DetectionError | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> DetectionOutcome:
        if (self.response is None) == (self.error is None):
            raise ValueError("exactly one of response and error must be set")
        return self

    @classmethod
    def failure(cls, code: ErrorCode, message: str) -> DetectionOutcome:
        return cls(error=DetectionError(code=code, message=message))


class ModelInfo(WireModel):
    """The registry version the service has loaded."""

    name: str
    version: str
    demo: bool
    class_names: list[str]
    backend: str = "torch"
    precision: str = "fp32"
