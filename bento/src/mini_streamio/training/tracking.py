"""One MLflow run per training: params, per-epoch metrics, artifacts, tags and its final status.

Everything goes through an explicit MlflowClient (no global "active run"), so a run is ended with
the right status however training stops: FINISHED, FAILED (error recorded) or KILLED.
"""

from __future__ import annotations

import platform
import re
import subprocess
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mini_streamio.registry import tracking_client
from mini_streamio.settings import REPO_ROOT, Settings

# MLflow accepts letters, digits, `_ - . / :` and spaces in metric and param names.
_NOT_ALLOWED = re.compile(r"[^\w\-./: ]+")
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
# Files Ultralytics writes into its run directory that belong in the run's artifacts.
ARTIFACT_SUFFIXES = (".csv", ".png", ".jpg", ".yaml")
WEIGHT_FILES = ("best.pt", "last.pt")


def metric_name(key: str) -> str:
    """An MLflow-safe name: `metrics/mAP50-95(B)` -> `metrics/mAP50-95_B`, `lr/pg0` unchanged."""
    return _NOT_ALLOWED.sub("_", key).strip("_")


def metric_names(values: Mapping[str, Any]) -> dict[str, float]:
    """Sanitised names and float values; raises if two keys would collapse into one name."""
    named: dict[str, float] = {}
    for key, value in values.items():
        name = metric_name(key)
        if name in named:
            raise ValueError(f"metric names {key!r} and another key both become {name!r}")
        named[name] = float(value)
    return named


class RunTracker:
    """The MLflow run of one training."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self._params: dict[str, str] = {}

    @classmethod
    def start(
        cls, settings: Settings, experiment: str, run_name: str | None, tags: Mapping[str, str]
    ) -> RunTracker:
        client = tracking_client(settings)
        found = client.get_experiment_by_name(experiment)
        if found is not None and found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        try:
            experiment_id = found.experiment_id if found else client.create_experiment(experiment)
        except MlflowException as error:  # created by a concurrent run in between
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment_id = client.get_experiment_by_name(experiment).experiment_id  # type: ignore[union-attr]
        run = client.create_run(experiment_id, run_name=run_name, tags=dict(tags))
        return cls(client, run.info.run_id, experiment_id)

    def url(self, settings: Settings) -> str:
        base = str(settings.mlflow_tracking_uri).rstrip("/")
        return f"{base}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Logs params once each; a later, different value of a logged key goes to `<key>_resolved`.

        MLflow refuses to change a param, and Ultralytics resolves some of the values we log
        before training (e.g. `device=""` becomes `cpu`), so both are kept.
        """
        batch: dict[str, str] = {}
        for key, value in params.items():
            name, text = metric_name(key), _text(value, MAX_PARAM_LENGTH)
            if name in self._params:
                if self._params[name] == text:
                    continue
                name = f"{name}_resolved"
                if name in self._params:
                    continue
            batch[name] = text
        self.client.log_batch(self.run_id, params=[Param(k, v) for k, v in batch.items()])
        self._params |= batch

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        metrics = [Metric(key, value, now, step) for key, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(key, _text(value, MAX_TAG_LENGTH)) for key, value in tags.items()]
        self.client.log_batch(self.run_id, tags=items)

    def log_run_directory(self, save_dir: Path) -> list[str]:
        """Uploads what Ultralytics produced (csv, plots, args.yaml, weights) and returns their paths."""
        logged: list[str] = []
        if not save_dir.is_dir():
            return logged
        for file in sorted(save_dir.iterdir()):
            if file.is_file() and file.suffix in ARTIFACT_SUFFIXES:
                self.client.log_artifact(self.run_id, str(file))
                logged.append(file.name)
        for name in WEIGHT_FILES:
            weights = save_dir / "weights" / name
            if weights.is_file():
                self.client.log_artifact(self.run_id, str(weights), artifact_path="weights")
                logged.append(f"weights/{name}")
        return logged

    def record_error(self, error: BaseException) -> None:
        """The error as a tag (its message) and an artifact (the traceback)."""
        message = f"{type(error).__name__}: {error}"
        self.set_tags({"error": message})
        trace = "".join(traceback.format_exception(error))
        self.client.log_text(self.run_id, trace, "error.txt")

    def end(self, status: str) -> None:
        self.client.set_terminated(self.run_id, status=status)


def _text(value: Any, limit: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def environment_tags(device: str) -> dict[str, str]:
    """Git commit and hardware of this run, as MLflow tags."""
    import torch
    import ultralytics

    commit = _git_commit()
    tags = {
        "hardware": hardware_description(device),
        "device": device,
        "host": platform.node(),
        "python_version": platform.python_version(),
        "torch_version": torch.__version__,
        "ultralytics_version": ultralytics.__version__,
    }
    if commit:
        # mlflow.source.git.commit is the tag the MLflow UI shows as the run's source version.
        tags |= {"git_commit": commit, "mlflow.source.git.commit": commit}
    return tags


def hardware_description(device: str) -> str:
    import torch

    if device not in ("cpu", "mps") and torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return "gpu: " + ", ".join(names)
    return f"cpu: {_cpu_model()} ({_cpu_count()} cores)"


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> Iterable[str]:
    """Every artifact file of a run (recursively), for tests and summaries."""
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            yield from artifact_paths(client, run_id, info.path)
        else:
            yield info.path
