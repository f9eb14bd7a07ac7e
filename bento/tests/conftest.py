"""Shared fixtures: real MinIO and MLflow servers, started for the test session.

The services are started by the project's own launcher (scripts/stack/serve-test.ts),
the same definitions `npm start` uses, on free ports with a throw-away data directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mini_streamio.settings import REPO_ROOT, Settings


class RunningServices:
    def __init__(self, *names: str, log: Path) -> None:
        node = shutil.which("node")
        assert node, "node is required to start the test services"
        self._log = log.open("w")
        self.process = subprocess.Popen(
            [node, "--import", "tsx", "scripts/stack/serve-test.ts", *names],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(30)
            raise RuntimeError(f"test services did not start:\n{log.read_text()[-4000:]}")
        self.env: dict[str, str] = json.loads(line)

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Client environment of a real MinIO + MLflow pair (MINIO_ENDPOINT, MLFLOW_TRACKING_URI, …)."""
    running = RunningServices("minio", "mlflow", log=tmp_path_factory.mktemp("services") / "services.log")
    yield running.env
    running.stop()


@pytest.fixture(scope="session")
def settings(services: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the session's services, with a private data directory."""
    data_dir = tmp_path_factory.mktemp("data")
    return Settings(
        minio_endpoint=services["MINIO_ENDPOINT"],
        minio_access_key=services["MINIO_ACCESS_KEY"],
        minio_secret_key=services["MINIO_SECRET_KEY"],
        mlflow_tracking_uri=services["MLFLOW_TRACKING_URI"],
        MINI_STREAMIO_DATA_DIR=data_dir,
    )
