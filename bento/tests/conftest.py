"""Shared fixtures: real MinIO and MLflow servers, started for the test session.

The services are started by the project's own launcher (scripts/stack/serve-test.ts),
the same definitions `npm start` uses, on free ports with a throw-away data directory.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mini_streamio.settings import REPO_ROOT, Settings

# --- Test tiers: `unit` (npm run test:unit runs `-m unit`) and `integration` -------------------------

# Fixtures that start MinIO, MLflow or BentoML, or train a model: a test that uses one is integration.
INTEGRATION_FIXTURES = frozenset({"services", "settings", "tiny_model", "start_bento"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "unit: starts no process, opens no socket (given to every other test)")
    config.addinivalue_line(
        "markers",
        "integration: uses real services, trains, or runs a child process "
        f"(given to tests using {', '.join(sorted(INTEGRATION_FIXTURES))}; mark the rest by hand)",
    )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("integration") is None:
            uses = INTEGRATION_FIXTURES & set(getattr(item, "fixturenames", ()))
            item.add_marker(pytest.mark.integration if uses else pytest.mark.unit)


@pytest.fixture(autouse=True)
def unit_tests_stay_in_process(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that starts a process or connects a socket fails, naming the marker it needs."""
    if request.node.get_closest_marker("unit") is None:
        return
    why = f"{request.node.nodeid} is a unit test: mark it @pytest.mark.integration to %s"
    real_connect = socket.socket.connect

    def popen(*args: object, **kwargs: object) -> None:
        raise AssertionError(why % "start processes")

    def connect(self: socket.socket, address: object) -> None:
        if self.family != socket.AF_UNIX:
            raise AssertionError(why % f"connect to {address}")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    monkeypatch.setattr(socket.socket, "connect", connect)


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


# --- Inference: Ultralytics configured offline, a tiny detector trained once per session ---------


@pytest.fixture(scope="session")
def ultralytics_offline(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Ultralytics configured offline (once: configure_ultralytics must precede its import)."""
    import sys

    from mini_streamio.offline import configure_ultralytics

    if "ultralytics" not in sys.modules:
        configure_ultralytics(tmp_path_factory.mktemp("ultralytics"))


class TinyModel:
    """YOLOv8n weights trained on synthetic shapes at 64 px, and the dataset it learnt from."""

    def __init__(self, weights: Path, dataset: Path, class_names: list[str]) -> None:
        self.weights = weights
        self.dataset = dataset
        self.class_names = class_names

    def images(self, split: str = "valid") -> list[Path]:
        return sorted((self.dataset / split / "images").iterdir())

    def labels(self, image: Path) -> list[tuple[int, list[float]]]:
        """The ground-truth boxes of a dataset image: (class id, [x_center, y_center, w, h] normalised)."""
        boxes = []
        for row in (image.parent.parent / "labels" / f"{image.stem}.txt").read_text().splitlines():
            class_id, *box = row.split()
            boxes.append((int(class_id), [float(v) for v in box]))
        return boxes


@pytest.fixture(scope="session")
def tiny_model(ultralytics_offline: None, tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    """A detector that really finds the synthetic shapes (mAP50 about 0.9), trained in about a minute.

    From an architecture yaml (no pretrained weights offline) YOLO needs a few dozen epochs before
    it reports anything: 40 epochs on 160 images of 64 px, without mosaic, which would shrink the
    shapes below what a 64 px input can show.
    """
    from ultralytics.models import YOLO

    from mini_streamio.synthetic import CLASS_NAMES, generate_shapes_dataset

    root = tmp_path_factory.mktemp("tiny-model")
    data_yaml = generate_shapes_dataset(root / "shapes", {"train": 160, "valid": 16}, image_size=64, seed=1)
    YOLO("yolov8n.yaml").train(
        data=str(data_yaml), epochs=40, imgsz=64, batch=16, workers=0, device="cpu", seed=0,
        mosaic=0.0, close_mosaic=0, warmup_epochs=1, amp=False, plots=False, verbose=False,
        project=str(root / "runs"), name="train",
    )  # fmt: skip
    return TinyModel(root / "runs" / "train" / "weights" / "best.pt", root / "shapes", list(CLASS_NAMES))


# --- The BentoML service as a real process ----------------------------------------------------------


def free_port() -> int:
    """A free port below the kernel's ephemeral range: one from bind(0) is the kind the kernel also
    gives outgoing connections, which can take it before the service started later binds it."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(200):
        port = random.randint(10_000, low - 1)
        if port in _handed_out_ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out_ports.add(port)
        return port
    raise RuntimeError(f"no free port below {low}")


_handed_out_ports: set[int] = set()


class BentoProcess:
    """`python -m mini_streamio.serving`, started the way the stack starts it, on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{env['BENTOML_PORT']}"
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [str(REPO_ROOT / ".stack" / "python"), "-m", "mini_streamio.serving"],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the workers stop with it
            )
        self.wait_until(lambda: self.http.get("/livez").status_code == 200, "answers /livez", timeout=180)

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"bento exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if condition():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"bento never {what} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def worker_pids(self) -> list[int]:
        """The server's child processes: its workers (the server is the process started, after execs)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        return [int(pid) for pid in children.split()]

    def kill(self) -> None:
        """SIGKILL to the server and its workers: no clean-up runs, as after an OOM kill."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def start_bento(
    services: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., BentoProcess]]:
    """Starts BentoML services against the session's MinIO and MLflow; all are stopped at the end.

    Each gets its own data directory and port; keyword arguments become environment variables
    (e.g. REGISTERED_MODEL_NAME, MODEL_POLL_INTERVAL_S).
    """
    started: list[BentoProcess] = []

    def start(**overrides: str) -> BentoProcess:
        data_dir = tmp_path_factory.mktemp("bento")
        env = (
            os.environ
            | services
            | {
                "BENTOML_PORT": str(free_port()),
                "MINI_STREAMIO_DATA_DIR": str(data_dir),
                "PYTHONUNBUFFERED": "1",
            }
            | overrides
        )
        bento = BentoProcess(env, data_dir / "bento.log")
        started.append(bento)
        bento.start()
        return bento

    yield start
    for bento in started:
        bento.stop()
