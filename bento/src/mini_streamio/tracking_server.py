"""Runs the MLflow tracking server: runs and registry in SQLite or PostgreSQL, artifacts in MinIO.

The backend store is SQLite under the data directory unless MLFLOW_BACKEND_STORE_URI names a
PostgreSQL database (several users, or several MLflow servers, sharing one store); MLflow creates
or migrates its tables there when it starts. The server proxies artifacts (`--serve-artifacts`),
so clients need only the tracking URI, never S3 credentials. The bucket is created here, by the
process that needs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mini_streamio.settings import Settings, SettingsError, get_settings, redact_url
from mini_streamio.storage import ensure_bucket, minio_client

# The SQLAlchemy schemes this server has a driver for: psycopg 3 (bento/pyproject.toml).
POSTGRES_SCHEMES = ("postgresql", "postgresql+psycopg")
POSTGRES_FORM = "postgresql://user:password@host:port/database"
CONNECT_TIMEOUT_S = 10


def main() -> None:
    try:
        settings = get_settings()
    except SettingsError as error:
        sys.exit(f"mlflow: {error}")
    backend_store_uri = backend_store(settings)
    ensure_bucket(minio_client(settings), settings.mlflow_bucket)
    env = os.environ | {
        # Through the environment, not the command line, where every local user could read a
        # password (`ps`); `mlflow server` reads --backend-store-uri from this variable.
        "MLFLOW_BACKEND_STORE_URI": backend_store_uri,
        "MLFLOW_S3_ENDPOINT_URL": str(settings.minio_endpoint).rstrip("/"),
        "AWS_ACCESS_KEY_ID": settings.minio_access_key,
        "AWS_SECRET_ACCESS_KEY": settings.minio_secret_key.get_secret_value(),
        "AWS_DEFAULT_REGION": settings.minio_region,
        # The job runner serves GenAI online scoring, which this project does not use; it
        # would start six extra worker processes.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    mlflow = str(Path(sys.executable).with_name("mlflow"))
    args = [
        mlflow, "server",
        "--host", settings.bind_host,
        "--port", str(settings.mlflow_port),
        "--artifacts-destination", f"s3://{settings.mlflow_bucket}",
        "--serve-artifacts",
        # One worker: the registry polls and training uploads never need two, and each holds memory.
        "--workers", "1",
    ]  # fmt: skip
    os.execve(mlflow, args, env)


def backend_store(settings: Settings) -> str:
    """The backend store URI for `mlflow server`; exits with one line naming the setting if unusable."""
    if settings.mlflow_backend_store_uri is None:
        store = settings.data_dir / "mlflow"
        store.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{store / 'mlflow.db'}"
    uri = settings.mlflow_backend_store_uri.get_secret_value()
    problem = postgres_problem(uri)
    if problem:
        sys.exit(f"mlflow: MLFLOW_BACKEND_STORE_URI={redact_url(uri)}: {problem}")
    return uri


def postgres_problem(uri: str) -> str | None:
    """Why `uri` is no PostgreSQL database this server can use (one line, no password), or None."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError
    from sqlalchemy.pool import NullPool

    try:
        url = make_url(uri)
    except (ArgumentError, ValueError):
        return f"not a database URL; expected {POSTGRES_FORM}"
    if url.drivername not in POSTGRES_SCHEMES:
        return f"{url.drivername}:// is not supported; expected {POSTGRES_FORM}"
    if not url.database:
        return f"no database named; expected {POSTGRES_FORM}"
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except SQLAlchemyError as error:
        reason = " ".join(str(getattr(error, "orig", None) or error).split())
        if url.password:
            reason = reason.replace(str(url.password), "***")
        return f"cannot connect to PostgreSQL: {reason}"
    finally:
        engine.dispose()
    return None


if __name__ == "__main__":
    main()
