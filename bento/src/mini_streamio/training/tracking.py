"""One MLflow run per training: params, per-epoch metrics, artifacts, tags and its final status.

Calls go straight to MLflow's REST API (mini_streamio.mlflow_rest) on an explicit run id (no
global "active run"), so a run is ended with the right status however training stops:
FINISHED, FAILED (error recorded) or KILLED. A run that could not be ended (its process was killed
outright, or MLflow was unreachable at the end) is ended FAILED by the next training in the same
experiment on the same host, which finds its process gone (tags `host` and `pid`).
"""

from __future__ import annotations

import logging
import os
import platform
import re
import subprocess
import time
import traceback
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mini_streamio.mlflow_rest import MlflowRest, MlflowRestError
from mini_streamio.settings import REPO_ROOT, Settings

# MLflow accepts letters, digits, `_ - . / :` and spaces in metric and param names.
_NOT_ALLOWED = re.compile(r"[^\w\-./: ]+")
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
# MLflow's limits per log-batch request.
PARAMS_PER_BATCH = 100
METRICS_PER_BATCH = 1000
# Files Ultralytics writes into its run directory that belong in the run's artifacts.
ARTIFACT_SUFFIXES = (".csv", ".png", ".jpg", ".yaml")
WEIGHT_FILES = ("best.pt", "last.pt")
# Tries of the request that ends a run, a second apart: a brief MLflow restart must not leave it RUNNING.
END_ATTEMPTS = 3

log = logging.getLogger(__name__)


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

    def __init__(self, rest: MlflowRest, run_id: str, experiment_id: str, artifact_uri: str) -> None:
        self.rest = rest
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.artifact_uri = artifact_uri
        self._params: dict[str, str] = {}

    @classmethod
    def start(
        cls, settings: Settings, experiment: str, run_name: str | None, tags: Mapping[str, str]
    ) -> RunTracker:
        rest = MlflowRest(str(settings.mlflow_tracking_uri))
        experiment_id = _experiment_id(rest, experiment)
        end_abandoned_runs(rest, experiment_id)
        tags = {**tags, "host": platform.node(), "pid": str(os.getpid())}
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "start_time": int(time.time() * 1000),
            "tags": [{"key": k, "value": _text(v, MAX_TAG_LENGTH)} for k, v in tags.items()],
        }
        if run_name:
            body["run_name"] = run_name
        info = rest.post("runs/create", body)["run"]["info"]
        return cls(rest, info["run_id"], experiment_id, info["artifact_uri"])

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
        items = [{"key": k, "value": v} for k, v in batch.items()]
        for chunk in _chunks(items, PARAMS_PER_BATCH):
            self.rest.post("runs/log-batch", {"run_id": self.run_id, "params": chunk})
        self._params |= batch

    def log_metrics(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        items = [{"key": k, "value": v, "timestamp": now, "step": step} for k, v in values.items()]
        for chunk in _chunks(items, METRICS_PER_BATCH):
            self.rest.post("runs/log-batch", {"run_id": self.run_id, "metrics": chunk})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [{"key": k, "value": _text(v, MAX_TAG_LENGTH)} for k, v in tags.items()]
        for chunk in _chunks(items, PARAMS_PER_BATCH):
            self.rest.post("runs/log-batch", {"run_id": self.run_id, "tags": chunk})

    def log_run_directory(self, save_dir: Path) -> list[str]:
        """Uploads what Ultralytics produced (csv, plots, args.yaml, weights) and returns their paths."""
        if not save_dir.is_dir():
            return []
        files = sorted(f for f in save_dir.iterdir() if f.is_file() and f.suffix in ARTIFACT_SUFFIXES)
        uploads: list[tuple[Path, str | None]] = [(file, None) for file in files]
        weights = [save_dir / "weights" / name for name in WEIGHT_FILES]
        uploads += [(file, "weights") for file in weights if file.is_file()]
        # A few uploads at a time: each is one HTTP request the server streams on to MinIO.
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda u: self.rest.upload_artifact(self.artifact_uri, *u), uploads))

    def record_error(self, error: BaseException) -> None:
        """The error as a tag (its message) and an artifact (the traceback)."""
        self.set_tags({"error": f"{type(error).__name__}: {error}"})
        trace = "".join(traceback.format_exception(error))
        self.rest.upload_bytes(self.artifact_uri, trace.encode(), "error.txt")

    def end(self, status: str) -> None:
        body = {"run_id": self.run_id, "status": status, "end_time": int(time.time() * 1000)}
        for attempt in range(1, END_ATTEMPTS + 1):
            try:
                self.rest.post("runs/update", body)
                return
            except (MlflowRestError, OSError):
                if attempt == END_ATTEMPTS:
                    raise
                time.sleep(1)


def end_abandoned_runs(rest: MlflowRest, experiment_id: str) -> list[str]:
    """Ends FAILED the experiment's RUNNING runs started on this host by a process that is gone.

    Returns their ids. Best effort: a failure here is logged and never stops the new training.
    """
    query = f"attributes.status = 'RUNNING' and tags.host = '{platform.node()}'"
    try:
        found = rest.post(
            "runs/search", {"experiment_ids": [experiment_id], "filter": query, "max_results": 100}
        )
        ended = []
        for run in found.get("runs", []):
            tags = {tag["key"]: tag["value"] for tag in run.get("data", {}).get("tags", [])}
            pid = tags.get("pid", "")
            if not pid.isdigit() or _is_training(int(pid)):
                continue
            run_id = run["info"]["run_id"]
            note = f"ended by a later training: its process ({pid}) was gone while the run was RUNNING"
            rest.post("runs/set-tag", {"run_id": run_id, "key": "error", "value": note})
            rest.post(
                "runs/update", {"run_id": run_id, "status": "FAILED", "end_time": int(time.time() * 1000)}
            )
            ended.append(run_id)
        return ended
    except (MlflowRestError, OSError, KeyError) as error:
        log.warning("could not look for runs left RUNNING: %s", error)
        return []


def _is_training(pid: int) -> bool:
    """Whether process `pid` of this host is alive and a Python process (a trainer, or one reusing its
    pid, which is left alone too)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.is_dir():
        try:
            return b"python" in cmdline.read_bytes()
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _experiment_id(rest: MlflowRest, name: str) -> str:
    """The experiment's id; it is created (or restored from the bin) when needed."""
    try:
        experiment = rest.get("experiments/get-by-name", experiment_name=name)["experiment"]
    except MlflowRestError as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        try:
            return str(rest.post("experiments/create", {"name": name})["experiment_id"])
        except MlflowRestError as create_error:  # created by a concurrent run in between
            if create_error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = rest.get("experiments/get-by-name", experiment_name=name)["experiment"]
    if experiment.get("lifecycle_stage") == "deleted":
        rest.post("experiments/restore", {"experiment_id": experiment["experiment_id"]})
    return str(experiment["experiment_id"])


def _chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


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
