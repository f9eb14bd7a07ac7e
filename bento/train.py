"""The seed's entry point, kept working: `python bento/train.py --dataset=<ref> --model=yolov8l`.

It is the same trainer as `python -m mini_streamio.training` and `mini-streamio train`.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import mini_streamio  # noqa: F401  (on the path when run through .stack/python)
except ModuleNotFoundError:
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from mini_streamio.training.__main__ import main

if __name__ == "__main__":
    sys.exit(main(prog="train.py", entry="bento/train.py"))
