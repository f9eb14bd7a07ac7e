"""Settings of every Python process, read once from the environment.

The variable names are shared with the gateway's zod schema, the native stack and
docker-compose, so one `.env` configures the whole system.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]


class SettingsError(Exception):
    """A setting is missing or invalid; the message names it and its value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    bind_host: str = "127.0.0.1"
    minio_endpoint: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:9000")
    minio_access_key: str = Field(default="mini-streamio", min_length=3)
    minio_secret_key: SecretStr = Field(default=SecretStr("mini-streamio-secret"), min_length=8)
    minio_region: str = "us-east-1"
    mlflow_tracking_uri: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:5000")
    mlflow_port: int = Field(default=5000, ge=1, le=65535)
    # The MLflow server's backend store (runs, metrics, registry): unset, SQLite under data_dir;
    # postgresql://user:password@host:port/database for a database several users share. Checked by
    # the server's launcher (tracking_server.py), the only process that uses it.
    mlflow_backend_store_uri: SecretStr | None = None
    bentoml_port: int = Field(default=3000, ge=1, le=65535)
    data_dir: Path = Field(default=REPO_ROOT / ".data", validation_alias="MINI_STREAMIO_DATA_DIR")
    # Whether Ultralytics may download pretrained weights. Decided by the operator, never by
    # probing the network: offline machines would hang on the probe.
    allow_downloads: bool = Field(default=False, validation_alias="MINI_STREAMIO_ALLOW_DOWNLOADS")

    datasets_bucket: str = "datasets"
    models_bucket: str = "models"
    mlflow_bucket: str = "mlflow"
    registered_model_name: str = "mini-streamio-detector"

    # Inference service (mini_streamio.serving); the worker/thread defaults were measured on 2 cores
    # (docs/BENCHMARKS.md, "Inference batching").
    model_poll_interval_s: float = Field(default=10.0, gt=0)
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    # Two overlap BentoML's request handling with inference (throughput ratio about 0.8-1.0 against
    # 0.6-0.8 with one on 2 cores, docs/BENCHMARKS.md); they need serving.task_store. Each holds the
    # model (memory per runtime: README, "Runtimes").
    bentoml_workers: int = Field(default=2, ge=1)
    inference_threads: int = Field(default=0, ge=0)  # runtime threads per worker; 0 = cores / workers
    # Runtime of the served model (runtimes.py): auto = TensorRT on an NVIDIA GPU when its
    # engine exists, else OpenVINO, else ONNX Runtime, else torch.
    inference_backend: Literal["auto", "torch", "onnx", "openvino", "tensorrt"] = "auto"
    # Exports made when a version is registered (comma-separated; empty: none, made on first load instead).
    export_formats: str = Field(default="onnx,openvino", pattern=r"^((onnx|openvino|tensorrt)(,|$))*$")
    # Workers run at this nice value so that requests (gateway, MinIO) are not queued behind
    # inference on shared cores; 0 leaves the priority alone (serving/priority.py says why).
    inference_nice: int = Field(default=10, ge=0, le=19)
    inference_sched_idle: bool = True  # and run under SCHED_IDLE: preempted whenever a request needs a core
    # A worker whose detection stalls this long exits and is replaced (serving/watchdog.py); 0: never.
    inference_timeout_s: float = Field(default=120.0, ge=0)
    # BentoML's own log lines per request and per task, and tracing spans of the task endpoints:
    # off by default: they cost the workers CPU for what nobody reads (serving/service.py says which).
    bentoml_request_log: bool = False

    @field_validator("mlflow_backend_store_uri", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value  # `VAR=` in an .env file, or compose passing it on empty

    @property
    def minio_secure(self) -> bool:
        return self.minio_endpoint.scheme == "https"

    @property
    def minio_host(self) -> str:
        """host:port, the form the MinIO SDK takes."""
        return f"{self.minio_endpoint.host}:{self.minio_endpoint.port}"


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment variables that give a child process these settings."""
    values = settings.model_dump()
    names = {field: _ALIASES.get(field, field.upper()) for field in values}
    return {names[field]: _text(value) for field, value in values.items() if value is not None}


def _text(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value).lower() if isinstance(value, bool) else str(value)


_ALIASES = {
    "data_dir": "MINI_STREAMIO_DATA_DIR",
    "MINI_STREAMIO_DATA_DIR": "MINI_STREAMIO_DATA_DIR",
    "allow_downloads": "MINI_STREAMIO_ALLOW_DOWNLOADS",
    "MINI_STREAMIO_ALLOW_DOWNLOADS": "MINI_STREAMIO_ALLOW_DOWNLOADS",
}


def redact_url(url: str) -> str:
    """The URL with the password of its user part replaced by `***`, for messages and logs."""
    scheme, separator, rest = url.partition("://")
    at = rest.rfind("@")  # the last one: an unencoded `@` may be part of the password
    if not separator or at < 0:
        return url
    user, colon, _ = rest[:at].partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{rest[at + 1 :]}"


def _shown(field: str, value: object) -> str:
    """A rejected value as an error message may show it: secrets never, URLs without a password."""
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    if annotation is not None and SecretStr in (annotation, *getattr(annotation, "__args__", ())):
        return repr(redact_url(value)) if isinstance(value, str) and "://" in value else "'***'"
    return repr(redact_url(value) if isinstance(value, str) else value)


def _describe(error: ValidationError) -> str:
    lines = []
    for issue in error.errors():
        field = str(issue["loc"][0]) if issue["loc"] else "?"
        name = _ALIASES.get(field, field.upper())
        lines.append(f"  {name}={_shown(field, issue.get('input'))}: {issue['msg']}")
    return "invalid setting(s):\n" + "\n".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; a bad value raises SettingsError naming the variable."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
