"""Starts the BentoML service with the project's settings: `python -m mini_streamio.serving`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mini_streamio.settings import SettingsError, get_settings


def main() -> None:
    try:
        settings = get_settings()
    except SettingsError as error:
        sys.exit(f"bento: {error}")
    home = settings.data_dir / "bentoml"
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true"}
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    args = [
        bentoml, "serve", "mini_streamio.serving.service:Detection",
        "--host", settings.bind_host,
        "--port", str(settings.bentoml_port),
    ]  # fmt: skip
    os.execve(bentoml, args, env)


if __name__ == "__main__":
    main()
