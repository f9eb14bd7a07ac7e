"""A run's weights evaluated again on a split: Ultralytics' validation (per-class AP, PR curve),
and predictions at a working confidence threshold matched to the ground truth box by box (hits,
misses, false positives and why) and counted in a confusion matrix.

`configure_ultralytics()` (mini_streamio.offline) must have run before these functions are called:
they import Ultralytics.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from mini_streamio import detection_metrics
from mini_streamio.analysis.dataset_stats import boxes_by_image

FloatArray = npt.NDArray[np.float64]
POOR_BOX_IOU = (
    0.1  # a false positive overlapping a box of its class at least this much is a localisation error
)
CONFUSION_IOU = 0.45  # Ultralytics' matching threshold for its confusion matrix
OUTCOME_COLUMNS = ["split", "file", "outcome", "note", "class_id", "conf", "iou", "x1", "y1", "x2", "y2"]


@dataclass(frozen=True)
class Validation:
    names: list[str]
    overall: dict[str, float]  # precision, recall, mAP50, mAP50-95
    per_class: pd.DataFrame  # index class: images, instances, precision, recall, F1, mAP50, mAP75, mAP50-95
    recall_points: FloatArray  # x of the PR curve
    precision_curves: dict[str, FloatArray]  # class -> precision at recall_points
    speed_ms: dict[str, float]  # per image: preprocess, inference, postprocess …


def validate(
    weights: Path, data_yaml: Path, imgsz: int, workdir: Path, split: str = "val", device: str = "cpu"
) -> Validation:
    """Ultralytics' own validation of `weights` on the split (the numbers training reports)."""
    from ultralytics.models import YOLO

    model = YOLO(str(weights))
    metrics = model.val(
        data=str(data_yaml),
        split=split,
        imgsz=imgsz,
        batch=16,
        device=device,
        workers=0,  # no loader processes: the split is small and the CPU is shared
        plots=False,  # the PR curves are computed anyway; its confusion matrix would count conf > 0.001
        project=str(workdir),
        name="val",
        exist_ok=True,
        verbose=False,
    )
    names = [str(metrics.names[i]) for i in sorted(metrics.names)]
    precision, recall, map50, map5095 = (float(v) for v in metrics.mean_results())
    rows = {str(row["Class"]): _per_class_row(row) for row in metrics.summary()}
    per_class = pd.DataFrame.from_dict(rows, orient="index").reindex(names)
    per_class.index.name = "class"
    recall_points, precision_values, _, _ = metrics.curves_results[0]
    present = [names[i] for i in metrics.ap_class_index]
    curves = {
        name: np.asarray(values, dtype=float) for name, values in zip(present, precision_values, strict=False)
    }
    return Validation(
        names=names,
        overall={"precision": precision, "recall": recall, "mAP50": map50, "mAP50-95": map5095},
        per_class=per_class,
        recall_points=np.asarray(recall_points, dtype=float),
        precision_curves=curves,
        speed_ms={key: float(value) for key, value in metrics.speed.items()},
    )


def _per_class_row(row: dict[str, Any]) -> dict[str, float]:
    return {
        "images": int(row["Images"]),
        "instances": int(row["Instances"]),
        "precision": float(row["Box-P"]),
        "recall": float(row["Box-R"]),
        "F1": float(row["Box-F1"]),
        "mAP50": float(row["mAP50"]),
        "mAP75": float(row["mAP75"]),
        "mAP50-95": float(row["mAP50-95"]),
    }


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box of `a` (n, 4) with every box of `b` (m, 4), both x1 y1 x2 y2
    (detection_metrics.iou, the one implementation)."""
    result: FloatArray = np.array(detection_metrics.iou_matrix(a.tolist(), b.tolist()), dtype=float)
    return result.reshape(len(a), len(b))


def greedy_matches(
    ious: FloatArray, same_class: npt.NDArray[np.bool_], confidences: FloatArray, iou_threshold: float
) -> npt.NDArray[np.int64]:
    """The ground-truth box each prediction takes (index, in the predictions' order) or -1: COCO's
    rule as the CLI's `evaluate` applies it (detection_metrics.greedy_matches, the one implementation)."""
    matched = detection_metrics.greedy_matches(
        ious.tolist(), same_class.tolist(), confidences.tolist(), iou_threshold
    )
    return np.array(matched, dtype=np.int64)


def match_boxes(
    truth: FloatArray,
    truth_classes: npt.NDArray[np.int64],
    predicted: FloatArray,
    predicted_classes: npt.NDArray[np.int64],
    confidences: FloatArray,
    iou_threshold: float = 0.5,
) -> list[dict[str, Any]]:
    """Each prediction (most confident first) takes a ground-truth box by greedy_matches: a hit (TP).
    Other predictions are false positives, noted `duplicate` (its box was already taken),
    `wrong class` (it covers a box of another class), `poor box` (it overlaps a box of its class,
    but by less than the threshold) or `background`; ground-truth boxes left free are misses (FN)."""
    ious = iou_matrix(predicted, truth).reshape(len(predicted), len(truth))
    same_class = predicted_classes[:, None] == truth_classes[None, :]
    matched = greedy_matches(ious, same_class, confidences, iou_threshold)
    taken = np.zeros(len(truth), dtype=bool)
    rows: list[dict[str, Any]] = []
    for p in np.argsort(-confidences, kind="stable"):
        same, overlaps = same_class[p], ious[p]
        if matched[p] >= 0:
            taken[matched[p]] = True
            outcome, note, iou = "TP", "", float(overlaps[matched[p]])
        else:
            outcome, iou = "FP", float(overlaps.max()) if len(truth) else 0.0
            if np.any(same & taken & (overlaps >= iou_threshold)):
                note = "duplicate"
            elif np.any(~same & (overlaps >= iou_threshold)):
                note = "wrong class"
            elif np.any(same & (overlaps >= POOR_BOX_IOU)):
                note = "poor box"
            else:
                note = "background"
        rows.append(
            _outcome(outcome, note, int(predicted_classes[p]), float(confidences[p]), iou, predicted[p])
        )
    rows += [
        _outcome("FN", "missed", int(truth_classes[t]), float("nan"), 0.0, truth[t])
        for t in np.flatnonzero(~taken)
    ]
    return rows


def _outcome(
    outcome: str, note: str, class_id: int, conf: float, iou: float, box: FloatArray
) -> dict[str, Any]:
    x1, y1, x2, y2 = (float(v) for v in box)
    return {"outcome": outcome, "note": note, "class_id": class_id, "conf": conf, "iou": iou} | {
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
    }


def truth_boxes(boxes: pd.DataFrame, width: int, height: int) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The label rows of one image (dataset_stats' box table) as pixel x1 y1 x2 y2 and class ids."""
    xc, yc = boxes["xc"].to_numpy() * width, boxes["yc"].to_numpy() * height
    w, h = boxes["w"].to_numpy() * width, boxes["h"].to_numpy() * height
    xyxy = np.stack([xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2], axis=1).reshape(-1, 4)
    return xyxy.astype(float), boxes["class_id"].to_numpy(dtype=np.int64)


def confusion_counts(
    truth: FloatArray,
    truth_classes: npt.NDArray[np.int64],
    predicted: FloatArray,
    predicted_classes: npt.NDArray[np.int64],
    confidences: FloatArray,
    classes: int,
    iou_threshold: float = CONFUSION_IOU,
) -> FloatArray:
    """One image's confusion matrix (rows predicted, columns true; the last of each is background),
    matched class-agnostically as Ultralytics does: greedy_matches with every class a candidate and
    IoU strictly above the threshold (Ultralytics' `>`), whatever its class."""
    matrix = np.zeros((classes + 1, classes + 1))
    ious = iou_matrix(predicted, truth).reshape(len(predicted), len(truth))
    any_class = np.ones(ious.shape, dtype=bool)
    matched = greedy_matches(ious, any_class, confidences, float(np.nextafter(iou_threshold, 1.0)))
    taken = np.zeros(len(truth), dtype=bool)
    for p, best in enumerate(matched):
        if best >= 0:
            taken[best] = True
            matrix[predicted_classes[p], truth_classes[best]] += 1
        else:
            matrix[predicted_classes[p], classes] += 1
    for t in np.flatnonzero(~taken):
        matrix[classes, truth_classes[t]] += 1
    return matrix


@dataclass(frozen=True)
class Predictions:
    conf: float
    outcomes: pd.DataFrame  # OUTCOME_COLUMNS: every prediction and every missed box, pixels
    confusion: FloatArray  # summed confusion_counts of every image


def predict_split(
    weights: Path,
    images: pd.DataFrame,
    boxes: pd.DataFrame,
    names: list[str],
    imgsz: int,
    conf: float = 0.25,
    iou_threshold: float = 0.5,
    device: str = "cpu",
) -> Predictions:
    """Predicts every image of `images` (rows of dataset_stats' image table) at confidence >= conf and
    compares it with its labels (`boxes`): outcomes box by box (match_boxes) and a confusion matrix."""
    from ultralytics.models import YOLO

    model = YOLO(str(weights))
    rows: list[dict[str, Any]] = []
    confusion = np.zeros((len(names) + 1, len(names) + 1))
    by_image = boxes_by_image(boxes)
    for image, result in zip(images.itertuples(), _predict(model, images, imgsz, conf, device), strict=True):
        truth = truth_boxes(
            by_image.get((image.split, image.file), boxes.iloc[0:0]), image.width, image.height
        )
        found = result.boxes
        predicted = (
            found.xyxy.cpu().numpy().astype(float),
            found.cls.cpu().numpy().astype(np.int64),
            found.conf.cpu().numpy().astype(float),
        )
        matched = match_boxes(*truth, *predicted, iou_threshold)
        rows += [{"split": image.split, "file": image.file} | row for row in matched]
        confusion += confusion_counts(*truth, *predicted, len(names))
    return Predictions(conf, pd.DataFrame(rows, columns=OUTCOME_COLUMNS), confusion)


def _predict(model: Any, images: pd.DataFrame, imgsz: int, conf: float, device: str) -> Iterator[Any]:
    for path in images["path"]:
        yield model.predict(str(path), imgsz=imgsz, conf=conf, device=device, verbose=False)[0]


def outcome_counts(outcomes: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per class: hits, misses and false positives (by reason) at the prediction threshold."""
    named = outcomes.assign(
        class_name=outcomes["class_id"].map(lambda c: names[c] if 0 <= c < len(names) else f"#{c}"),
        kind=outcomes["outcome"] + outcomes["note"].map(lambda n: f" ({n})" if n and n != "missed" else ""),
    )
    table = named.groupby(["class_name", "kind"]).size().unstack(fill_value=0).reindex(names, fill_value=0)
    for column in ("TP", "FN"):
        if column not in table:
            table[column] = 0
    fp = table[[c for c in table.columns if c.startswith("FP")]].sum(axis=1)
    table["precision"] = (table["TP"] / (table["TP"] + fp)).round(3)
    table["recall"] = (table["TP"] / (table["TP"] + table["FN"])).round(3)
    table.columns.name = None
    table.index.name = "class"
    return table


def images_by_errors(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per image: hits, misses, false positives; the images with the most errors first."""
    counts = outcomes.groupby(["split", "file", "outcome"]).size().unstack(fill_value=0)
    for column in ("TP", "FP", "FN"):
        if column not in counts:
            counts[column] = 0
    counts = counts[["TP", "FP", "FN"]].assign(errors=lambda t: t["FP"] + t["FN"])
    return counts.sort_values(["errors", "TP"], ascending=[False, False])
