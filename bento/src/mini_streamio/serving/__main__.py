"""Starts the BentoML service with the project's settings: `python -m mini_streamio.serving`."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mini_streamio.settings import Settings, SettingsError, get_settings


def main() -> None:
    try:
        settings = get_settings()
    except SettingsError as error:
        sys.exit(f"bento: {error}")
    bentoml = str(Path(sys.executable).with_name("bentoml"))
    args = [
        bentoml, "serve", "mini_streamio.serving.service:Detection",
        "--host", settings.bind_host,
        "--port", str(settings.bentoml_port),
    ]  # fmt: skip
    os.execve(bentoml, args, serving_environment(settings))


def serving_environment(settings: Settings) -> dict[str, str]:
    """BentoML's environment: its home under the data dir, no usage tracking, a temp dir of its own.

    BentoML keeps every upload (a user's image) in a temp dir while its task runs and removes them
    when it shuts down; a server that is killed leaves them behind. In a temp dir of its own,
    emptied here at every start as BentoML empties its task store, none outlives the next start.
    """
    home = settings.data_dir / "bentoml"
    temp = home / "tmp"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    return os.environ | {"BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "true", "TMPDIR": str(temp)}


if __name__ == "__main__":
    main()
