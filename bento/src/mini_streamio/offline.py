"""Keeps Ultralytics from reaching the network, and must run before `import ultralytics`.

Ultralytics downloads fonts for its plots, checks for pip packages (and installs them),
syncs analytics and probes DNS to decide whether it is online. On an air-gapped machine
each of these hangs or fails, so every entry point calls `configure_ultralytics()` first.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
# Ultralytics integrations that would start their own runs or reach a service; MLflow
# tracking is done by mini_streamio.training, not by Ultralytics' callback.
DISABLED_INTEGRATIONS = (
    "sync",
    "clearml",
    "comet",
    "dvc",
    "mlflow",
    "raytune",
    "tensorboard",
    "wandb",
    "hub",
)


def configure_ultralytics(config_dir: Path) -> None:
    """Once per process, before Ultralytics is imported; later calls do nothing."""
    if os.environ.get("YOLO_OFFLINE") == "true" and "ultralytics" in sys.modules:
        return
    if "ultralytics" in sys.modules:
        raise RuntimeError("configure_ultralytics() must run before ultralytics is imported")
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "true"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "true")
    # Ultralytics keeps its settings and looks for fonts in YOLO_CONFIG_DIR/Ultralytics.
    _install_fonts(config_dir / "Ultralytics")

    from ultralytics import settings

    settings.update(
        {name: False for name in DISABLED_INTEGRATIONS if name in settings}
        | {"runs_dir": str(config_dir / "runs"), "weights_dir": str(config_dir / "weights")}
    )


def _install_fonts(config_dir: Path) -> None:
    """Ultralytics looks for Arial in its config dir and downloads it otherwise; any TTF does."""
    config_dir.mkdir(parents=True, exist_ok=True)
    missing = [name for name in FONT_NAMES if not (config_dir / name).exists()]
    if not missing:
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in missing:
        shutil.copyfile(source, config_dir / name)


def amp_check_without_download() -> None:
    """Lets training on a GPU keep mixed precision (AMP) offline.

    Before training on a GPU, Ultralytics checks that AMP works there: it refuses it on GPUs known to
    give NaN losses, then compares FP32 and AMP predictions of `yolo26n.pt`, which it downloads if it
    is not in the weights directory. Offline that download can only fail (after a connection attempt
    per try), and Ultralytics then keeps AMP on. This makes the download fail at once, without the
    attempt: the check still refuses the known bad GPUs, and still runs in full when an operator has
    put `yolo26n.pt` in the weights directory. Turning AMP off instead cost 20-30 % per epoch on an
    H200 (docs/BENCHMARKS.md).
    """
    from ultralytics.engine import trainer
    from ultralytics.utils import checks

    # The trainer calls the check by the name it imported: that name is what is replaced.
    if getattr(trainer.check_amp, "_offline", False):  # type: ignore[attr-defined]
        return

    def check_amp(model: Any) -> bool:
        with downloads_refused():
            return bool(checks.check_amp(model))

    check_amp._offline = True  # type: ignore[attr-defined]
    trainer.check_amp = check_amp  # type: ignore[attr-defined]


@contextlib.contextmanager
def downloads_refused() -> Iterator[None]:
    """Within it, every Ultralytics download fails at once with ConnectionError, before any connection."""
    from ultralytics.utils import downloads

    def refuse(url: Any = None, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError(f"downloads are off (MINI_STREAMIO_ALLOW_DOWNLOADS): {url}")

    # Every download goes through these two (a release listing, then the file), looked up at call time.
    originals = {name: getattr(downloads, name) for name in ("get_github_assets", "safe_download")}
    for name in originals:
        setattr(downloads, name, refuse)
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(downloads, name, original)
