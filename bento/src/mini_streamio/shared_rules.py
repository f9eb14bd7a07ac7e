"""`python -m mini_streamio.shared_rules OP`: the dataset rules the CLI asks Python for, so that each
has one implementation (issue 16). The CLI spawns it as it spawns the trainer
(cli/src/lib/shared-rules.ts): one JSON request on stdin, one JSON answer on stdout.

  push-layout   {root, data_yaml}          a YOLO folder as `dataset push` reads it
                                           (yolo_layout.push_layout)
  check-labels  {classes, labels: [text]}  `dataset push`'s row check of converted (COCO) labels
  split         {root, shown, split}       a split as `evaluate --dir` reads it
                                           (yolo_layout.evaluation_split)
  evaluate      {images: [{labels, where, predictions}]}
                                           label text parsed to ground truth, then mAP, P and R
                                           against the predictions [class, xc, yc, w, h, confidence]
                                           (detection_metrics.evaluate_detections)

Exit status: 0 with the answer on stdout; 3 when the input is wrong in a way the user must fix
(a label row, a missing split): the message, for the user as it is, on stderr; 2 for a call the
CLI should never make (an unknown OP); anything else is a bug, with its traceback on stderr.
Imports neither torch, Ultralytics nor numpy: a spawn takes tens of milliseconds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from mini_streamio.detection_metrics import ImageDetections, evaluate_detections
from mini_streamio.yolo_labels import LabelError, check_label_rows, parse_label_rows
from mini_streamio.yolo_layout import LayoutError, evaluation_split, push_layout

USER_ERROR = 3
USAGE_ERROR = 2


def _push_layout(request: dict[str, Any]) -> dict[str, Any]:
    return push_layout(Path(request["root"]), Path(request["data_yaml"]))


def _check_labels(request: dict[str, Any]) -> dict[str, Any]:
    checked = []
    for text in request["labels"]:
        problems, classes = check_label_rows(text, int(request["classes"]))
        checked.append(
            {
                "problems": [{"line": line, "message": message} for line, message in problems],
                "classes": classes,
            }
        )
    return {"labels": checked}


def _split(request: dict[str, Any]) -> dict[str, Any]:
    return evaluation_split(Path(request["root"]), str(request["shown"]), str(request["split"]))


def _evaluate(request: dict[str, Any]) -> dict[str, Any]:
    images = [
        ImageDetections(
            truth=parse_label_rows(image["labels"], image["where"]), predictions=image["predictions"]
        )
        for image in request["images"]
    ]
    return evaluate_detections(images)


OPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "push-layout": _push_layout,
    "check-labels": _check_labels,
    "split": _split,
    "evaluate": _evaluate,
}


def main(argv: list[str], stdin: BinaryIO, stdout: BinaryIO, stderr: Any = sys.stderr) -> int:
    if len(argv) != 1 or argv[0] not in OPS:
        print(f"usage: python -m mini_streamio.shared_rules {{{','.join(OPS)}}} < request.json", file=stderr)
        return USAGE_ERROR
    request = json.loads(stdin.read())
    try:
        answer = OPS[argv[0]](request)
    except (LabelError, LayoutError) as err:
        print(err, file=stderr)
        return USER_ERROR
    stdout.write(json.dumps(answer, separators=(",", ":"), allow_nan=False).encode())
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], sys.stdin.buffer, sys.stdout.buffer))
