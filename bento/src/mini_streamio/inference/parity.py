"""Whether two runtimes answered one image alike: the rule every exported backend is held to.

Every box of the reference (torch) clear of the confidence threshold must match one box of the same
class (IoU >= 0.95, confidence within 0.02), and the other may have nothing extra clear of it. Boxes
within 0.02 of the threshold may fall on either side of it in another precision.
"""

from __future__ import annotations

from mini_streamio.schemas import DetectionResponse, Instance

MIN_IOU = 0.95
CONF_TOLERANCE = 0.02


def xywh_iou(a: list[float], b: list[float]) -> float:
    """IoU of two boxes given as (x_center, y_center, width, height)."""
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def parity_problems(reference: DetectionResponse, other: DetectionResponse, conf: float) -> list[str]:
    """What differs between two responses to one image at threshold `conf`; empty when they agree."""
    clear = conf + CONF_TOLERANCE
    problems = []
    candidates = list(other.instances)
    for box in reference.instances:
        same_class = [c for c in candidates if c.class_id == box.class_id]
        best = max(same_class, key=lambda c: xywh_iou(_xywh(box), _xywh(c)), default=None)
        if best is None:
            if box.confidence >= clear:
                problems.append(f"missing {box.class_name} {box.bounding_box} conf {box.confidence}")
            continue
        iou = xywh_iou(_xywh(box), _xywh(best))
        if iou < MIN_IOU or abs(best.confidence - box.confidence) > CONF_TOLERANCE:
            problems.append(
                f"{box.class_name} {box.bounding_box} conf {box.confidence} vs {best.bounding_box} "
                f"conf {best.confidence}: IoU {iou:.3f}"
            )
        candidates.remove(best)
    problems += [f"extra {c.class_name} conf {c.confidence}" for c in candidates if c.confidence >= clear]
    return problems


def _xywh(instance: Instance) -> list[float]:
    return [float(v) for v in instance.bounding_box.split()]
