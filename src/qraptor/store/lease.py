"""Keeping a lease alive from the claim to the last write: heartbeats from a thread.

The lease must cover the whole attempt, not just training: downloading a checkpoint,
recording provenance, opening the MLflow run, evaluation, uploads and the Keras export can
take tens of seconds under load, and a lease that lapses meanwhile lets a second worker
train the same session. `LeaseKeeper` starts at the claim and heartbeats every
`heartbeat_seconds` on its own thread with the latest progress the attempt reported.

A lost lease (or a database gone longer than the retry budget) is recorded for the attempt
to act on: `check()` raises it, `lost` is an Event a training callback polls cheaply, and
`confirm()` is the guard before a write the store cannot fence (MLflow): it passes only
while the lease is known to be held, renewing it first when the last confirmed renewal is
older than half a lease (a process stopped with SIGSTOP and continued past its lease then
finds out before it writes, not after).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from qraptor.core.log import get_logger
from qraptor.store.errors import StoreError
from qraptor.store.session import Claim
from qraptor.store.store import SessionStore

log = get_logger(__name__)


def lease_clock() -> float:
    """Seconds that keep counting through a suspend or a VM pause (CLOCK_BOOTTIME on Linux;
    CLOCK_MONOTONIC stops then, and a lease measured with it would look younger than it is)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


class LeaseKeeper:
    """``with LeaseKeeper(store, session.claim) as lease: ... lease.report(n, total)``"""

    def __init__(
        self,
        store: SessionStore,
        claim: Claim,
        interval_seconds: float | None = None,
        claimed_at: float | None = None,
    ) -> None:
        self._store = store
        self.claim = claim
        self.session_id = claim.session_id
        self.interval = interval_seconds or store.cfg.heartbeat_seconds
        self.lease_seconds = store.cfg.lease_seconds
        self.lost = threading.Event()  # set once the lease is gone (or the store is)
        self.error: StoreError | None = None
        self._progress: dict[str, Any] | None = None
        self._progress_lock = threading.Lock()
        self._beat_lock = threading.Lock()  # one heartbeat at a time: the thread's or confirm()'s
        self._stop = threading.Event()
        # lease_clock() time at which the last renewal that succeeded was sent (the claim's
        # time at first): the lease is ours for lease_seconds after it
        self._renewed_at = lease_clock() if claimed_at is None else claimed_at
        self._finished = False
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{claim.session_id}", daemon=True
        )

    def report(self, timesteps: int, total_timesteps: int | None = None, **extra: Any) -> None:
        """Progress for the next heartbeat (cheap: no database call here)."""
        progress = {"timesteps": int(timesteps), **extra}
        if total_timesteps is not None:
            progress["total_timesteps"] = int(total_timesteps)
        with self._progress_lock:
            self._progress = progress

    def check(self) -> None:
        """Raise the LeaseLost / StoreError the heartbeat thread met, if any."""
        if self.error is not None:
            raise self.error

    def confirm(self) -> None:
        """Return only while this claim surely holds the session; else raise LeaseLost (or
        the StoreError that makes it unknowable). Cheap while the last renewal is younger
        than half a lease; otherwise one heartbeat round trip."""
        if self._finished:
            return  # completed under this claim: nobody else can hold the session
        self.check()
        if lease_clock() - self._renewed_at < self.lease_seconds / 2:
            return
        self._beat()
        self.check()

    def finished(self) -> None:
        """The session was completed under this claim: stop heartbeating; `confirm` passes
        from now on (what is left, closing the MLflow run, belongs to this attempt)."""
        self._finished = True
        self._stop.set()

    def stop(self) -> None:
        """No more heartbeats: the attempt is about to hand the session on (fail, release)."""
        self._stop.set()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self._beat():
                return

    def _beat(self) -> bool:
        """One renewal; False (and `lost` set) when the lease is gone."""
        with self._beat_lock:
            if self.error is not None:
                return False
            with self._progress_lock:
                progress = self._progress
            sent = lease_clock()
            try:
                self._store.heartbeat(self.claim, progress)
            except StoreError as exc:  # LeaseLost, StoreUnavailable, a rejected progress
                if not self._stop.is_set():  # else the attempt just handed the session on
                    log.error("session %s: %s", self.session_id, exc)
                self.error = exc
                self.lost.set()
                return False
            self._renewed_at = sent
            return True
