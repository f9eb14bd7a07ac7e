"""Keeps Ultralytics from reaching the network, and must run before `import ultralytics`.

Ultralytics downloads fonts for its plots, checks for pip packages (and installs them),
syncs analytics and probes DNS to decide whether it is online. On an air-gapped machine
each of these hangs or fails, so every entry point calls `configure_ultralytics()` first.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

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
