"""pycocotools' numbers for a generated set of detections: the reference `evaluate` is held to.

`generate_case(seed)` builds images with ground truth and predictions in the CLI's terms (YOLO
boxes, normalised; several classes, varied confidences with ties, misses, loose and duplicate
boxes, wrong classes, false positives, a class never predicted and one never labelled).
`coco_scores(case)` runs pycocotools' COCOeval on it. The fixture tests/fixtures/coco-agreement.json
holds both; tests/test_detection_metrics.py feeds the same images to detection_metrics (what
`evaluate` computes) and compares, and tests/test_coco_reference.py checks the fixture is what this
module computes. Regenerate it with

    .stack/python bento/tests/coco_reference.py
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import sys
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "coco-agreement.json"
SEEDS = (1, 2, 3)
CLASSES = 5  # ids 0-3 labelled; 4 only ever predicted (no ground truth: left out of the means)
NEVER_PREDICTED = 3


class Box(TypedDict):
    classId: int
    xc: float
    yc: float
    w: float
    h: float


class Prediction(Box):
    confidence: float


class Image(TypedDict):
    width: int
    height: int
    groundTruth: list[Box]
    predictions: list[Prediction]


class Scores(TypedDict):
    mAP50: float
    mAP50_95: float
    classes: dict[str, dict[str, float]]


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


def _box(class_id: int, xc: float, yc: float, w: float, h: float) -> Box:
    # Clipped to the image and rounded as the service's boundingBox strings are (6 digits here).
    x0, x1 = _clip(xc - w / 2), _clip(xc + w / 2)
    y0, y1 = _clip(yc - h / 2), _clip(yc + h / 2)
    return Box(
        classId=class_id,
        xc=round((x0 + x1) / 2, 6),
        yc=round((y0 + y1) / 2, 6),
        w=round(x1 - x0, 6),
        h=round(y1 - y0, 6),
    )


def _prediction(box: Box, confidence: float) -> Prediction:
    return Prediction(**box, confidence=round(confidence, 3))  # 3 digits: ties happen


def generate_case(seed: int, images: int = 60) -> list[Image]:
    rng = random.Random(seed)
    case: list[Image] = []
    for _ in range(images):
        width, height = rng.choice([(640, 480), (320, 320), (1280, 720), (500, 375)])
        truth = [
            _box(
                rng.randrange(NEVER_PREDICTED + 1),
                rng.uniform(0.1, 0.9),
                rng.uniform(0.1, 0.9),
                rng.uniform(0.04, 0.4),
                rng.uniform(0.04, 0.4),
            )
            for _ in range(rng.randrange(0, 7))
        ]
        predictions: list[Prediction] = []
        for gt in truth:
            if gt["classId"] == NEVER_PREDICTED or rng.random() < 0.2:
                continue  # a miss
            # Jitter of 0-35 % of the size: IoUs from about 0.3 to 1, across the 0.50:0.95 thresholds.
            jitter = rng.uniform(0, 0.35)
            found = _box(
                gt["classId"] if rng.random() > 0.1 else rng.randrange(CLASSES),  # sometimes the wrong class
                gt["xc"] + rng.uniform(-jitter, jitter) * gt["w"],
                gt["yc"] + rng.uniform(-jitter, jitter) * gt["h"],
                gt["w"] * (1 + rng.uniform(-jitter, jitter)),
                gt["h"] * (1 + rng.uniform(-jitter, jitter)),
            )
            confidence = _clip(0.95 - jitter + rng.gauss(0, 0.15))
            predictions.append(_prediction(found, max(0.001, confidence)))
            if rng.random() < 0.15:  # a duplicate of the same object, less confident
                predictions.append(_prediction(found, max(0.001, confidence * rng.uniform(0.3, 1.0))))
        for _ in range(rng.randrange(0, 4)):  # false positives, anywhere
            wrong = _box(
                rng.randrange(CLASSES),
                rng.uniform(0, 1),
                rng.uniform(0, 1),
                rng.uniform(0.03, 0.3),
                rng.uniform(0.03, 0.3),
            )
            predictions.append(_prediction(wrong, rng.uniform(0.001, 0.7)))
        rng.shuffle(predictions)
        case.append(Image(width=width, height=height, groundTruth=truth, predictions=predictions))
    return case


def generate_hundred_case() -> list[Image]:
    """100 boxes of one class, found in turn, with false positives right after some of the hits.

    Recall then takes every value k/100, so each of COCO's 101 recall points falls on a step of the
    curve. numpy's recall points (np.linspace) are i * 0.01, which is not i / 100 for ten of them
    (35 * 0.01 = 0.35000000000000003): those must reach the next step, whose precision is lower
    here because the false positives follow exactly those hits.
    """
    steps = {round(i * 0.01 * 100) for i in range(101) if i * 0.01 != i / 100}
    case: list[Image] = []
    confidence = 1.0
    hit = 0
    for _ in range(25):
        truth = [_box(0, 0.125 + 0.25 * col, 0.5, 0.2, 0.2) for col in range(4)]
        predictions: list[Prediction] = []
        for gt in truth:
            confidence -= 0.002
            predictions.append(_prediction(gt, confidence))
            hit += 1
            for _ in range(3 if hit in steps else 0):
                confidence -= 0.002
                predictions.append(_prediction(_box(0, gt["xc"], 0.9, 0.1, 0.1), confidence))
        case.append(Image(width=400, height=100, groundTruth=truth, predictions=predictions))
    return case


def _pixels(box: Box, width: int, height: int) -> list[float]:
    return [
        (box["xc"] - box["w"] / 2) * width,
        (box["yc"] - box["h"] / 2) * height,
        box["w"] * width,
        box["h"] * height,
    ]


def coco_scores(case: list[Image]) -> Scores:
    """COCOeval (bbox) over the case: AP at IoU 0.50 and over 0.50:0.95, overall and per class.

    maxDets is raised to 1000 so that no detection is cut (the service's max_det decides that),
    and every image is one COCO image, in order.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    detections: list[dict[str, Any]] = []
    for image_id, image in enumerate(case, start=1):
        images.append({"id": image_id, "width": image["width"], "height": image["height"]})
        for gt in image["groundTruth"]:
            xywh = _pixels(gt, image["width"], image["height"])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": gt["classId"],
                    "bbox": xywh,
                    "area": xywh[2] * xywh[3],
                    "iscrowd": 0,
                }
            )
        for p in image["predictions"]:
            detections.append(
                {
                    "image_id": image_id,
                    "category_id": p["classId"],
                    "bbox": _pixels(p, image["width"], image["height"]),
                    "score": p["confidence"],
                }
            )
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth = COCO()
        truth.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": c} for c in range(CLASSES)],
        }
        truth.createIndex()
        results = truth.loadRes(detections)
        evaluation = COCOeval(truth, results, "bbox")
        evaluation.params.maxDets = [1, 10, 1000]
        evaluation.evaluate()
        evaluation.accumulate()
    # precision[T, R, K, A, M]: IoU threshold, recall point, class, area range ("all"), maxDets (1000).
    precision = evaluation.eval["precision"][:, :, :, 0, 2]
    classes: dict[str, dict[str, float]] = {}
    for k, class_id in enumerate(evaluation.params.catIds):
        per_class = precision[:, :, k]
        if (per_class > -1).any():  # -1: no ground truth of this class
            classes[str(class_id)] = {
                "mAP50": float(per_class[0].mean()),
                "mAP50_95": float(per_class.mean()),
            }
    return Scores(
        mAP50=float(np.mean([c["mAP50"] for c in classes.values()])),
        mAP50_95=float(np.mean([c["mAP50_95"] for c in classes.values()])),
        classes=classes,
    )


def fixture() -> dict[str, Any]:
    cases: list[dict[str, Any]] = []
    for seed in SEEDS:
        case = generate_case(seed)
        cases.append({"name": f"random, seed {seed}", "images": case, "pycocotools": coco_scores(case)})
    hundred = generate_hundred_case()
    cases.append({"name": "recall in steps of 1/100", "images": hundred, "pycocotools": coco_scores(hundred)})
    return {
        "about": "Generated by bento/tests/coco_reference.py: pycocotools' COCOeval on these detections.",
        "cases": cases,
    }


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture(), separators=(",", ":")) + "\n")
    print(f"wrote {FIXTURE}", file=sys.stderr)
