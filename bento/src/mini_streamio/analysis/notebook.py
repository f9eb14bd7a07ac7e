"""Runs notebooks/analysis.ipynb with papermill and tidies the result for committing.

    python -m mini_streamio.analysis --output OUT.ipynb [-p NAME VALUE …]

Values are read as YAML (`-p NEAR_DUPLICATE_BITS 4` is a number). Papermill executes the notebook
in a kernel of this Python (the one running this module, with the same PYTHONPATH), inserts the
parameters after the cell tagged `parameters`, and fails on the first cell that raises.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mini_streamio.settings import REPO_ROOT, Settings

NOTEBOOK = REPO_ROOT / "notebooks" / "analysis.ipynb"
# Per-cell metadata papermill and nbclient add that changes on every run and means nothing to a reader.
_NOISY_CELL_METADATA = ("papermill", "execution")


def analysis_settings(
    minio_endpoint: str = "",
    minio_access_key: str = "",
    minio_secret_key: str = "",
    mlflow_tracking_uri: str = "",
    data_dir: str = "",
) -> Settings:
    """The project's settings (environment variables, then defaults), with the non-empty arguments
    taking precedence: the notebook's parameters."""
    overrides: dict[str, Any] = {
        "minio_endpoint": minio_endpoint,
        "minio_access_key": minio_access_key,
        "minio_secret_key": minio_secret_key,
        "mlflow_tracking_uri": mlflow_tracking_uri,
        "MINI_STREAMIO_DATA_DIR": data_dir,
    }
    return Settings(**{key: value for key, value in overrides.items() if value})


def execute(output: Path, parameters: dict[str, Any], source: Path = NOTEBOOK, timeout_s: int = 1800) -> Path:
    """Executes `source` into `output` (papermill), then strips the run-specific metadata."""
    import papermill

    output.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(source),
        str(output),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(source.parent),
        progress_bar=False,
        execution_timeout=timeout_s,
    )
    clean(output)
    return output


def clean(path: Path) -> None:
    """Keeps outputs and tags; drops timings, papermill's per-cell status and widget state."""
    import nbformat

    notebook = nbformat.read(str(path), as_version=4)
    for cell in notebook.cells:
        for key in _NOISY_CELL_METADATA:
            cell.metadata.pop(key, None)
        if not cell.metadata.get("tags", True):  # papermill adds `tags: []` to every cell
            del cell.metadata["tags"]
    notebook.metadata.pop("widgets", None)
    papermill_metadata = notebook.metadata.get("papermill", {})
    # The parameters say what the outputs show; the rest (times, paths, duration) is noise.
    notebook.metadata["papermill"] = {"parameters": papermill_metadata.get("parameters", {})}
    nbformat.write(notebook, str(path))


def parse_parameters(pairs: Sequence[Sequence[str]]) -> dict[str, Any]:
    return {name: yaml.safe_load(value) if value else "" for name, value in pairs}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mini_streamio.analysis", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--output", "-o", type=Path, required=True, help="executed notebook to write")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK, help="notebook to execute")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        dest="parameters",
    )
    parser.add_argument("--timeout", type=int, default=1800, help="seconds one cell may run")
    options = parser.parse_args(argv)
    try:
        execute(options.output, parse_parameters(options.parameters), options.notebook, options.timeout)
    except Exception as error:  # papermill's error names the failing cell and its traceback
        print(f"notebook failed: {error}", file=sys.stderr)
        return 1
    print(f"wrote {options.output}")
    return 0
