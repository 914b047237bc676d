"""Keeping a lease alive while training runs: heartbeats from a background thread.

SB3's `learn()` holds the main thread for minutes; a callback could heartbeat, but a
slow rollout or a long evaluation would then let the lease expire. `LeaseKeeper`
heartbeats every `heartbeat_seconds` on its own thread with the latest progress the
training loop reported, and records a LeaseLost (or StoreUnavailable) for the loop to act
on: `check()` raises it, `lost` is an Event a callback can poll cheaply.
"""

from __future__ import annotations

import threading
from typing import Any

from qraptor.core.log import get_logger
from qraptor.store.errors import StoreError
from qraptor.store.store import SessionStore

log = get_logger(__name__)


class LeaseKeeper:
    """``with LeaseKeeper(store, session_id, worker_id) as lease: ... lease.report(n, total)``"""

    def __init__(
        self,
        store: SessionStore,
        session_id: str,
        worker_id: str,
        interval_seconds: float | None = None,
    ) -> None:
        self._store = store
        self.session_id = session_id
        self.worker_id = worker_id
        self.interval = interval_seconds or store.cfg.heartbeat_seconds
        self.lost = threading.Event()  # set once the lease is gone (or the store is)
        self.error: StoreError | None = None
        self._progress: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{session_id}", daemon=True)

    def report(self, timesteps: int, total_timesteps: int | None = None, **extra: Any) -> None:
        """Progress for the next heartbeat (cheap: no database call here)."""
        progress = {"timesteps": int(timesteps), **extra}
        if total_timesteps is not None:
            progress["total_timesteps"] = int(total_timesteps)
        with self._lock:
            self._progress = progress

    def check(self) -> None:
        """Raise the LeaseLost / StoreError the heartbeat thread met, if any."""
        if self.error is not None:
            raise self.error

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                progress = self._progress
            try:
                self._store.heartbeat(self.session_id, self.worker_id, progress)
            except StoreError as exc:  # LeaseLost, StoreUnavailable, a rejected progress
                log.error("session %s: %s", self.session_id, exc)
                self.error = exc
                self.lost.set()
                return
