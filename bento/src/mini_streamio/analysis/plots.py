"""The notebook's figures. Each function returns a matplotlib Figure sized to read well at the
notebook's modest resolution (see `use_notebook_style`), which keeps the committed notebook small.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator
from PIL import Image

from mini_streamio.analysis.dataset_stats import boxes_by_image
from mini_streamio.analysis.evaluation import FloatArray, Validation, truth_boxes
from mini_streamio.analysis.runs import LOSSES, QUALITY

CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452", "test": "#55a868"}
# (edge colour, line style) of a box by its role in the predictions figure
OUTCOME_STYLE = {
    "truth": ("#2ca02c", "-"),
    "TP": ("#1f77b4", "-"),
    "FP": ("#d62728", "-"),
    "FN": ("#ff7f0e", "--"),
}


def use_notebook_style(dpi: int = 72) -> None:
    """Small PNGs: a low figure dpi and plain styling. (Not the layout engine: Ultralytics draws
    its own plots with these settings too, and adjusts their layout by hand.)"""
    mpl.rcParams.update(
        {
            "figure.dpi": dpi,
            "savefig.dpi": dpi,
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
        }
    )


def show(figure: Figure) -> None:
    """Displays the figure as a PNG with a 256-colour palette (dithered), then closes it.

    A palette PNG is 2-3 times smaller than a true-colour one for photographs and no different
    for line plots, which keeps the committed notebook small.
    """
    from IPython.display import Image as Picture
    from IPython.display import display

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    with Image.open(buffer) as rendered:
        rgb = rendered.convert("RGB")
    palette = rgb.quantize(256)
    compact = io.BytesIO()
    rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(
        compact, format="png", optimize=True
    )
    display(Picture(data=compact.getvalue(), format="png"))


def class_colour(class_id: int) -> str:
    return CLASS_COLOURS[class_id % len(CLASS_COLOURS)]


def _split_colours(splits: Sequence[object]) -> list[str]:
    """The split's own colour; other names get the class palette."""
    return [SPLIT_COLOURS.get(str(s), CLASS_COLOURS[i % len(CLASS_COLOURS)]) for i, s in enumerate(splits)]


def split_bars(table: pd.DataFrame, title: str) -> Figure:
    """Grouped bars: the table's index on the x axis, one bar per column."""
    figure, axis = plt.subplots(layout="constrained", figsize=(6, 3))
    table.plot.bar(ax=axis, rot=0, color=_split_colours(table.columns))
    for container in axis.containers:
        axis.bar_label(container, fontsize=8)  # type: ignore[arg-type]
    axis.set_title(title)
    axis.set_xlabel("")
    return figure


def boxes_per_image(images: pd.DataFrame) -> Figure:
    """Share of each split's images with 0, 1, 2 … boxes."""
    figure, axis = plt.subplots(layout="constrained", figsize=(6, 3))
    counts = images.groupby("split", sort=False)["boxes"].value_counts(normalize=True).unstack(0).fillna(0)
    counts.sort_index().plot.bar(ax=axis, rot=0, color=_split_colours(counts.columns))
    axis.set_xlabel("boxes in the image")
    axis.set_ylabel("share of the split's images")
    axis.set_title("Boxes per image")
    return figure


def box_geometry(boxes: pd.DataFrame, names: Sequence[str]) -> Figure:
    """Per class: width and height (pixels), area (% of the image, log) and aspect ratio w/h (log)."""
    figure, axes = plt.subplots(1, 4, layout="constrained", figsize=(12, 2.8))
    panels = [
        ("w_px", "width (px)", False),
        ("h_px", "height (px)", False),
        ("area", "area (% of image)", True),
        ("aspect", "aspect ratio w/h", True),
    ]
    for axis, (column, label, log) in zip(axes, panels, strict=True):
        values_all = boxes[column] * (100 if column == "area" else 1)
        positive = values_all[values_all > 0]
        if positive.empty:
            continue
        low, high = float(positive.min()), float(positive.max())
        if high <= low * 1.01:  # one value (e.g. all boxes square): a range around it
            low, high = low / 1.5, high * 1.5
        spaced = np.geomspace(low, high, 30) if log else np.linspace(low, high, 30)
        bins = [float(edge) for edge in spaced]
        for class_id, name in enumerate(names):
            values = values_all[boxes["class_id"] == class_id]
            axis.hist(values, bins=bins, alpha=0.55, label=name, color=class_colour(class_id))
        if log:
            axis.set_xscale("log")
            axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_xlabel(label)
    axes[0].set_ylabel("boxes")
    axes[0].legend(fontsize=8)
    figure.suptitle("Box geometry per class")
    return figure


def centre_heatmap(boxes: pd.DataFrame, names: Sequence[str], bins: int = 20) -> Figure:
    """Where box centres fall in the (normalised) image, one panel per class."""
    figure, axes = plt.subplots(
        1, len(names), layout="constrained", figsize=(3.2 * len(names), 3), squeeze=False
    )
    for class_id, (axis, name) in enumerate(zip(axes[0], names, strict=True)):
        of_class = boxes[boxes["class_id"] == class_id]
        counts, _, _ = np.histogram2d(of_class["yc"], of_class["xc"], bins=bins, range=[[0, 1], [0, 1]])
        shown = axis.imshow(counts, extent=(0, 1, 1, 0), cmap="magma", interpolation="nearest")
        figure.colorbar(shown, ax=axis, shrink=0.8)
        axis.set_title(f"{name} ({len(of_class)} boxes)")
        axis.set_xlabel("x")
        axis.set_ylabel("y")
        axis.grid(False)
    figure.suptitle("Box centres (image coordinates, top-left origin)")
    return figure


def draw_boxes(
    axis: Any,
    xyxy: FloatArray,
    classes: Sequence[int],
    names: Sequence[str],
    styles: Sequence[tuple[str, str]] | None = None,
) -> None:
    """Boxes (pixels, x1 y1 x2 y2) coloured by class, or in the given (colour, line style)s."""
    for index, (box, class_id) in enumerate(zip(xyxy, classes, strict=True)):
        colour, line = styles[index] if styles else (class_colour(class_id), "-")
        axis.add_patch(_frame(box, colour, line))


def _frame(xyxy: Sequence[float], colour: str, line: str = "-", width: float = 1.2) -> Rectangle:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return Rectangle(
        (x1, y1), x2 - x1, y2 - y1, fill=False, linewidth=width, edgecolor=colour, linestyle=line
    )


def _thumbnail(path: str, axis: Any, title: str) -> None:
    with Image.open(path) as image:
        axis.imshow(image.convert("RGB"))
    axis.set_title(title, fontsize=7)
    axis.set_axis_off()


def sample_grid(images: pd.DataFrame, boxes: pd.DataFrame, names: Sequence[str], columns: int = 4) -> Figure:
    """The given images with their ground-truth boxes, coloured by class."""
    rows = max(1, -(-len(images) // columns))
    figure, axes = plt.subplots(
        rows, columns, layout="constrained", figsize=(2.4 * columns, 2.5 * rows), squeeze=False
    )
    by_image = boxes_by_image(boxes)
    for axis, image in zip(axes.flat, images.itertuples(), strict=False):
        own = by_image.get((image.split, image.file), boxes.iloc[0:0])
        xyxy, classes = truth_boxes(own, image.width, image.height)
        _thumbnail(image.path, axis, f"{image.split}: {len(own)} box(es)")
        draw_boxes(axis, xyxy, list(classes), names)
    for axis in axes.flat[len(images) :]:
        axis.set_axis_off()
    handles = [_frame((0, 0, 1, 1), class_colour(i)) for i in range(len(names))]
    figure.legend(handles, names, loc="outside lower center", ncol=len(names), fontsize=8)
    return figure


def image_pairs(pairs: pd.DataFrame, title: str, columns: int = 3) -> Figure:
    """Side by side pairs of images (columns path_a, label_a, path_b, label_b, distance)."""
    rows = max(1, -(-len(pairs) // columns))
    figure, axes = plt.subplots(
        rows, 2 * columns, layout="constrained", figsize=(2 * 2 * columns, 2.2 * rows), squeeze=False
    )
    for index, pair in enumerate(pairs.itertuples()):
        row, column = divmod(index, columns)
        _thumbnail(pair.path_a, axes[row, 2 * column], pair.label_a)
        _thumbnail(pair.path_b, axes[row, 2 * column + 1], f"{pair.label_b} (d={pair.distance:.0f})")
    for axis in axes.flat[2 * len(pairs) :]:
        axis.set_axis_off()
    figure.suptitle(title)
    return figure


def distance_histogram(distances: dict[str, pd.Series], threshold: int) -> Figure:
    """Distribution of the dHash distance from each image to its closest training image."""
    figure, axis = plt.subplots(layout="constrained", figsize=(6, 3))
    bins = [edge - 0.5 for edge in range(34)]
    for split, values in distances.items():
        axis.hist(
            values.clip(upper=32),
            bins=bins,
            density=True,
            alpha=0.6,
            label=split,
            color=SPLIT_COLOURS.get(split),
        )
    axis.axvline(threshold + 0.5, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold}")
    axis.set_xlabel("bits differing from the closest other train image (dHash, 64 bits; 32 = 32 or more)")
    axis.set_ylabel("share of the split's images")
    axis.legend(fontsize=8)
    axis.set_title("How close is each image to the training set?")
    return figure


def loss_curves(epochs: pd.DataFrame, best: int | None) -> Figure:
    """Train and validation losses per epoch (box, cls, dfl), the best epoch marked."""
    figure, axes = plt.subplots(1, len(LOSSES), layout="constrained", figsize=(11, 2.8))
    for axis, loss in zip(axes, LOSSES, strict=True):
        for split, style in (("train", "-o"), ("val", "-s")):
            column = f"{split}/{loss}"
            if column in epochs:
                axis.plot(epochs.index, epochs[column], style, markersize=3, label=split)
        _mark_best(axis, best)
        axis.set_title(loss)
        axis.set_xlabel("epoch")
    axes[0].legend(fontsize=8)
    return figure


def quality_curves(epochs: pd.DataFrame, best: int | None) -> Figure:
    """Validation precision, recall, mAP50 and mAP50-95 per epoch."""
    figure, axis = plt.subplots(layout="constrained", figsize=(7, 3))
    for label, column in QUALITY.items():
        if column in epochs:
            axis.plot(epochs.index, epochs[column], "-o", markersize=3, label=label)
    _mark_best(axis, best)
    axis.set_xlabel("epoch")
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8, loc="upper left")
    axis.set_title("Validation metrics per epoch")
    return figure


def _mark_best(axis: Any, best: int | None) -> None:
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if best is not None:
        axis.axvline(best, color="grey", linestyle=":", linewidth=1)
        axis.annotate(
            f"best {best}", (best, 1), xycoords=("data", "axes fraction"), fontsize=7, ha="right", va="top"
        )


def confusion(matrix: FloatArray, names: Sequence[str], conf: float) -> Figure:
    """Confusion matrix (rows predicted, columns true, background last), each true column normalised."""
    labels = [*names, "background"]
    totals = matrix.sum(axis=0, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = 1.1 * len(labels) + 1.5
    figure, axis = plt.subplots(layout="constrained", figsize=(size + 0.8, size))
    shown = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if shares[row, column] > 0.5 else "black"
        text = f"{shares[row, column]:.2f}\n({count:.0f})"
        axis.text(column, row, text, ha="center", va="center", fontsize=8, color=colour)
    axis.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("true")
    axis.set_ylabel("predicted")
    axis.grid(False)
    figure.colorbar(shown, ax=axis, shrink=0.8)
    axis.set_title(f"Confusion matrix at confidence >= {conf:g}\n(share of each true class, counts)")
    return figure


def pr_curves(validation: Validation) -> Figure:
    figure, axis = plt.subplots(layout="constrained", figsize=(4.5, 3.5))
    for class_id, name in enumerate(validation.names):
        curve = validation.precision_curves.get(name)
        if curve is not None:
            ap = validation.per_class.loc[name, "mAP50"]
            axis.plot(
                validation.recall_points, curve, color=class_colour(class_id), label=f"{name} AP50 {ap:.3f}"
            )
    if validation.precision_curves:
        mean = np.mean(list(validation.precision_curves.values()), axis=0)
        label = f"all classes mAP50 {validation.overall['mAP50']:.3f}"
        axis.plot(validation.recall_points, mean, color="black", linewidth=2, label=label)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.legend(fontsize=7, loc="upper right")
    axis.set_title("Precision-recall (IoU 0.5)")
    return figure


def predictions_vs_truth(
    images: pd.DataFrame, boxes: pd.DataFrame, outcomes: pd.DataFrame, names: Sequence[str]
) -> Figure:
    """Per image, ground truth (left; misses dashed orange) and predictions (right; hits blue,
    false positives red, with their reason)."""
    figure, axes = plt.subplots(
        len(images), 2, layout="constrained", figsize=(7, 3.5 * len(images)), squeeze=False
    )
    by_image = boxes_by_image(boxes)
    outcomes_by_image = dict(iter(outcomes.groupby(["split", "file"])))
    for (left, right), image in zip(axes, images.itertuples(), strict=True):
        own = outcomes_by_image.get((image.split, image.file), outcomes.iloc[0:0])
        truth = by_image.get((image.split, image.file), boxes.iloc[0:0])
        xyxy, classes = truth_boxes(truth, image.width, image.height)
        misses = own[own["outcome"] == "FN"]
        found = own[own["outcome"] != "FN"]
        _thumbnail(image.path, left, f"truth: {len(xyxy)} box(es), {len(misses)} missed")
        draw_boxes(left, xyxy, list(classes), names, [OUTCOME_STYLE["truth"]] * len(xyxy))
        _draw_outcomes(left, misses, names)
        false = int((found["outcome"] == "FP").sum())
        _thumbnail(image.path, right, f"predicted: {len(found)} box(es), {false} false")
        _draw_outcomes(right, found, names)
    handles = [_frame((0, 0, 1, 1), colour, line) for colour, line in OUTCOME_STYLE.values()]
    labels = ["ground truth", "hit (TP)", "false positive", "missed (FN)"]
    figure.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=8)
    return figure


def _draw_outcomes(axis: Any, outcomes: pd.DataFrame, names: Sequence[str]) -> None:
    for row in outcomes.itertuples():
        colour, line = OUTCOME_STYLE[str(row.outcome)]
        axis.add_patch(_frame((row.x1, row.y1, row.x2, row.y2), colour, line, width=1.4))
        name = names[int(row.class_id)] if 0 <= int(row.class_id) < len(names) else str(row.class_id)
        text = name if row.outcome == "FN" else f"{name} {row.conf:.2f}"
        if row.outcome == "FP":
            text += f" ({row.note})"
        label_box = {"facecolor": "white", "alpha": 0.7, "pad": 0.5, "edgecolor": "none"}
        axis.text(row.x1, row.y1 - 2, text, fontsize=7, color=colour, va="bottom", bbox=label_box)
