"""Everything a page reads from, made once per app: settings, the store, the result files
and the MLflow links (each page module receives this, never a global)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from qraptor.dashboard.mlflow_links import MlflowLinks
from qraptor.dashboard.session_results import ResultFiles
from qraptor.dashboard.settings import DashboardSettings
from qraptor.dashboard.store_source import StoreSource


@dataclass
class Sources:
    settings: DashboardSettings
    store: StoreSource
    results: ResultFiles
    links: MlflowLinks
    warmups: list[threading.Thread] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: DashboardSettings) -> Sources:
        store = StoreSource(settings.store, settings.mongo_uri, settings.project)
        links = MlflowLinks(settings.mlflow_uri, settings.mlflow_ui)
        return cls(settings, store, ResultFiles(store), links)

    def warm(self) -> None:
        """Read the DVC outputs and open the MLflow store in the background, so the first
        visitor does not wait for Parquet reads or MLflow's import."""
        from qraptor.dashboard.pipeline_outputs import warm

        data = threading.Thread(
            target=warm, args=(self.settings.project,), name="warm-data", daemon=True
        )
        data.start()
        self.warmups = [t for t in (data, self.links.warm()) if t is not None]

    def wait_warm(self, timeout: float = 60.0) -> None:
        """Block until the warm-up is done (tests time pages against a warm server)."""
        deadline = time.monotonic() + timeout
        for thread in self.warmups:
            thread.join(max(deadline - time.monotonic(), 0))

    def close(self) -> None:
        self.store.close()
