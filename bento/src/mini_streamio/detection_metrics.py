"""Box matching and detection metrics, computed the COCO way; the one implementation of both.

  - matching (`greedy_matches`): detections in descending confidence each take the unmatched
    ground-truth box of highest IoU, if that IoU reaches the threshold;
  - AP: area under the precision envelope sampled at 101 recall points (0, 0.01, …, 1);
  - mAP50 = mean AP at IoU 0.50; mAP50-95 = mean AP over IoU 0.50, 0.55, …, 0.95; means are over
    the classes that have ground truth.

On the same detections `evaluate_detections` equals pycocotools' COCOeval (bbox, area "all") to
rounding (tests/test_detection_metrics.py, on tests/coco_reference.py's cases), except that every
detection counts: COCOeval keeps the 100 most confident per image and class (maxDets), the
service's max_det decides here. Precision and recall are reported, as Ultralytics does, at the
confidence that maximises the class-mean F1 at IoU 0.50 (Ultralytics smooths that curve first; we
do not).

Users: the CLI's `evaluate` (through `python -m mini_streamio.shared_rules evaluate`) and the
notebook's box-by-box diagnosis (analysis/evaluation.py). Pure Python, no numpy: the CLI's spawn
starts in milliseconds.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

# x1, y1, x2, y2 (any unit, the same for both boxes of a comparison)
Corners = Sequence[float]

IOU_THRESHOLDS: tuple[float, ...] = tuple(0.5 + 0.05 * i for i in range(10))
# As pycocotools' np.linspace(0, 1, 101): i * 0.01, which for ten points is one ulp above i / 100
# (35 * 0.01 = 0.35000000000000003), so a recall of exactly 35/100 does not reach that point.
RECALL_POINTS: tuple[float, ...] = tuple(1.0 if i == 100 else i * 0.01 for i in range(101))


def corners(xc: float, yc: float, w: float, h: float) -> tuple[float, float, float, float]:
    """A YOLO centre-form box as x1 y1 x2 y2."""
    return xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2


def iou(a: Corners, b: Corners) -> float:
    """Intersection over union of two x1 y1 x2 y2 boxes; 0 when they do not overlap."""
    overlap_w = min(a[2], b[2]) - max(a[0], b[0])
    overlap_h = min(a[3], b[3]) - max(a[1], b[1])
    if overlap_w <= 0 or overlap_h <= 0:
        return 0.0
    intersection = overlap_w * overlap_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def iou_matrix(a: Sequence[Corners], b: Sequence[Corners]) -> list[list[float]]:
    """IoU of every box of `a` with every box of `b`."""
    return [[iou(p, g) for g in b] for p in a]


def confidence_order(confidences: Sequence[float]) -> list[int]:
    """Indices, most confident first; equal confidences keep their order (COCO's mergesort)."""
    return sorted(range(len(confidences)), key=lambda p: -confidences[p])


def greedy_matches(
    ious: Sequence[Sequence[float]],
    same_class: Sequence[Sequence[bool]] | None,
    confidences: Sequence[float],
    iou_threshold: float,
) -> list[int]:
    """The ground-truth box each prediction takes (index, in the predictions' order) or -1.

    COCO's rule: predictions most confident first (ties keep their order) each take the free box
    of their class (`same_class[p][g]`; None: any box) they overlap most, if IoU >= threshold;
    among equal overlaps the later box wins, as pycocotools compares with >=."""
    threshold = min(iou_threshold, 1 - 1e-10)
    matched = [-1] * len(confidences)
    taken: set[int] = set()
    for p in confidence_order(confidences):
        row = ious[p]
        if not row or max(row) < threshold:
            continue  # most low-confidence detections overlap nothing: skipped without a loop
        allowed = same_class[p] if same_class is not None else None
        best, best_iou = -1, threshold
        for g, overlap in enumerate(row):
            if overlap >= best_iou and g not in taken and (allowed is None or allowed[g]):
                best, best_iou = g, overlap
        if best >= 0:
            taken.add(best)
            matched[p] = best
    return matched


def average_precision(true_positive: Sequence[bool], positives: int) -> float:
    """101-point interpolated AP of detections already in descending confidence."""
    if positives == 0 or not true_positive:
        return 0.0
    hits = list(accumulate(true_positive))  # true positives so far
    recall = [tp / positives for tp in hits]
    precision = [tp / (i + 1) for i, tp in enumerate(hits)]
    # The precision envelope: the best precision at this recall or any higher one.
    envelope = list(accumulate(reversed(precision), max))[::-1]
    total = 0.0
    for point in RECALL_POINTS:
        index = bisect_left(recall, point)  # recall never decreases: the first reaching the point
        if index < len(recall):
            total += envelope[index]
    return total / len(RECALL_POINTS)


@dataclass(frozen=True)
class ImageDetections:
    """One image: ground truth (class, xc, yc, w, h) and predictions (class, xc, yc, w, h, confidence)."""

    truth: Sequence[Sequence[float]]
    predictions: Sequence[Sequence[float]]


@dataclass(frozen=True)
class _Scored:
    confidence: float
    true_positive: tuple[bool, ...]  # at each of IOU_THRESHOLDS


def _match_image(truth: Sequence[Sequence[float]], predictions: Sequence[Sequence[float]]) -> list[_Scored]:
    """One class in one image, matched at every IoU threshold; predictions most confident first."""
    ordered = [predictions[p] for p in confidence_order([p[5] for p in predictions])]
    boxes = [corners(*g[1:5]) for g in truth]
    ious = [[iou(corners(*p[1:5]), g) for g in boxes] for p in ordered]
    # A prediction overlapping no box by the lowest threshold never matches: only the others are
    # matched (in the same order, so each takes what it would have taken among all).
    lowest = min(IOU_THRESHOLDS)
    candidates = [d for d, row in enumerate(ious) if row and max(row) >= lowest]
    hits = [[False] * len(IOU_THRESHOLDS) for _ in ordered]
    for t, threshold in enumerate(IOU_THRESHOLDS):
        matched = greedy_matches(
            [ious[d] for d in candidates], None, [ordered[d][5] for d in candidates], threshold
        )
        for d, box in zip(candidates, matched, strict=True):
            hits[d][t] = box >= 0
    return [_Scored(p[5], tuple(hit)) for p, hit in zip(ordered, hits, strict=True)]


def _mean(values: Sequence[float]) -> float:
    total = 0.0
    for value in values:
        total += value
    return total / len(values) if values else 0.0


def evaluate_detections(images: Sequence[ImageDetections]) -> dict[str, Any]:
    """mAP50, mAP50-95, and precision and recall at the best-F1 confidence, overall and per class
    (the classes with ground truth, by id). Keys as `evaluate --json` writes them."""
    class_ids = sorted({int(g[0]) for image in images for g in image.truth})
    per_class: list[dict[str, Any]] = []
    for class_id in class_ids:
        scored: list[_Scored] = []
        instances = with_class = 0
        for image in images:
            truth = [g for g in image.truth if int(g[0]) == class_id]
            predictions = [p for p in image.predictions if int(p[0]) == class_id]
            scored += _match_image(truth, predictions)
            instances += len(truth)
            with_class += bool(truth)
        # Stable sort: ties keep image order, as COCO's mergesort does.
        scored.sort(key=lambda d: -d.confidence)
        by_threshold = list(zip(*(d.true_positive for d in scored), strict=True)) or [()] * len(
            IOU_THRESHOLDS
        )
        ap = [average_precision(hits, instances) for hits in by_threshold]
        per_class.append(
            {"id": class_id, "images": with_class, "instances": instances, "ap": ap, "scored": scored}
        )
    confidence = _best_f1_confidence([(c["scored"], c["instances"]) for c in per_class])
    classes = []
    for c in per_class:
        precision, recall = _precision_recall_at(c["scored"], c["instances"], confidence)
        classes.append(
            {
                "id": c["id"],
                "images": c["images"],
                "instances": c["instances"],
                "precision": precision,
                "recall": recall,
                "mAP50": c["ap"][0],
                "mAP50-95": _mean(c["ap"]),
            }
        )
    return {
        "images": len(images),
        "instances": sum(c["instances"] for c in classes),
        "precision": _mean([c["precision"] for c in classes]),
        "recall": _mean([c["recall"] for c in classes]),
        "mAP50": _mean([c["mAP50"] for c in classes]),
        "mAP50-95": _mean([c["mAP50-95"] for c in classes]),
        "confidence": confidence,
        "classes": classes,
    }


def _precision_recall_at(scored: list[_Scored], instances: int, threshold: float) -> tuple[float, float]:
    """Precision and recall at IoU 0.50 counting only detections with confidence >= threshold."""
    tp = kept = 0
    for d in scored:
        if d.confidence < threshold:
            break
        kept += 1
        tp += d.true_positive[0]
    return (tp / kept if kept else 0.0), (tp / instances if instances else 0.0)


def _best_f1_confidence(classes: list[tuple[list[_Scored], int]]) -> float:
    """The candidate confidence (one of the detections') with the highest class-mean F1 at IoU 0.50."""
    # One sweep per class over its detections gives F1 at each of its own confidences; between
    # them F1 is constant, so each class's F1 at any candidate is a lookup.
    curves: list[tuple[list[float], list[float]]] = []  # descending confidences, the F1 at each
    for scored, instances in classes:
        confidences: list[float] = []
        f1s: list[float] = []
        tp = 0
        for i, d in enumerate(scored):
            tp += d.true_positive[0]
            precision = tp / (i + 1)
            recall = tp / instances if instances else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
            # Equal confidences are kept or dropped together: only the last of a run counts.
            if confidences and confidences[-1] == d.confidence:
                f1s[-1] = f1
            else:
                confidences.append(d.confidence)
                f1s.append(f1)
        curves.append((confidences, f1s))

    # Every candidate (one of the detections' confidences), from the highest down: each class's F1
    # there is at its last point with confidence >= the candidate, a pointer that only moves on.
    candidates = sorted({c for confidences, _ in curves for c in confidences}, reverse=True)
    kept = [0] * len(curves)
    best_confidence, best_f1 = 0.0, -1.0
    for confidence in candidates:
        f1_here = []
        for k, (confidences, f1s) in enumerate(curves):
            while kept[k] < len(confidences) and confidences[kept[k]] >= confidence:
                kept[k] += 1
            f1_here.append(f1s[kept[k] - 1] if kept[k] else 0.0)
        f1 = _mean(f1_here)
        if f1 > best_f1:  # on ties the higher confidence, met first, stays
            best_confidence, best_f1 = confidence, f1
    return best_confidence
