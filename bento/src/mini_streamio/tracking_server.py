"""Runs the MLflow tracking server: SQLite backend, artifacts in a MinIO bucket.

The server proxies artifacts (`--serve-artifacts`), so clients need only the tracking URI,
never S3 credentials. The bucket is created here, by the process that needs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mini_streamio.settings import SettingsError, get_settings
from mini_streamio.storage import ensure_bucket, minio_client


def main() -> None:
    try:
        settings = get_settings()
    except SettingsError as error:
        sys.exit(f"mlflow: {error}")
    ensure_bucket(minio_client(settings), settings.mlflow_bucket)
    store = settings.data_dir / "mlflow"
    store.mkdir(parents=True, exist_ok=True)
    env = os.environ | {
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
        "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
        "--artifacts-destination", f"s3://{settings.mlflow_bucket}",
        "--serve-artifacts",
        # One worker: the registry polls and training uploads never need two, and each holds memory.
        "--workers", "1",
    ]  # fmt: skip
    os.execve(mlflow, args, env)


if __name__ == "__main__":
    main()
