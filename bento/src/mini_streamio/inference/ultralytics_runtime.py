"""`.pt` weights (PyTorch) and TensorRT engines, run by Ultralytics' own predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from mini_streamio.inference.native import Boxes


class UltralyticsModel:
    """Ultralytics' YOLO predictor; needs mini_streamio.offline.configure_ultralytics() first."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.names: dict[int, str] = {int(k): str(v) for k, v in model.names.items()}

    @classmethod
    def load(cls, path: Path, threads: int) -> UltralyticsModel:
        import torch
        from ultralytics.models import YOLO

        if threads:
            torch.set_num_threads(threads)
        model = YOLO(str(path), task="detect")
        if model.task != "detect":
            raise ValueError(f"{path} holds a {model.task} model, not a detection model")
        return cls(model)

    def predict(self, image: Image.Image, conf: float, iou: float, max_det: int) -> Boxes:
        result = self.model.predict([image], conf=conf, iou=iou, max_det=max_det, verbose=False)[0]
        boxes = result.boxes
        return Boxes(
            xywhn=boxes.xywhn.numpy(),
            classes=boxes.cls.numpy().astype(int),
            confidences=boxes.conf.numpy(),
            milliseconds=sum(result.speed.values()),
        )
