"""Nothing downloads at run time: Ultralytics, configured by mini_streamio.offline, trains
a model from an architecture yaml with every non-loopback connection and DNS lookup refused."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mini_streamio.settings import REPO_ROOT
from mini_streamio.synthetic import generate_shapes_dataset

NETWORK_GUARD = textwrap.dedent(
    """
    import socket, sys
    from pathlib import Path

    attempts = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def is_local(host):
        return str(host) in ("localhost", "::1") or str(host).startswith("127.")

    def connect(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if not isinstance(host, str) or not (is_local(host) or self.family == socket.AF_UNIX):
            attempts.append(("connect", address))
            raise OSError("network access blocked by test")
        return real_connect(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not is_local(host):
            attempts.append(("getaddrinfo", host))
            raise socket.gaierror("DNS blocked by test")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect
    socket.getaddrinfo = getaddrinfo
    """
)

GUARDED_TRAINING = NETWORK_GUARD + textwrap.dedent(
    """
    from mini_streamio.offline import configure_ultralytics
    configure_ultralytics(Path(sys.argv[1]) / "ultralytics")
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    model.train(data=sys.argv[2], epochs=1, imgsz=64, batch=8, workers=0, device="cpu",
                project=sys.argv[1], name="run", plots=True, amp=False, verbose=False)
    model.predict(sys.argv[3], imgsz=64, verbose=False)

    from mini_streamio.runtimes import Backend, ExportOptions, export_weights
    weights = Path(sys.argv[1]) / "run" / "weights" / "best.pt"
    for backend in (Backend.ONNX, Backend.OPENVINO):
        exported = export_weights(weights, ExportOptions(backend), Path(sys.argv[1]) / backend)
        YOLO(str(exported), task="detect").predict(sys.argv[3], verbose=False)
    int8 = ExportOptions(Backend.OPENVINO, int8=True, data=Path(sys.argv[2]))  # nncf, calibrated on valid
    exported = export_weights(weights, int8, Path(sys.argv[1]) / "openvino-int8")
    YOLO(str(exported), task="detect").predict(sys.argv[3], verbose=False)
    import nncf.telemetry  # outside pytest nncf sends events unless openvino_telemetry is missing
    print("NNCF TELEMETRY", type(nncf.telemetry.telemetry).__name__)
    print("ATTEMPTS", attempts)
    sys.exit(1 if attempts else 0)
    """
)


@pytest.mark.integration  # trains and exports in a child process
def test_when_training_exporting_and_predicting_offline_then_no_network_access_is_attempted(
    tmp_path: Path,
) -> None:
    data_yaml = generate_shapes_dataset(tmp_path / "shapes", {"train": 8, "valid": 4}, image_size=64)
    image = next((tmp_path / "shapes" / "valid" / "images").iterdir())
    result = subprocess.run(
        [sys.executable, "-c", GUARDED_TRAINING, str(tmp_path), str(data_yaml), str(image)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ATTEMPTS []" in result.stdout
    assert "NNCF TELEMETRY MagicMock" in result.stdout  # nncf's no-op stub
    # The plots need the font that would otherwise be downloaded.
    assert (tmp_path / "ultralytics" / "Ultralytics" / "Arial.ttf").exists()
    assert (tmp_path / "run" / "results.csv").exists()
    assert (tmp_path / "onnx" / "best.onnx").exists()
    assert (tmp_path / "openvino-int8" / "best_int8_openvino_model" / "best.xml").exists()


def test_when_the_environment_is_installed_then_openvino_telemetry_is_not() -> None:
    # OpenVINO's model converter and nncf (int8 exports) would send usage events through it; without
    # it each runs a no-op stub. nncf depends on it: the lock overrides that to never install it.
    assert importlib.util.find_spec("openvino") is not None
    assert importlib.util.find_spec("nncf") is not None
    assert importlib.util.find_spec("openvino_telemetry") is None
    lock = (REPO_ROOT / "bento" / "uv.lock").read_text()
    wanted_by = [line for line in lock.splitlines() if '{ name = "openvino-telemetry"' in line]
    assert wanted_by, "nothing depends on openvino-telemetry any more: check what sends telemetry now"
    assert all("sys_platform == 'never'" in line for line in wanted_by), wanted_by


# Ultralytics' AMP check on a GPU fetches yolo26n.pt the way this does; the check itself needs a GPU.
GUARDED_AMP_CHECK_DOWNLOAD = NETWORK_GUARD + textwrap.dedent(
    """
    from mini_streamio.offline import amp_check_without_download, configure_ultralytics, downloads_refused
    configure_ultralytics(Path(sys.argv[1]) / "ultralytics")
    from ultralytics.engine import trainer
    from ultralytics.utils import WEIGHTS_DIR
    from ultralytics.utils.downloads import attempt_download_asset

    amp_check_without_download()
    amp_check_without_download()  # a second call does not wrap it twice
    assert trainer.check_amp._offline and trainer.check_amp.__closure__ is not None
    refused = False
    try:
        if sys.argv[2] == "refused":
            with downloads_refused():
                attempt_download_asset(WEIGHTS_DIR / "yolo26n.pt")
        else:
            attempt_download_asset(WEIGHTS_DIR / "yolo26n.pt")
    except ConnectionError:
        refused = True
    print("REFUSED", refused, "ATTEMPTS", attempts)
    """
)


def amp_check_download(tmp_path: Path, mode: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", GUARDED_AMP_CHECK_DOWNLOAD, str(tmp_path), mode],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.mark.integration  # runs a child process
def test_when_downloads_are_left_to_ultralytics_then_the_amp_check_model_is_fetched(tmp_path: Path) -> None:
    assert "ATTEMPTS [('getaddrinfo', 'github.com')]" in amp_check_download(tmp_path, "left")


@pytest.mark.integration  # runs a child process
def test_when_downloads_are_refused_then_the_amp_check_model_fails_at_once_without_a_connection(
    tmp_path: Path,
) -> None:
    assert "REFUSED True ATTEMPTS []" in amp_check_download(tmp_path, "refused")
