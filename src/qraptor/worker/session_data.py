"""Which folder a claimed session trains on: this host's copy of its dataset, or the
submitter's version fetched from the store.

A session records the version of its dataset the submitter had (`data_version`: DVC's md5
from dvc.lock, else a sha256 of the files). The worker trains on exactly that version when
it can: its own folder if that holds the same version, else the copy the submitter
published to the store (store.datasets), fetched once into the worker's cache. With
neither, it trains on its own folder as before and the difference is logged, so a worker
that shares the submitter's checkout (or a dataset path outside it) keeps working.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qraptor.core.log import get_logger
from qraptor.core.provenance import data_version
from qraptor.store.session import Session
from qraptor.store.store import SessionStore
from qraptor.train.config import resolve_dataset

log = get_logger(__name__)
DEFAULT_CACHE = "qraptor-datasets"  # under the system temp folder


@dataclass(frozen=True)
class SessionData:
    """The dataset folder a session trains on and the version recorded for it."""

    folder: Path
    version: dict[str, Any] | None  # recorded on the session and as MLflow tags
    fetched: bool  # from the store (the session's own path is not this host's folder)

    def tags(self) -> dict[str, str]:
        """MLflow tags of the version trained on (they win over the run's own look at the
        session's path, which on a fetching worker is not where the data is)."""
        if not self.fetched or not self.version:
            return {}
        return {
            "qraptor.data_hash": str(self.version["hash"]),
            "qraptor.data_hash_method": str(self.version.get("method")),
            "qraptor.dataset": str(self.version.get("dataset")),
            "qraptor.data_source": "store",
        }


def cache_folder(dataset_cache: str | None) -> Path:
    """worker.dataset_cache, else <system temp>/qraptor-datasets."""
    if dataset_cache:
        return Path(dataset_cache).expanduser()
    return Path(tempfile.gettempdir()) / DEFAULT_CACHE


def session_dataset(
    store: SessionStore,
    session: Session,
    dataset: str,
    root: Path | None,
    dataset_cache: str | None,
) -> SessionData:
    """The folder `session` trains on (see the module's docstring)."""
    local = resolve_dataset(dataset, root)
    ours = data_version(local, root)
    submitted = session.data_version
    if not submitted or not submitted.get("hash") or _same(ours, submitted):
        return SessionData(local, ours, fetched=False)
    fetched = store.fetch_dataset(submitted, cache_folder(dataset_cache))
    if fetched is not None:
        log.info(
            "session %s: training on dataset %s as submitted (%s), from the store",
            session.id,
            submitted.get("dataset"),
            str(submitted["hash"])[:12],
        )
        return SessionData(fetched, dict(submitted), fetched=True)
    log.warning(
        "session %s: submitted with data version %s, which the store does not hold; "
        "training on this host's %s (%s)",
        session.id,
        submitted["hash"],
        local,
        (ours or {}).get("hash", "missing"),
    )
    return SessionData(local, ours, fetched=False)


def _same(ours: dict[str, Any] | None, submitted: dict[str, Any]) -> bool:
    return ours is not None and ours.get("hash") == submitted.get("hash")
