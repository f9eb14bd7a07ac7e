"""Short findings in prose, computed from the tables, so that the notebook's conclusions hold for
whatever dataset and run it is executed on (CI runs it on synthetic data)."""

from __future__ import annotations

import pandas as pd

from mini_streamio.analysis.duplicates import DuplicateReport
from mini_streamio.analysis.runs import FITNESS, LOSSES

STRONG_IMBALANCE = 3.0  # most / least frequent class, in boxes


def dataset_findings(
    split_table: pd.DataFrame, class_table: pd.DataFrame, duplicates: DuplicateReport
) -> list[str]:
    notes = _balance(class_table)
    images, empty = int(split_table.loc["all", "images"]), int(split_table.loc["all", "empty_label_images"])
    if empty:
        notes.append(
            f"{empty} of {images} images ({empty / images:.0%}) have no box: background images, which "
            "teach the detector what is not a target."
        )
    notes += _copies(duplicates)
    notes.append(_leakage(duplicates))
    return notes


def _balance(class_table: pd.DataFrame) -> list[str]:
    boxes = class_table[[c for c in class_table.columns if c.endswith(" boxes")]].sum(axis=1)
    if len(boxes) < 2:
        return []
    if boxes.min() == 0:
        return [f"Classes without any box: {', '.join(boxes[boxes == 0].index)}."]
    ratio = boxes.max() / boxes.min()
    verdict = "a strong imbalance" if ratio >= STRONG_IMBALANCE else "balanced enough"
    return [
        f"Class balance: {boxes.idxmax()} has {boxes.max()} boxes, {boxes.idxmin()} {boxes.min()} "
        f"({ratio:.1f} to 1): {verdict}."
    ]


def _copies(duplicates: DuplicateReport) -> list[str]:
    exact, near = duplicates.summary("exact_group"), duplicates.summary("near_group")
    notes = []
    for split in exact.index:
        files, distinct = int(exact.loc[split, "images"]), int(exact.loc[split, "distinct"])
        if files == distinct:
            continue
        merged = int(near.loc[split, "distinct"])
        notes.append(
            f"{split}: {files} files but only {distinct} distinct images; {files - distinct} "
            f"({(files - distinct) / files:.0%}) are byte-identical copies, {files / distinct:.2f} files "
            f"per image. Counting near-duplicates (dHash distance ≤ {duplicates.threshold}) as one, "
            f"{split} holds {merged} distinct images. An epoch therefore shows each image about "
            f"{files / distinct:.1f} times: more epochs of a smaller dataset, not more data."
        )
    return notes


def _leakage(duplicates: DuplicateReport) -> str:
    near = duplicates.summary("near_group")
    held_out = [split for split in near.index if split != "train"]
    leaks = {split: int(near.loc[split, "shared with train"]) for split in held_out}
    if not any(leaks.values()):
        return (
            f"No validation or test image has an exact or near-duplicate (dHash distance ≤ "
            f"{duplicates.threshold}) in train: the copies stay inside train and do not inflate "
            "the validation scores."
        )
    shown = ", ".join(
        f"{split} {count} of {int(near.loc[split, 'images'])}" for split, count in leaks.items() if count
    )
    return (
        f"Leakage: images with an exact or near-duplicate in train: {shown}. For those the "
        "score measures memory rather than generalisation."
    )


def training_findings(epochs: pd.DataFrame, best: int | None) -> list[str]:
    if best is None or epochs.empty or FITNESS not in epochs:
        return ["No validated epoch: nothing to say about the curves."]
    score = epochs[FITNESS]
    last = int(epochs.index.max())
    notes = [
        f"Best epoch {best} of {last}: mAP50-95 {score.loc[best]:.3f} (last epoch {score.loc[last]:.3f})."
    ]
    tail = score.iloc[-max(3, len(score) // 5) :]
    if best >= last - 1 and len(tail) > 1 and tail.iloc[-1] > tail.iloc[0]:
        notes.append(
            f"mAP50-95 was still rising over the last {len(tail)} epochs "
            f"({tail.iloc[0]:.3f} → {tail.iloc[-1]:.3f}): under-trained, more epochs should pay off."
        )
    notes += [note for loss in LOSSES if (note := _loss_trend(epochs, loss, last))]
    return notes


def _loss_trend(epochs: pd.DataFrame, loss: str, last: int) -> str | None:
    train, val = epochs.get(f"train/{loss}"), epochs.get(f"val/{loss}")
    if train is None or val is None or len(val.dropna()) < 3:
        return None
    lowest = int(val.idxmin())
    if lowest >= last - 1:
        return f"val/{loss} was at its lowest at the end ({val.loc[last]:.3f}): no over-fitting yet."
    if val.loc[last] > val.min() * 1.05 and train.loc[last] < train.loc[lowest]:
        return (
            f"val/{loss} bottomed at epoch {lowest} ({val.min():.3f}) and rose to {val.loc[last]:.3f} "
            f"while train/{loss} kept falling: over-fitting."
        )
    return f"val/{loss} has flattened since epoch {lowest} ({val.min():.3f} → {val.loc[last]:.3f})."
