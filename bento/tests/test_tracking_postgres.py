"""The MLflow server on either backend store: SQLite (the default) and PostgreSQL (MLFLOW_BACKEND_STORE_URI).

The PostgreSQL server is a real one, Debian's package (installed by scripts/setup.sh), started
here on a free port in a throw-away directory and removed afterwards. Both backends get the same
runs, metrics, artifacts and registry versions through the project's own clients, and must give
them back the same.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mini_streamio.mlflow_rest import MlflowRest, MlflowRestError
from mini_streamio.registry import register_weights, resolve, tracking_client
from mini_streamio.settings import REPO_ROOT, Settings, SettingsError, get_settings, redact_url
from mini_streamio.training.tracking import RunTracker
from tests.conftest import free_port

PYTHON = str(REPO_ROOT / ".stack" / "python")

# --- A throw-away PostgreSQL server ----------------------------------------------------------------


def postgres_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL's binaries (/usr/lib/postgresql/<major>/bin), or None."""
    found = [Path(path).parent for path in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    return max(
        found,
        key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0,
        default=None,
    )


def no_postgres_reason() -> str:
    """Why there is no PostgreSQL to test against: scripts/setup.sh's note, or where it looked."""
    note = REPO_ROOT / ".stack" / "postgresql-unavailable"
    why = note.read_text().strip() if note.exists() else "scripts/setup.sh has not installed it"
    return (
        f"no PostgreSQL server binaries in /usr/lib/postgresql/*/bin ({why}); "
        "run `bash scripts/setup.sh` as root, or apt-get install postgresql"
    )


class PostgresServer:
    """initdb + pg_ctl on 127.0.0.1 and a free port, as the `postgres` user when we are root
    (PostgreSQL refuses to run as root); everything lives in one temporary directory."""

    superuser_password = secrets.token_hex(12)

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        # Not under pytest's tmp_path: that is private to root, and the server runs as `postgres`.
        self.root = Path(tempfile.mkdtemp(prefix="mini-streamio-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.started = False

    def _run(self, *args: str) -> None:
        as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [*as_user, str(self.bin_dir / args[0]), *args[1:]],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stdout}{result.stderr}{log}")

    def start(self) -> None:
        password_file = self.root / "superuser-password"
        password_file.write_text(self.superuser_password)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(password_file, "postgres", "postgres")
        self.root.chmod(0o700)
        password_file.chmod(0o600)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--pwfile", str(password_file),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        password_file.unlink()
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options
        )
        self.started = True

    def create_database(self, name: str, owner: str, password: str) -> str:
        """A new database owned by a new role; its URI, password included."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=self.superuser_password,
            dbname="postgres", autocommit=True,
        ) as connection:  # fmt: skip
            connection.execute(f"CREATE ROLE {owner} LOGIN PASSWORD '{password}'")
            connection.execute(f"CREATE DATABASE {name} OWNER {owner}")
        return f"postgresql://{owner}:{password}@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        try:
            if self.started:
                self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip(no_postgres_reason())
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# --- The project's MLflow server on PostgreSQL -----------------------------------------------------


class TrackingServer:
    """`python -m mini_streamio.tracking_server` (what `npm start` runs), on a free port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{env['MLFLOW_PORT']}"
        with log.open("w") as output:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "mini_streamio.tracking_server"],
                cwd=REPO_ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: uvicorn stops with it
            )
        started = time.monotonic()
        deadline = started + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow exited with {self.process.returncode}:\n{self.output()[-4000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    self.start_s = time.monotonic() - started
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"mlflow did not answer /health within 180 s:\n{self.output()[-4000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def command_lines(self) -> list[str]:
        """The command lines of the server and all its descendants (what `ps` shows every user)."""
        pids, lines = [self.process.pid], []
        while pids:
            pid = pids.pop()
            try:
                lines.append(Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " "))
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(child) for child in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
        return lines

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture(scope="module")
def mlflow_on_postgres(
    services: dict[str, str], postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TrackingServer, str]]:
    """The MLflow server on a fresh PostgreSQL database (MLflow creates its tables) and the session's
    MinIO; with the database password, which must never show."""
    password = f"pw-{secrets.token_hex(10)}"
    uri = postgres.create_database("mlflow", "mlflow_user", password)
    data_dir = tmp_path_factory.mktemp("mlflow-postgres")
    env = os.environ | services | {
        "MLFLOW_PORT": str(free_port()),
        "BIND_HOST": "127.0.0.1",
        "MINI_STREAMIO_DATA_DIR": str(data_dir),
        "MLFLOW_BACKEND_STORE_URI": uri,
        "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    server = TrackingServer(env, data_dir / "mlflow.log")
    try:
        # MLflow's migrations of the empty database take about 2.5 s here (SQLite's: about 7 s); most of
        # the start is importing MLflow, as with SQLite.
        print(f"\nMLflow on a fresh PostgreSQL database answered /health after {server.start_s:.1f} s")
        yield server, password
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """Settings whose MLflow server keeps its runs and registry in SQLite or in PostgreSQL."""
    if request.param == "sqlite":
        return settings  # the session's server, started by `npm start`'s own definition
    server, _ = request.getfixturevalue("mlflow_on_postgres")
    return settings.model_copy(update={"mlflow_tracking_uri": server.url})


# --- Tests -----------------------------------------------------------------------------------------


def test_when_runs_and_versions_are_stored_then_the_backend_gives_them_back_the_same(
    backend: Settings, tmp_path: Path
) -> None:
    experiment, name = f"backend-{uuid.uuid4().hex[:8]}", f"backend-model-{uuid.uuid4().hex[:8]}"
    tracker = RunTracker.start(backend, experiment, "yolov8n-shapes", {"dataset": "shapes@1"})
    tracker.log_params({"epochs": 3, "imgsz": 64, "model": "yolov8n.yaml"})
    for step in range(3):
        tracker.log_metrics({"metrics/mAP50_B": 0.25 * (step + 1), "train/box_loss": 1.0 / (step + 1)}, step)
    save_dir = tmp_path / "run"
    (save_dir / "weights").mkdir(parents=True)
    (save_dir / "results.csv").write_text("epoch,mAP50\n0,0.25\n1,0.5\n2,0.75\n")
    weights = save_dir / "weights" / "best.pt"
    weights.write_bytes(b"weights of the test run")
    tracker.log_run_directory(save_dir)
    tracker.end("FINISHED")
    first = register_weights(
        backend, weights, tracker.run_id, ["circle", "square"], {"mAP50": 0.75},
        name=name, alias="production", tags={"dataset": "shapes@1"},
    )  # fmt: skip
    second = register_weights(backend, weights, tracker.run_id, ["circle", "square"], name=name)
    client = tracking_client(backend)
    client.set_registered_model_alias(name, "staging", second.version)
    client.set_model_version_tag(name, second.version, "reviewed", "yes")

    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "yolov8n-shapes"
    assert run.data.params == {"epochs": "3", "imgsz": "64", "model": "yolov8n.yaml"}
    assert run.data.tags["dataset"] == "shapes@1"
    assert run.data.metrics == {"metrics/mAP50_B": 0.75, "train/box_loss": pytest.approx(1 / 3)}
    history = client.get_metric_history(tracker.run_id, "metrics/mAP50_B")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.25), (1, 0.5), (2, 0.75)]
    found = client.search_runs(
        [tracker.experiment_id], "metrics.`metrics/mAP50_B` > 0.5 and params.imgsz = '64'"
    )
    assert [r.info.run_id for r in found] == [tracker.run_id]
    assert sorted(a.path for a in client.list_artifacts(tracker.run_id)) == ["results.csv", "weights"]
    rest = MlflowRest(str(backend.mlflow_tracking_uri))
    assert rest.download_bytes(tracker.artifact_uri, "results.csv").startswith(b"epoch,mAP50")
    assert rest.download_bytes(tracker.artifact_uri, "weights/best.pt") == b"weights of the test run"

    assert (first.version, second.version) == ("1", "2")
    assert resolve(backend, name=name) == first
    assert resolve(backend, "@staging", name=name) == second
    assert resolve(backend, "@nothing", name=name) is None
    assert first.metrics == {"mAP50": 0.75} and first.class_names == ["circle", "square"]
    version = client.get_model_version(name, "2")
    assert version.tags["reviewed"] == "yes" and version.run_id == tracker.run_id
    assert sorted(v.version for v in client.search_model_versions(f"name = '{name}'")) == ["1", "2"]
    assert client.get_registered_model(name).aliases == {"production": "1", "staging": "2"}


@pytest.mark.integration
def test_when_the_backend_is_postgresql_then_the_store_is_there_and_no_password_shows(
    mlflow_on_postgres: tuple[TrackingServer, str],
) -> None:
    server, password = mlflow_on_postgres
    rest = MlflowRest(server.url)
    rest.post("experiments/create", {"name": f"password-{uuid.uuid4().hex[:8]}"})
    with pytest.raises(MlflowRestError) as missing:
        rest.get("runs/get", run_id="0" * 32)  # an error path: it must not print the URI either
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    import psycopg

    uri = server.env["MLFLOW_BACKEND_STORE_URI"]
    with psycopg.connect(uri) as connection:  # MLflow's tables are in PostgreSQL, migrated to head
        tables = {row[0] for row in connection.execute("select tablename from pg_tables")}
        heads = connection.execute("select version_num from alembic_version").fetchall()
    assert {"experiments", "runs", "metrics", "registered_models", "model_versions"} <= tables
    assert len(heads) == 1
    data_dir = Path(server.env["MINI_STREAMIO_DATA_DIR"])
    assert not (data_dir / "mlflow" / "mlflow.db").exists()  # nothing went to SQLite
    output = server.output()
    assert password not in output, output[-2000:]
    assert all(password not in line for line in server.command_lines())


@pytest.mark.integration
@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("mysql://mlflow:{password}@127.0.0.1:3306/mlflow", "mysql:// is not supported"),
        ("postgresql://mlflow:{password}@127.0.0.1:{port}/mlflow", "cannot connect to PostgreSQL"),
        ("postgresql://mlflow:{password}@127.0.0.1:notaport/mlflow", "not a database URL"),
        ("postgresql://mlflow:{password}@127.0.0.1:{port}", "no database named"),
    ],
    ids=["wrong-scheme", "unreachable", "bad-port", "no-database"],
)
def test_when_the_backend_store_uri_is_unusable_then_the_server_stops_with_one_line_naming_it(
    uri: str, reason: str, tmp_path: Path
) -> None:
    password = f"pw-{secrets.token_hex(10)}"
    env = os.environ | {
        "MLFLOW_BACKEND_STORE_URI": uri.format(password=password, port=free_port()),
        "MINI_STREAMIO_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [PYTHON, "-m", "mini_streamio.tracking_server"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert len(output.strip().splitlines()) == 1, output
    assert output.startswith("mlflow: MLFLOW_BACKEND_STORE_URI=") and reason in output, output
    assert password not in output and ":***@" in output
    assert not (tmp_path / "mlflow").exists()


@pytest.mark.integration
def test_when_the_password_is_wrong_then_the_server_stops_with_one_line_without_it(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    uri = postgres.create_database("wrong_password", "wrong_password_user", "the-right-one")
    wrong = "the-wrong-one-" + secrets.token_hex(6)
    env = os.environ | {
        "MLFLOW_BACKEND_STORE_URI": uri.replace("the-right-one", wrong),
        "MINI_STREAMIO_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [PYTHON, "-m", "mini_streamio.tracking_server"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert len(output.strip().splitlines()) == 1, output
    assert "MLFLOW_BACKEND_STORE_URI=postgresql://wrong_password_user:***@" in output
    assert "password authentication failed" in output
    assert wrong not in output and "the-right-one" not in output


def test_when_a_url_holds_a_password_then_messages_show_it_as_stars(monkeypatch: pytest.MonkeyPatch) -> None:
    assert redact_url("postgresql://u:s3cr%40t@db:5432/mlflow") == "postgresql://u:***@db:5432/mlflow"
    assert redact_url("postgresql://u:p@ss@db/mlflow") == "postgresql://u:***@db/mlflow"  # unencoded @
    assert redact_url("postgresql://u@db/mlflow") == "postgresql://u@db/mlflow"
    assert redact_url("postgresql://db/mlflow") == "postgresql://db/mlflow"
    monkeypatch.setenv("MINIO_SECRET_KEY", "short")  # too short: rejected, and not shown
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as raised:
        get_settings()
    get_settings.cache_clear()
    assert "MINIO_SECRET_KEY='***'" in str(raised.value) and "short" not in str(raised.value)


def test_when_the_backend_store_uri_is_empty_then_it_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "")
    assert Settings().mlflow_backend_store_uri is None
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", "postgresql://u:pw-1e4f9a@db/mlflow")
    assert "pw-1e4f9a" not in repr(Settings())
