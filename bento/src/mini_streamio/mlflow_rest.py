"""A small client of MLflow's REST API, for the calls this project makes on every training.

Why not `mlflow.MlflowClient`: importing the `mlflow` package takes about 4 s of CPU (it pulls
in pandas, polars, the GenAI and gateway modules), and the trainer and the registry run once
per training or service start. The few calls needed here are plain JSON over HTTP
(https://mlflow.org/docs/latest/api_reference/rest-api.html), so they are made directly with
the standard library. Tests read results back with MLflow's own client.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ARTIFACTS_API = "api/2.0/mlflow-artifacts/artifacts"


class MlflowRestError(Exception):
    """An error answer of the MLflow server (or no answer at all: error_code UNAVAILABLE)."""

    def __init__(self, message: str, error_code: str, status: int) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.status = status


class MlflowRest:
    def __init__(self, tracking_uri: str, timeout_s: float = 60.0) -> None:
        self.base = tracking_uri.rstrip("/")
        self.timeout_s = timeout_s

    def get(self, endpoint: str, **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        return self._json("GET", f"{self.base}/api/2.0/mlflow/{endpoint}?{query}", None)

    def post(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("POST", f"{self.base}/api/2.0/mlflow/{endpoint}", body)

    def patch(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("PATCH", f"{self.base}/api/2.0/mlflow/{endpoint}", body)

    def delete(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("DELETE", f"{self.base}/api/2.0/mlflow/{endpoint}", body)

    def upload_artifact(self, artifact_uri: str, file: Path, artifact_path: str | None = None) -> str:
        """Uploads a file into a run's artifacts; the server proxies artifacts (`mlflow-artifacts:` URIs)."""
        return self.upload_bytes(artifact_uri, file.read_bytes(), _join(artifact_path, file.name))

    def upload_bytes(self, artifact_uri: str, content: bytes, path: str) -> str:
        url = self._artifact_url(artifact_uri, path)
        self._send("PUT", url, content, "application/octet-stream")
        return path

    def download_bytes(self, artifact_uri: str, path: str) -> bytes:
        """One artifact file of a run (the reverse of upload_bytes), read through the server's proxy."""
        return self._send("GET", self._artifact_url(artifact_uri, path), None, "application/octet-stream")

    def _artifact_url(self, artifact_uri: str, path: str) -> str:
        root = urllib.parse.urlparse(artifact_uri)
        if root.scheme != "mlflow-artifacts":
            raise MlflowRestError(
                f"artifact store {artifact_uri!r} is not proxied by the MLflow server (--serve-artifacts)",
                "UNSUPPORTED_ARTIFACT_STORE",
                0,
            )
        location = urllib.parse.quote(f"{root.path.strip('/')}/{path}")
        return f"{self.base}/{ARTIFACTS_API}/{location}"

    def list_artifacts(self, run_id: str, path: str = "") -> list[str]:
        """Every artifact file of a run, recursively."""
        answer = self.get("artifacts/list", run_id=run_id, path=path)
        files: list[str] = []
        for info in answer.get("files", []):
            if info.get("is_dir"):
                files += self.list_artifacts(run_id, info["path"])
            else:
                files.append(info["path"])
        return files

    def _json(self, method: str, url: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        answer = self._send(method, url, data, "application/json")
        return json.loads(answer) if answer else {}

    def _send(self, method: str, url: str, data: bytes | None, content_type: str) -> bytes:
        headers = {"Content-Type": content_type}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        for attempt in (1, 2, 3):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    content: bytes = response.read()
                    return content
            except urllib.error.HTTPError as error:
                raise _http_error(error) from None
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                # Only a refused connection is retried: the request never reached the server, so
                # repeating it cannot create a second run or version. A restarting server refuses.
                if attempt < 3 and isinstance(reason, ConnectionRefusedError):
                    time.sleep(0.5 * attempt)
                    continue
                message = f"MLflow at {self.base} is unreachable: {reason}"
                raise MlflowRestError(message, "UNAVAILABLE", 0) from None
        raise AssertionError("unreachable")


def _http_error(error: urllib.error.HTTPError) -> MlflowRestError:
    text = error.read().decode(errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = {"message": text[:500]}
    code = str(body.get("error_code", error.code))
    return MlflowRestError(f"MLflow {error.url}: {body.get('message', text)}", code, error.code)


def _join(directory: str | None, name: str) -> str:
    return f"{directory.strip('/')}/{name}" if directory else name
