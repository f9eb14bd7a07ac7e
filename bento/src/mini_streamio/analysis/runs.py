"""Training runs read back from MLflow through its REST API (mini_streamio.mlflow_rest).

Metric names are the ones the trainer logs (mini_streamio.training.tracking): Ultralytics' keys
made MLflow-safe by `metric_name`, one value per epoch at step = epoch number (1-based), and
`best/*` (the final validation of best.pt) at step = epochs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from mini_streamio.mlflow_rest import MlflowRest, MlflowRestError
from mini_streamio.training.tracking import metric_name

LOSSES = ("box_loss", "cls_loss", "dfl_loss")
QUALITY = {
    "precision": metric_name("metrics/precision(B)"),
    "recall": metric_name("metrics/recall(B)"),
    "mAP50": metric_name("metrics/mAP50(B)"),
    "mAP50-95": metric_name("metrics/mAP50-95(B)"),
}
# Ultralytics 8.4 keeps as best.pt the epoch with the highest fitness, which is mAP50-95.
FITNESS = QUALITY["mAP50-95"]
HISTORY_PAGE = 1000


class RunNotFoundError(LookupError):
    """No run matches the given id or experiment."""


@dataclass(frozen=True)
class Run:
    run_id: str
    name: str
    status: str
    experiment_id: str
    artifact_uri: str
    start_ms: int
    end_ms: int | None
    params: dict[str, str]
    tags: dict[str, str]
    latest: dict[str, float]  # the last logged value of every metric

    @classmethod
    def from_json(cls, run: dict[str, Any]) -> Run:
        info, data = run["info"], run.get("data", {})
        return cls(
            run_id=info["run_id"],
            name=info.get("run_name", ""),
            status=info["status"],
            experiment_id=info["experiment_id"],
            artifact_uri=info["artifact_uri"],
            start_ms=int(info["start_time"]),
            end_ms=int(info["end_time"]) if info.get("end_time") else None,
            params={p["key"]: p["value"] for p in data.get("params", [])},
            tags={t["key"]: t["value"] for t in data.get("tags", [])},
            latest={m["key"]: float(m["value"]) for m in data.get("metrics", [])},
        )

    @property
    def wall_time_s(self) -> float | None:
        return (self.end_ms - self.start_ms) / 1000 if self.end_ms else None

    @property
    def started(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000, tz=UTC)

    @property
    def class_names(self) -> list[str]:
        names: list[str] = json.loads(self.params.get("dataset_classes", "[]"))
        return names


def get_run(rest: MlflowRest, run_id: str) -> Run:
    try:
        return Run.from_json(rest.get("runs/get", run_id=run_id)["run"])
    except MlflowRestError as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise RunNotFoundError(f"MLflow has no run {run_id!r}") from None
        raise


def experiment_runs(rest: MlflowRest, experiment: str, max_results: int = 200) -> list[Run]:
    """The experiment's active runs, newest first."""
    try:
        found = rest.get("experiments/get-by-name", experiment_name=experiment)["experiment"]
    except MlflowRestError as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise RunNotFoundError(f"MLflow has no experiment {experiment!r}") from None
        raise
    body = {
        "experiment_ids": [found["experiment_id"]],
        "max_results": max_results,
        "order_by": ["attributes.start_time DESC"],
        "run_view_type": "ACTIVE_ONLY",
    }
    return [Run.from_json(run) for run in rest.post("runs/search", body).get("runs", [])]


def select_run(runs: list[Run], run_id: str | None = None) -> Run:
    """The run with `run_id`, else the newest FINISHED one."""
    if run_id:
        for run in runs:
            if run.run_id == run_id:
                return run
        raise RunNotFoundError(f"run {run_id!r} is not among the {len(runs)} run(s) given")
    finished = [run for run in runs if run.status == "FINISHED"]
    if not finished:
        raise RunNotFoundError("no FINISHED run to analyse (pass a run id)")
    return max(finished, key=lambda run: run.start_ms)


def metric_history(
    rest: MlflowRest, run_id: str, key: str, page_size: int = HISTORY_PAGE
) -> list[tuple[int, float]]:
    """Every (step, value) of one metric, sorted by step, read page by page."""
    points: list[tuple[int, float]] = []
    token = ""
    while True:
        params = {"run_id": run_id, "metric_key": key, "max_results": str(page_size)}
        if token:
            params["page_token"] = token
        answer = rest.get("metrics/get-history", **params)
        points += [(int(m.get("step", 0)), float(m["value"])) for m in answer.get("metrics", [])]
        token = answer.get("next_page_token", "")
        if not token:
            return sorted(points)


def epoch_table(rest: MlflowRest, run: Run) -> pd.DataFrame:
    """One row per epoch (index `epoch`), one column per per-epoch metric (the `best/*` ones excluded)."""
    columns: dict[str, pd.Series] = {}
    for key in sorted(run.latest):
        if key.startswith("best/"):
            continue
        history = dict(metric_history(rest, run.run_id, key))
        columns[key] = pd.Series(history, dtype=float)
    table = pd.DataFrame(columns)
    table.index.name = "epoch"
    return table.sort_index()


def best_epoch(epochs: pd.DataFrame) -> int | None:
    """The epoch whose weights became best.pt: the highest fitness (mAP50-95), the first on ties."""
    if FITNESS not in epochs or epochs[FITNESS].isna().all():
        return None
    return int(epochs[FITNESS].idxmax())


def best_metrics(run: Run) -> dict[str, float]:
    """The final validation of best.pt, as logged under `best/*` (empty for runs that did not finish)."""
    return {key.removeprefix("best/"): value for key, value in run.latest.items() if key.startswith("best/")}


def comparison_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: model, data, image size, epochs, hardware, wall time and final mAP."""
    rows = []
    for run in runs:
        best = best_metrics(run)
        epochs_done = run.latest.get(FITNESS)  # present once an epoch has been validated
        rows.append(
            {
                "run": run.name or run.run_id[:8],
                "run id": run.run_id,
                "status": run.status,
                "model": run.params.get("model_ref", "?"),
                "dataset": run.tags.get("dataset", run.params.get("dataset_ref", "?")),
                "imgsz": _number(run.params.get("imgsz")),
                "epochs": _number(run.params.get("epochs")),
                "batch": _number(run.params.get("batch")),
                "hardware": run.tags.get("hardware", run.params.get("device", "?")),
                "started": run.started.strftime("%Y-%m-%d %H:%M"),
                "wall time (min)": round(run.wall_time_s / 60, 1) if run.wall_time_s else None,
                "mAP50": best.get(
                    QUALITY["mAP50"].removeprefix("metrics/"), run.latest.get(QUALITY["mAP50"])
                ),
                "mAP50-95": best.get(FITNESS.removeprefix("metrics/"), epochs_done),
            }
        )
    return pd.DataFrame(rows)


def download_artifact(rest: MlflowRest, run: Run, path: str, target: Path) -> Path:
    """One artifact of the run into `target` (a file path); returns it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(rest.download_bytes(run.artifact_uri, path))
    return target


def _number(value: str | None) -> float | int | None:
    if value is None:
        return None
    number = float(value)
    return int(number) if number.is_integer() else number
