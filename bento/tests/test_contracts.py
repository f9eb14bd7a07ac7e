"""The shared formats of contracts/: every golden fixture against its schema, and the Python side
(DTOs, trainer events and exit codes, registry tags, the manifest hash) against the fixtures.

The TypeScript side runs the same fixtures through ajv (cli/test/contracts.unit.test.ts).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from mini_streamio import registry
from mini_streamio.contracts import schema, trainer_exit_codes
from mini_streamio.schemas import DetectionOutcome, DetectionParams, DetectionResponse, ErrorCode
from mini_streamio.serving.finished import FinishedTasks
from mini_streamio.settings import Settings
from mini_streamio.training import __main__ as trainer_main
from mini_streamio.training.dataset import manifest_identity
from mini_streamio.training.events import JsonLinesSink
from mini_streamio.training.trainer import _end_early, _EpochHooks
from tests.contract_check import FIXTURES, SCHEMA_NAMES, fixtures, instances, validator


def all_fixtures(kind: str) -> list[tuple[str, Path]]:
    return [(name, path) for name in SCHEMA_NAMES for path in fixtures(name, kind)]


def fixture_id(case: tuple[str, Path]) -> str:
    return f"{case[0]}/{case[1].name}"


# --- Schemas and fixtures -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_when_a_contract_is_read_then_it_is_a_draft_2020_12_schema_with_golden_fixtures(name: str) -> None:
    Draft202012Validator.check_schema(schema(name))
    assert schema(name)["$id"].endswith(f"/{name}.schema.json")
    assert fixtures(name, "valid"), f"contracts/fixtures/{name}/valid holds no fixture"
    assert fixtures(name, "invalid"), f"contracts/fixtures/{name}/invalid holds no fixture"


@pytest.mark.parametrize("case", all_fixtures("valid"), ids=fixture_id)
def test_when_a_valid_fixture_is_checked_then_its_schema_accepts_it(case: tuple[str, Path]) -> None:
    name, path = case
    for instance in instances(path):
        validator(name).validate(instance)


@pytest.mark.parametrize("case", all_fixtures("invalid"), ids=fixture_id)
def test_when_an_invalid_fixture_is_checked_then_its_schema_refuses_it(case: tuple[str, Path]) -> None:
    name, path = case
    for instance in instances(path):
        assert not validator(name).is_valid(instance)


# --- Detection: defaults, ranges and BentoML's DTOs ----------------------------------------------


def test_when_no_parameter_is_given_then_the_defaults_are_the_contracts() -> None:
    properties = schema("detection-params")["properties"]
    assert DetectionParams().model_dump() == {name: spec["default"] for name, spec in properties.items()}


# Unknown form fields never reach DetectionParams: only the out-of-range fixtures apply.
OUT_OF_RANGE = [
    path
    for path in fixtures("detection-params", "invalid")
    if set(json.loads(path.read_text())) <= set(schema("detection-params")["properties"])
]


@pytest.mark.parametrize("path", OUT_OF_RANGE, ids=lambda p: p.name)
def test_when_parameters_break_the_contract_then_the_service_refuses_them(path: Path) -> None:
    params = json.loads(path.read_text())
    with pytest.raises(ValidationError):
        DetectionParams(**params)


@pytest.mark.parametrize("path", fixtures("detection-outcome", "valid"), ids=lambda p: p.name)
def test_when_a_golden_outcome_is_parsed_then_it_serialises_back_to_the_same_json(path: Path) -> None:
    golden = json.loads(path.read_text())
    assert DetectionOutcome.model_validate(golden).model_dump(mode="json") == golden


@pytest.mark.parametrize("path", fixtures("detection-response", "invalid"), ids=lambda p: p.name)
def test_when_a_response_breaks_the_contract_then_the_dto_refuses_it_or_drops_the_extra(path: Path) -> None:
    broken = json.loads(path.read_text())
    try:
        parsed = DetectionResponse.model_validate(broken).model_dump(mode="json")
    except ValidationError:
        return
    # Pydantic ignores unknown fields and the DTO has no pattern on boundingBox or class; what
    # it would send must still not carry them, and is checked against the schema.
    assert not validator("detection-response").is_valid(broken)
    assert set(parsed) == set(schema("detection-response")["properties"])


def test_when_the_service_fails_a_task_then_its_error_codes_are_the_contracts() -> None:
    codes = schema("detection-outcome")["$defs"]["error"]["properties"]["code"]["enum"]
    assert sorted(code.value for code in ErrorCode) == sorted(codes)
    outcome = DetectionOutcome.failure(ErrorCode.NO_MODEL, "no model yet")
    validator("detection-outcome").validate(outcome.model_dump(mode="json"))


# --- Trainer: events and exit codes ----------------------------------------------------------------


def events_of(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


class FakeTracker:
    run_id = "8f14e45fceea167a5a36dedd4bea2543"

    def __init__(self) -> None:
        self.logged: list[tuple[dict[str, float], int]] = []

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        self.logged.append((values, step))

    def log_run_directory(self, save_dir: Path) -> list[str]:
        return ["results.csv", "weights/last.pt"]

    def set_tags(self, tags: dict[str, str]) -> None:
        pass

    def record_error(self, error: BaseException) -> None:
        pass

    def end(self, status: str) -> None:
        pass


class FakeUltralyticsTrainer:
    """What _EpochHooks reads from Ultralytics' trainer after an epoch."""

    epoch = 0
    epochs = 2
    epoch_time = 4.75
    tloss = None

    def __init__(self) -> None:
        self.metrics = {"metrics/precision(B)": 0.5, "metrics/mAP50-95(B)": 0.2, "val/box_loss": 1.5}
        self.lr = {"lr/pg0": 0.001}

    def label_loss_items(self, _loss: object, prefix: str) -> dict[str, float]:
        return {f"{prefix}/box_loss": 2.0, f"{prefix}/cls_loss": 3.0, f"{prefix}/dfl_loss": 1.0}


def test_when_an_epoch_ends_then_the_event_is_the_contracts() -> None:
    stream = io.StringIO()
    hooks = _EpochHooks(FakeTracker(), JsonLinesSink(stream))  # type: ignore[arg-type]
    trainer = FakeUltralyticsTrainer()
    hooks.on_train_epoch_end(trainer)
    hooks.on_fit_epoch_end(trainer)
    [event] = events_of(stream)
    assert event["event"] == "epoch" and event["epoch"] == 1
    validator("trainer-event").validate(event)


@pytest.mark.parametrize("status", ["KILLED", "FAILED"])
def test_when_a_training_ends_early_then_the_last_event_is_the_contracts(status: str, tmp_path: Path) -> None:
    stream = io.StringIO()
    events = JsonLinesSink(stream)
    hooks = _EpochHooks(FakeTracker(), events)  # type: ignore[arg-type]
    _end_early(FakeTracker(), events, hooks, tmp_path, status, RuntimeError("boom"))  # type: ignore[arg-type]
    [event] = events_of(stream)
    assert event["event"] == status.lower()
    validator("trainer-event").validate(event)


def test_when_the_trainer_ends_then_its_exit_status_is_the_contracts() -> None:
    codes = trainer_exit_codes()
    assert codes == json.loads((FIXTURES / "trainer-exit-codes/valid/exit-codes.json").read_text())
    by_status = {"FINISHED": codes["finished"], "FAILED": codes["failed"], "KILLED": codes["killed"]}
    assert by_status == trainer_main.EXIT_CODES


def test_when_an_argument_is_unknown_then_the_trainer_exits_with_the_usage_status() -> None:
    with pytest.raises(SystemExit) as stopped:
        trainer_main.build_parser().parse_args(["--dataset=shapes", "--model=yolov8n.yaml", "--no-such-flag"])
    assert stopped.value.code == trainer_exit_codes()["usage"]


def test_when_no_train_option_is_given_then_the_trainer_uses_the_contracts_defaults() -> None:
    parsed = vars(trainer_main.build_parser().parse_args(["--dataset=shapes", "--model=yolov8n.yaml"]))
    properties = schema("train-options")["properties"]
    defaults = {name: spec["default"] for name, spec in properties.items() if "default" in spec}
    assert {name: parsed[name] for name in ("epochs", "imgsz", "batch", "experiment", "demo")} == {
        name: defaults[name] for name in ("epochs", "imgsz", "batch", "experiment", "demo")
    }
    assert parsed["no_register"] is not defaults["register"]


# --- Registry tags ---------------------------------------------------------------------------------


class FakeRest:
    """MLflow's REST API as register_weights calls it; remembers the tags of the one version."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}

    def get(self, endpoint: str, **params: str) -> dict[str, Any]:
        return {"run": {"info": {"artifact_uri": "s3://mlflow/1/run/artifacts"}}}

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        if endpoint == "model-versions/create":
            self.tags |= {tag["key"]: tag["value"] for tag in body["tags"]}
            return {"model_version": {"version": "4"}}
        if endpoint == "model-versions/set-tag":
            self.tags[body["key"]] = body["value"]
        return {}


class FakeMinio:
    def bucket_exists(self, bucket: str) -> bool:
        return True

    def fput_object(self, bucket: str, key: str, path: str) -> None:
        pass


def test_when_weights_are_registered_then_the_version_tags_are_the_contracts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    rest = FakeRest()
    monkeypatch.setattr(registry, "_rest", lambda _settings: rest)
    monkeypatch.setattr(registry, "minio_client", lambda _settings: FakeMinio())
    monkeypatch.setattr(registry, "ensure_bucket", lambda _client, _bucket: None)
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    tags = {"dataset": "shapes@0c51c848f161", "base_model": "yolov8n.yaml"}
    metrics = {"precision": 0.5, "mAP50": 1e-5}
    registry.register_weights(Settings(), weights, "run", ["circle", "square"], metrics, tags=tags)
    validator("registry-tags").validate(rest.tags)
    known = set(schema("registry-tags")["properties"])
    assert {key for key in rest.tags if not key.startswith(registry.METRIC_PREFIX)} <= known


def test_when_metric_tags_are_named_then_their_prefix_is_the_literal_of_the_contracts_pattern() -> None:
    # From ^metric\. (patternProperties); the CLI's is generated from the same key.
    assert registry.METRIC_PREFIX == "metric."
    golden = next(instances(fixtures("registry-tags", "valid")[0]))
    check = validator("registry-tags")
    assert check.is_valid({**golden, f"{registry.METRIC_PREFIX}mAP50": "0.5"})
    assert not check.is_valid({**golden, f"{registry.METRIC_PREFIX}mAP50": "half"})


@pytest.mark.parametrize("path", fixtures("registry-tags", "valid"), ids=lambda p: p.name)
def test_when_golden_tags_are_read_then_their_json_values_match_their_content_schemas(path: Path) -> None:
    tags = json.loads(path.read_text())
    properties = schema("registry-tags")["properties"]
    for key, spec in properties.items():
        if key in tags and spec.get("contentMediaType") == "application/json":
            content_schema = {"$defs": schema("registry-tags")["$defs"], **spec["contentSchema"]}
            Draft202012Validator(content_schema).validate(json.loads(tags[key]))


# --- Dataset manifest ------------------------------------------------------------------------------


def test_when_the_golden_manifest_is_read_then_the_trainer_takes_its_version_and_files() -> None:
    # The hash itself is computed only by the push; cli/test/contracts.unit.test.ts reproduces it.
    manifest = json.loads((FIXTURES / "dataset-manifest/valid/shapes.json").read_text())
    name, version, digest, files = manifest_identity(manifest)
    assert (name, version, digest) == ("shapes", manifest["content_hash"][:12], manifest["content_hash"])
    assert files == {path: meta["sha256"] for path, meta in manifest["files"].items()}


# --- Announcements of finished tasks --------------------------------------------------------------


def test_when_golden_announcements_are_parsed_then_valid_ones_pass_and_invalid_ones_fail() -> None:
    for path in fixtures("finished-tasks", "valid"):
        for instance in instances(path):
            # `outcomes` is optional in the contract (older services); the service always sends it.
            assert FinishedTasks.model_validate(instance).model_dump() == {"outcomes": {}} | instance
    for path in fixtures("finished-tasks", "invalid"):
        for instance in instances(path):
            with pytest.raises(ValidationError):
                FinishedTasks.model_validate(instance, strict=True)
