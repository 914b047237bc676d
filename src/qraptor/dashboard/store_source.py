"""The session store as the dashboard uses it: opened on demand, never a traceback.

`qraptor dashboard` starts (or reuses) the local SecantusDB server when no URI is configured,
as `qraptor worker` does; after that, pages only *reuse* a running server, so a stopped one
shows "run `qraptor db start`" instead of being restarted behind the user's back. A database
that does not answer becomes `Unavailable` (a page notice) within the fast-fail budget of
settings.STORE_FAST_FAIL, and the next page load tries again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from qraptor.core.errors import QraptorError
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_uri
from qraptor.dashboard.problems import Unavailable
from qraptor.store.config import StoreConfig
from qraptor.store.errors import LocalServerError, StoreUnavailable
from qraptor.store.store import SessionStore
from qraptor.store.uri import resolve_uri

log = get_logger(__name__)
T = TypeVar("T")
RETRY_AFTER_SECONDS = 3.0  # a failed open is reported again, not retried, for this long
NO_DB = Unavailable(
    "the session database",
    "the dashboard was started with --no-db",
    "qraptor dashboard (without --no-db)",
)


class StoreSource:
    """One shared SessionStore for every page (pymongo clients are thread-safe)."""

    def __init__(self, cfg: StoreConfig | None, uri: str | None, project: Path) -> None:
        self.cfg = cfg
        self.uri = uri  # explicit (--mongo-uri); None: QRAPTOR_MONGO_URI, store.uri, local
        self.project = Path(project)
        self._store: SessionStore | None = None
        self._failed: tuple[float, Unavailable] | None = None
        self._lock = threading.Lock()

    def start(self) -> str | None:
        """Open the store now, starting the local server if that is the configured one;
        the problem as text when it cannot be opened (the pages then say it too)."""
        try:
            self._open(start_local=True)
        except Unavailable as exc:
            return str(exc)
        return None

    def call(self, operation: Callable[[SessionStore], T]) -> T:
        """`operation(store)`; a database lost meanwhile becomes Unavailable."""
        store = self._open(start_local=False)
        try:
            return operation(store)
        except StoreUnavailable as exc:
            self._forget(store)
            raise Unavailable(f"MongoDB at {store.uri}", "stopped answering", _fix()) from exc

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
            self._store = None

    def _open(self, start_local: bool) -> SessionStore:
        if self.cfg is None:
            raise NO_DB
        with self._lock:
            if self._store is not None:
                return self._store
            if self._failed and time.monotonic() - self._failed[0] < RETRY_AFTER_SECONDS:
                raise self._failed[1]
            try:
                uri = self.uri or resolve_uri(self.cfg, start_local=start_local, root=self.project)
                self._store = SessionStore(uri, self.cfg.database, self.cfg)
            except Unavailable as exc:
                self._failed = (time.monotonic(), exc)
                raise
            except QraptorError as exc:
                problem = _problem(exc, self.uri)
                self._failed = (time.monotonic(), problem)
                raise problem from exc
            self._failed = None
            log.info("dashboard: session store %s, database %s", self._store.uri, self.cfg.database)
            return self._store

    def _forget(self, store: SessionStore) -> None:
        with self._lock:
            if self._store is store:
                self._store = None
        store.close()


def _fix() -> str:
    return "qraptor db start (the local server), or check --mongo-uri / QRAPTOR_MONGO_URI"


def _problem(exc: QraptorError, uri: str | None) -> Unavailable:
    """A store error as what is missing and the command that brings it."""
    if isinstance(exc, LocalServerError):
        return Unavailable("the local SecantusDB server", str(exc), "qraptor db start")
    if isinstance(exc, StoreUnavailable):
        return Unavailable(f"MongoDB at {exc.uri}", "not reachable", _fix())
    where = f"MongoDB at {redact_uri(uri)}" if uri else "the session database"
    return Unavailable(where, str(exc), "qraptor db status")
