"""Which model the service runs: the registry version behind the `production` alias, kept current.

`ModelWatcher` polls the alias every `MODEL_POLL_INTERVAL_S` seconds in a background thread.
- No version has the alias yet (or MLflow/MinIO is unreachable): nothing is loaded, `current` stays
  None (the service's /readyz answers 503), and the next poll tries again.
- The alias points at another version: that version is downloaded (cached under
  `MINI_STREAMIO_DATA_DIR/weights/<name>/<version>/best.pt`), loaded and warmed up, then swapped
  in with one reference assignment. A detection holds the Detector it started with, so in-flight
  work finishes on the old model while new work gets the new one.
- Loading the new version fails: the old model keeps serving and the next poll tries again.
- The alias is removed: the loaded model keeps serving (an empty service helps no one).
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from mini_streamio.inference.detector import Detector
from mini_streamio.registry import PRODUCTION_ALIAS, RegisteredWeights, download_weights, resolve
from mini_streamio.schemas import ModelInfo
from mini_streamio.settings import Settings

logger = logging.getLogger(__name__)


class ModelSource(Protocol):
    def production(self) -> RegisteredWeights | None: ...

    def load(self, registered: RegisteredWeights) -> Detector: ...


class RegistryModelSource:
    """Versions from the MLflow registry, weights from MinIO."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache_dir = settings.data_dir / "weights"

    def production(self) -> RegisteredWeights | None:
        return resolve(self.settings, f"@{PRODUCTION_ALIAS}")

    def load(self, registered: RegisteredWeights) -> Detector:
        weights = download_weights(self.settings, registered, self.cache_dir)
        info = ModelInfo(
            name=registered.name,
            version=registered.version,
            demo=registered.demo,
            class_names=registered.class_names,
        )
        try:
            return Detector.load(weights, info, self.settings.max_image_pixels)
        except Exception:
            weights.unlink(missing_ok=True)  # the next poll downloads it afresh
            raise


class ModelWatcher:
    """Holds the Detector now serving and replaces it when the production alias moves."""

    def __init__(self, source: ModelSource, interval_s: float) -> None:
        self.source = source
        self.interval_s = interval_s
        self._current: Detector | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Detector | None:
        return self._current

    def refresh(self) -> None:
        """One poll: loads and swaps in the production version if it is not the one serving."""
        try:
            registered = self.source.production()
        except Exception as error:
            logger.warning("cannot read the production alias (will retry): %s", error)
            return
        if registered is None:
            if self._current is None:
                logger.info("no model has the '%s' alias yet; waiting for one", PRODUCTION_ALIAS)
            return
        if self._current is not None and self._current.info.version == registered.version:
            return
        logger.info("loading %s version %s", registered.name, registered.version)
        try:
            detector = self.source.load(registered)
        except Exception:
            logger.exception("loading %s version %s failed (will retry)", registered.name, registered.version)
            return
        previous, self._current = self._current, detector
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
