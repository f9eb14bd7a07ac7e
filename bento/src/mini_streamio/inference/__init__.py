"""Inference without BentoML: decoding uploads, running a YOLO model, following the registry alias."""

from mini_streamio.inference.detector import Detector
from mini_streamio.inference.images import ImageRejectedError, decode_image
from mini_streamio.inference.model_source import ModelSource, ModelWatcher, RegistryModelSource

__all__ = [
    "Detector",
    "ImageRejectedError",
    "ModelSource",
    "ModelWatcher",
    "RegistryModelSource",
    "decode_image",
]
