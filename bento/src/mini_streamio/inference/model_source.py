"""Which model the service runs: the registry version behind the `production` alias, kept current.

`ModelWatcher` polls the alias every `MODEL_POLL_INTERVAL_S` seconds in a background thread.
- No version has the alias yet (or MLflow/MinIO is unreachable): nothing is loaded, `current` stays
  None (the service's /readyz answers 503), and the next poll tries again.
- The alias points at another version: that version is downloaded (cached under
  `MINI_STREAMIO_DATA_DIR/weights/<name>/<version>/`, with the export it runs on), loaded and
  warmed up, then swapped
  in with one reference assignment. A detection holds the Detector it started with, so in-flight
  work finishes on the old model while new work gets the new one.
- Loading the new version fails: the old model keeps serving and the next poll tries again.
- The alias is removed: the loaded model keeps serving (an empty service helps no one).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Protocol

from mini_streamio.exports import export_or_fetch
from mini_streamio.inference.detector import Detector
from mini_streamio.offline import configure_ultralytics
from mini_streamio.registry import PRODUCTION_ALIAS, RegisteredWeights, download_weights, resolve
from mini_streamio.runtimes import INT8_SUFFIX, Backend, backend_of, resolve_backend
from mini_streamio.schemas import ModelInfo
from mini_streamio.settings import Settings

logger = logging.getLogger(__name__)


class ModelSource(Protocol):
    def production(self) -> RegisteredWeights | None: ...

    def load(self, registered: RegisteredWeights) -> Detector: ...


class RegistryModelSource:
    """Versions from the MLflow registry; weights and their exports from MinIO.

    The version runs on INFERENCE_BACKEND (runtimes.py), on its int8 export for that backend when
    one was made. A version without that backend's export gets it now (and keeps it, see
    mini_streamio.exports); should the export or its runtime fail, the version is served by torch
    from its `.pt` rather than not at all.
    """

    def __init__(self, settings: Settings, threads: int = 0) -> None:
        self.settings = settings
        self.threads = threads
        self.cache_dir = settings.data_dir / "weights"

    def production(self) -> RegisteredWeights | None:
        return resolve(self.settings, f"@{PRODUCTION_ALIAS}")

    def load(self, registered: RegisteredWeights) -> Detector:
        weights = download_weights(self.settings, registered, self.cache_dir)
        exported = {backend_of(key) for key in registered.exports}
        backend = resolve_backend(self.settings.inference_backend, exported)
        if backend is Backend.TENSORRT:
            configure_ultralytics(self.settings.data_dir / "ultralytics")
        if backend is not Backend.TORCH:
            try:
                path, exported_precision = export_or_fetch(self.settings, registered, backend)
                return self._detector(path, registered, backend, exported_precision)
            except Exception:
                logger.exception(
                    "%s v%s cannot run on %s; serving it with torch",
                    registered.name,
                    registered.version,
                    backend,
                )
        configure_ultralytics(self.settings.data_dir / "ultralytics")  # torch runs through Ultralytics
        try:
            return self._detector(weights, registered, Backend.TORCH, "fp32")
        except Exception:
            weights.unlink(missing_ok=True)  # the next poll downloads it afresh
            raise

    def _detector(
        self, path: Path, registered: RegisteredWeights, backend: Backend, precision: str
    ) -> Detector:
        info = ModelInfo(
            name=registered.name,
            version=registered.version,
            demo=registered.demo,
            class_names=registered.class_names,
            backend=backend,
            precision=precision,
        )
        return Detector.load(path, info, self.settings.max_image_pixels, self.threads)


class ModelWatcher:
    """Holds the Detector now serving and replaces it when the production alias moves, or when the
    version serving gets an int8 export (`model export --int8`), which it then runs on."""

    def __init__(self, source: ModelSource, interval_s: float) -> None:
        self.source = source
        self.interval_s = interval_s
        self._current: Detector | None = None
        self._loaded: tuple[str, list[str]] | None = None  # the version serving and its int8 exports
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Detector | None:
        return self._current

    def refresh(self) -> None:
        """One poll: loads and swaps in the production version if it is not the one serving (or has
        gained an int8 export since it was loaded)."""
        try:
            registered = self.source.production()
        except Exception as error:
            logger.warning("cannot read the production alias (will retry): %s", error)
            return
        if registered is None:
            if self._current is None:
                logger.info("no model has the '%s' alias yet; waiting for one", PRODUCTION_ALIAS)
            return
        loading = (registered.version, sorted(k for k in registered.exports if k.endswith(INT8_SUFFIX)))
        if self._current is not None and self._loaded == loading:
            return
        logger.info("loading %s version %s", registered.name, registered.version)
        try:
            detector = self.source.load(registered)
        except Exception:
            logger.exception("loading %s version %s failed (will retry)", registered.name, registered.version)
            return
        previous, self._current, self._loaded = self._current, detector, loading
        logger.info(
            "now serving %s version %s (was %s)",
            registered.name,
            registered.version,
            previous.info.version if previous else "none",
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.interval_s)
