"""A stock BentoML task service that does nothing: the floor of BentoML's task API (bench/bentoml_floor.py).

The same task signature as the Detection service (an image file and three thresholds), BentoML's
defaults otherwise, with the request logging and tracing the Detection service also turns off; none
of the project's own serving code (announcements, model), and its task store only with
NOOP_PROJECT_STORE=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import bentoml

if os.environ.get("NOOP_PROJECT_STORE") == "1":
    # The project's task store (headers only, no sync per commit, fixes for two workers).
    from mini_streamio.serving import task_store

    task_store.install()

TASK_PATHS = ["/detect/submit", "/detect/get", "/detect/status"]


@bentoml.service(
    name="noop-detection",
    workers=int(os.environ.get("BENTOML_WORKERS", "2")),
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": TASK_PATHS},
)
class Noop:
    @bentoml.task
    def detect(
        self, image: Path, conf: float = 0.25, iou: float = 0.45, max_det: int = 300
    ) -> dict[str, int]:
        """Reads the upload, as the real task does, and returns at once."""
        return {"bytes": len(image.read_bytes())}
