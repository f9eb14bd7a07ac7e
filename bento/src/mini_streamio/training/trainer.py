"""One training: dataset and model resolved, Ultralytics run, everything tracked in MLflow.

The MLflow run is opened first, so that every way a training can end is recorded on it:
FINISHED (artifacts logged, best weights registered and exported), FAILED (bad dataset, bad model, crash:
the error is a tag and `error.txt`), or KILLED (Ctrl-C / SIGTERM: what was produced so far,
last.pt included, is still logged). No run is left RUNNING.

`configure_ultralytics()` (mini_streamio.offline) must have run before this module trains.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mini_streamio.contracts import train_default
from mini_streamio.exports import export_all, formats_setting
from mini_streamio.offline import amp_check_without_download
from mini_streamio.registry import (
    BASE_MODEL_TAG,
    DATASET_TAG,
    PARENT_MODEL_TAG,
    RegisteredWeights,
    register_weights,
)
from mini_streamio.settings import Settings
from mini_streamio.training.dataset import DatasetVersion, fetch_dataset
from mini_streamio.training.events import EventSink
from mini_streamio.training.tracking import RunTracker, environment_tags, metric_name, metric_names
from mini_streamio.training.weights import ResolvedModel, resolve_model

DEFAULT_EXPERIMENT: str = train_default("experiment")
# Train arguments the trainer sets itself: where the data is, where the run's files go.
RESERVED_ARGS = frozenset({"data", "model", "project", "name", "exist_ok", "resume", "mode", "save_dir"})
# Ultralytics' validation keys with the short names the registry version carries.
REGISTRY_METRICS = {
    "metrics/precision(B)": "precision",
    "metrics/recall(B)": "recall",
    "metrics/mAP50(B)": "mAP50",
    "metrics/mAP50-95(B)": "mAP50-95",
}


@dataclass(frozen=True)
class TrainRequest:
    dataset: str
    model: str
    # Defaults: contracts/train-options.schema.json, as the CLI's flags.
    epochs: int = train_default("epochs")
    imgsz: int = train_default("imgsz")
    batch: float = train_default("batch")
    device: str | None = None  # None: the first GPU if there is one, else the CPU
    experiment: str = DEFAULT_EXPERIMENT
    run_name: str | None = None
    register: bool = True
    register_as: str | None = None
    alias: str | None = None
    demo: bool = False
    description: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    status: str  # FINISHED | FAILED | KILLED
    metrics: dict[str, float] = field(default_factory=dict)
    registered: RegisteredWeights | None = None
    error: str | None = None


class _EpochHooks:
    """Ultralytics callbacks: params once the trainer has resolved them, metrics after each epoch."""

    def __init__(self, tracker: RunTracker, events: EventSink) -> None:
        self.tracker = tracker
        self.events = events
        self.train_epoch: int | None = None
        self.epoch_metrics: dict[str, float] = {}  # Ultralytics keys, last finished epoch
        self.final_metrics: dict[str, float] = {}  # Ultralytics keys, validation of best.pt

    def register(self, model: Any) -> None:
        model.add_callback("on_pretrain_routine_end", self.on_pretrain_routine_end)
        model.add_callback("on_train_epoch_end", self.on_train_epoch_end)
        model.add_callback("on_fit_epoch_end", self.on_fit_epoch_end)

    def on_pretrain_routine_end(self, trainer: Any) -> None:
        self.tracker.log_params(vars(trainer.args))

    def on_train_epoch_end(self, trainer: Any) -> None:
        self.train_epoch = trainer.epoch

    def on_fit_epoch_end(self, trainer: Any) -> None:
        validation = {key: float(value) for key, value in (trainer.metrics or {}).items()}
        if trainer.epoch != self.train_epoch:
            # Ultralytics ends with a validation of best.pt, reported as one epoch past the last.
            self.final_metrics = validation
            return
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        values = metric_names({**losses, **validation, **trainer.lr})
        values["time/epoch_s"] = float(trainer.epoch_time or 0.0)
        step = trainer.epoch + 1  # the epoch number of results.csv
        self.tracker.log_metrics(values, step)
        self.epoch_metrics = validation
        self.events.emit("epoch", epoch=step, epochs=trainer.epochs, metrics=values)


def train(settings: Settings, request: TrainRequest, events: EventSink, entry: str = "cli") -> TrainResult:
    device = resolve_device(request.device)
    tags = environment_tags(device) | {
        "dataset_ref": request.dataset,
        "model_ref": request.model,
        "entry_point": entry,
    }
    run_name = request.run_name or _default_run_name(request)
    tracker = RunTracker.start(settings, request.experiment, run_name, tags)
    save_dir = settings.data_dir / "runs" / tracker.run_id
    events.emit(
        "started",
        run_id=tracker.run_id,
        experiment=request.experiment,
        experiment_id=tracker.experiment_id,
        run_name=run_name,
        url=tracker.url(settings),
        device=device,
        hardware=tags["hardware"],
    )
    hooks = _EpochHooks(tracker, events)
    try:
        tracker.log_params(
            {"dataset_ref": request.dataset, "model_ref": request.model}
            | {"epochs": request.epochs, "imgsz": request.imgsz, "batch": _batch(request), "device": device}
            | request.extra
        )
        dataset = _fetch_dataset(settings, request, tracker, events)
        model = _resolve_model(settings, request, tracker, events)
        _run_ultralytics(settings, request, dataset, model, device, save_dir, hooks)
        return _finish(settings, request, tracker, events, hooks, dataset, model, save_dir)
    except KeyboardInterrupt as stop:
        # A second Ctrl-C must not cut the saving of what was produced short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return _end_early(tracker, events, hooks, save_dir, "KILLED", stop)
    except Exception as error:
        return _end_early(tracker, events, hooks, save_dir, "FAILED", error)


def resolve_device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _batch(request: TrainRequest) -> int | float:
    """Ultralytics takes a whole number of images, -1 (auto) or a fraction of GPU memory."""
    return int(request.batch) if float(request.batch).is_integer() else request.batch


def _default_run_name(request: TrainRequest) -> str:
    if request.model.startswith("models:/"):
        model = request.model.removeprefix("models:/").replace("/", "-v").replace("@", "-")
    else:
        model = Path(request.model.rstrip("/")).name.removesuffix(".pt").removesuffix(".yaml")
    dataset = request.dataset.removeprefix("s3://").rstrip("/").replace("/", "-")
    return f"{model}-{dataset}"


def _fetch_dataset(
    settings: Settings, request: TrainRequest, tracker: RunTracker, events: EventSink
) -> DatasetVersion:
    dataset = fetch_dataset(settings, request.dataset)
    tracker.log_params(
        {
            "dataset_name": dataset.name,
            "dataset_version": dataset.version,
            "dataset_hash": dataset.content_hash,
            "dataset_classes": json.dumps(dataset.names),
        }
        | {f"dataset_{split}_images": count for split, count in dataset.counts.items()}
    )
    tracker.set_tags({"dataset": f"{dataset.name}@{dataset.version}"})
    events.emit(
        "dataset",
        name=dataset.name,
        version=dataset.version,
        classes=dataset.names,
        counts=dataset.counts,
        path=str(dataset.root),
    )
    return dataset


def _resolve_model(
    settings: Settings, request: TrainRequest, tracker: RunTracker, events: EventSink
) -> ResolvedModel:
    model = resolve_model(settings, request.model)
    tracker.log_params({"model_kind": model.kind, "model_source": model.source})
    parent = model.parent
    if parent is not None:
        tracker.set_tags(
            {
                "parent_model": f"models:/{parent.name}/{parent.version}",
                "parent_run_id": parent.run_id or "",
            }
        )
    events.emit(
        "model",
        reference=model.reference,
        kind=model.kind,
        source=model.source,
        parent_run_id=parent.run_id if parent else None,
    )
    return model


def _run_ultralytics(
    settings: Settings,
    request: TrainRequest,
    dataset: DatasetVersion,
    model: ResolvedModel,
    device: str,
    save_dir: Path,
    hooks: _EpochHooks,
) -> None:
    from ultralytics.models import YOLO

    if not settings.allow_downloads:
        amp_check_without_download()
    yolo = YOLO(model.source)
    hooks.register(yolo)
    args: dict[str, Any] = {"plots": True} | request.extra
    args |= {
        "data": str(dataset.data_yaml),
        "epochs": request.epochs,
        "imgsz": request.imgsz,
        "batch": _batch(request),
        "device": device,
        "project": str(save_dir.parent),
        "name": save_dir.name,
        "exist_ok": True,
    }
    yolo.train(**args)


def _finish(
    settings: Settings,
    request: TrainRequest,
    tracker: RunTracker,
    events: EventSink,
    hooks: _EpochHooks,
    dataset: DatasetVersion,
    model: ResolvedModel,
    save_dir: Path,
) -> TrainResult:
    artifacts = tracker.log_run_directory(save_dir)
    validation = hooks.final_metrics or hooks.epoch_metrics
    best = {f"best/{metric_name(k).removeprefix('metrics/')}": v for k, v in validation.items()}
    best = {k: v for k, v in best.items() if not k.startswith("best/val/")}
    tracker.log_metrics(best, step=request.epochs)
    metrics = {short: validation[key] for key, short in REGISTRY_METRICS.items() if key in validation}
    registered = None
    if request.register:
        registered = _register(settings, request, tracker, dataset, model, save_dir, metrics)
    tracker.end("FINISHED")
    events.emit(
        "finished",
        run_id=tracker.run_id,
        status="FINISHED",
        metrics=metrics,
        artifacts=artifacts,
        registered_model=registered.name if registered else None,
        registered_version=registered.version if registered else None,
        weights_uri=registered.weights_uri if registered else None,
        exports=sorted(registered.exports) if registered else [],
    )
    return TrainResult(tracker.run_id, "FINISHED", metrics, registered)


def _register(
    settings: Settings,
    request: TrainRequest,
    tracker: RunTracker,
    dataset: DatasetVersion,
    model: ResolvedModel,
    save_dir: Path,
    metrics: dict[str, float],
) -> RegisteredWeights:
    best = save_dir / "weights" / "best.pt"
    if not best.is_file():
        raise FileNotFoundError(f"training produced no best.pt in {best.parent}")
    tags = {DATASET_TAG: f"{dataset.name}@{dataset.version}", BASE_MODEL_TAG: request.model}
    if model.parent is not None:
        tags[PARENT_MODEL_TAG] = f"models:/{model.parent.name}/{model.parent.version}"
    registered = register_weights(
        settings,
        best,
        tracker.run_id,
        dataset.names,
        metrics,
        name=request.register_as,
        demo=request.demo,
        alias=request.alias,
        description=request.description,
        tags=tags,
    )
    registered = export_all(settings, registered, formats_setting(settings))
    tracker.set_tags({"registered_model": registered.name, "registered_version": registered.version})
    return registered


def _end_early(
    tracker: RunTracker,
    events: EventSink,
    hooks: _EpochHooks,
    save_dir: Path,
    status: str,
    error: BaseException,
) -> TrainResult:
    """Logs what exists, records why the run stopped and ends it; each step is tried on its own."""
    message = "interrupted (SIGINT/SIGTERM)" if status == "KILLED" else f"{type(error).__name__}: {error}"
    problems: list[str] = []
    artifacts: list[str] = []
    try:
        artifacts = tracker.log_run_directory(save_dir)
    except Exception as upload_error:
        problems.append(f"artifacts not logged: {upload_error}")
    try:
        if status == "KILLED":
            tracker.set_tags({"stopped": message})
        else:
            tracker.record_error(error)
    except Exception as tag_error:
        problems.append(f"error not recorded: {tag_error}")
    try:
        tracker.end(status)
    except Exception as end_error:
        problems.append(f"run not ended: {end_error}")
    last = hooks.epoch_metrics
    metrics = {short: last[key] for key, short in REGISTRY_METRICS.items() if key in last}
    events.emit(
        status.lower(),
        run_id=tracker.run_id,
        status=status,
        error=message,
        artifacts=artifacts,
        problems=problems,
    )
    return TrainResult(tracker.run_id, status, metrics, None, message)
