"""`qraptor worker`: serve the session queue, one session at a time, in this process.

    qraptor worker                         # until stopped (SIGTERM / Ctrl-C)
    qraptor worker --once                  # the next queued session, if any, then exit
    qraptor worker --idle-exit 60          # exit after a minute without work
    QRAPTOR_MONGO_URI=mongodb://user:pw@db-host:27017/ qraptor worker   # a fleet member

A worker claims the next due session (priority, then age; a session whose lease expired
is due again and resumes from its last checkpoint), trains it with heartbeats, periodic
checkpoints to GridFS and results stored at the end (attempt.py), then claims the next.
Between sessions it clears what dead workers left (housekeeping.py). An empty queue is
polled with growing waits (conf/worker: SecantusDB slows under tight polling). SIGTERM
or SIGINT: the running session is checkpointed and released, and the worker exits with
status 0; a second Ctrl-C interrupts at once.

Any number of workers, on one machine or many, share a queue by pointing at the same
database: one process trains one session with one torch thread, so run one worker per
core.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from qraptor.core.log import get_logger
from qraptor.store.config import StoreConfig
from qraptor.store.errors import StoreUnavailable
from qraptor.store.lease import lease_clock
from qraptor.store.store import SessionStore
from qraptor.tracking.config import TrackingConfig
from qraptor.worker.attempt import Outcome, SessionRun, run_session
from qraptor.worker.config import WorkerConfig
from qraptor.worker.housekeeping import Housekeeping

log = get_logger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
__all__ = ["Outcome", "SessionRun", "StopRequest", "default_worker_id", "run_worker"]


def default_worker_id() -> str:
    """host:pid:random: says where to look when one misbehaves, and stays unique where
    host and pid are not (containers sharing a hostname, each worker pid 1). Ownership is
    fenced by the claim token anyway; a unique id keeps logs and errors unambiguous."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class StopRequest:
    """A stop flag set by SIGTERM/SIGINT (while in the main thread) or by the caller.

    The first signal asks for a graceful stop; the handlers then revert to the defaults,
    so a second Ctrl-C interrupts and a second SIGTERM kills. Leaving the context
    restores whatever handlers were there before (in-process callers: tests, benchmarks).
    """

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event or threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log.warning(
            "%s: stopping after a checkpoint of the running session (again to force)",
            self.signal_name,
        )

    def __call__(self) -> bool:
        return self.event.is_set()

    def wait(self, seconds: float) -> bool:
        return self.event.wait(seconds)


class _IdleWait:
    """Growing waits while the queue is empty, and the idle deadline (`--idle-exit`)."""

    def __init__(self, cfg: WorkerConfig, idle_exit: float | None) -> None:
        self.cfg = cfg
        self.idle_exit = idle_exit
        self.reset()

    def reset(self) -> None:
        self.delay = self.cfg.poll_seconds
        self.since = time.monotonic()

    def expired(self) -> bool:
        return self.idle_exit is not None and time.monotonic() - self.since >= self.idle_exit

    def next_delay(self) -> float:
        """The wait before the next poll, cut short at the idle deadline."""
        delay = self.delay
        self.delay = min(self.delay * self.cfg.poll_multiplier, self.cfg.poll_max_seconds)
        if self.idle_exit is not None:
            delay = min(delay, max(0.0, self.since + self.idle_exit - time.monotonic()))
        return delay


def run_worker(
    store_cfg: StoreConfig,
    *,
    once: bool = False,
    max_sessions: int | None = None,
    idle_exit: float | None = None,
    worker_id: str | None = None,
    poll_seconds: float | None = None,
    worker_cfg: WorkerConfig,
    tracking: TrackingConfig | None = None,
    stop: threading.Event | None = None,
    root: Path | None = None,
    card_defaults: Mapping[str, Any] | None = None,
) -> int:
    """Serve the queue of `store_cfg`'s database in this process; the number of sessions
    claimed (whatever their outcome).

    `once`: the next due session if there is one (no waiting unless `idle_exit` says so),
    then return. `max_sessions`: return after that many. `idle_exit`: return after that
    many seconds without a session to claim. `poll_seconds` replaces the first idle wait
    of `worker_cfg`. `tracking`: the settings for sessions stored without a `tracking`
    section (a stored one wins: the submitter's). `stop`: an event the caller sets for a
    graceful stop (signals do the same when called from the main thread). `root`: the
    project relative paths are in (datasets, the local server's folder, the default MLflow
    store): the entry point's, default the current directory's. Returns normally after a
    graceful stop.
    """
    wcfg = worker_cfg
    if poll_seconds is not None:
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds}")
        top = max(wcfg.poll_max_seconds, poll_seconds)
        wcfg = dataclasses.replace(wcfg, poll_seconds=poll_seconds, poll_max_seconds=top)
    if once:
        max_sessions = 1 if max_sessions is None else min(max_sessions, 1)
        idle_exit = 0.0 if idle_exit is None else idle_exit
    worker_id = worker_id or default_worker_id()
    tally: Counter[Outcome] = Counter()
    with SessionStore.from_config(store_cfg, root) as store, StopRequest(stop) as stopping:
        log.info(
            "worker %s serving %s (database %s)%s",
            worker_id, store.uri, store.database, _limits(max_sessions, idle_exit),
        )  # fmt: skip
        idle = _IdleWait(wcfg, idle_exit)
        housekeeping = Housekeeping(
            store, wcfg.housekeeping_every_seconds, wcfg.housekeeping_min_age_seconds,
            tracking, root,
        )  # fmt: skip
        while not stopping() and (max_sessions is None or sum(tally.values()) < max_sessions):
            housekeeping.due()
            run = _serve_one(store, worker_id, wcfg, tracking, stopping, root, card_defaults)
            if run is not None:
                tally[run.outcome] += 1
                idle.reset()
                continue
            if idle.expired():
                log.info("worker %s: no session for %.0f s, exiting", worker_id, idle.idle_exit)
                break
            stopping.wait(idle.next_delay())
    done = sum(tally.values())
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(tally.items())) or "none"
    why = f" ({stopping.signal_name})" if stopping.signal_name else ""
    log.info("worker %s stopped%s: %d sessions (%s)", worker_id, why, done, counts)
    return done


def _serve_one(
    store: SessionStore,
    worker_id: str,
    wcfg: WorkerConfig,
    tracking: TrackingConfig | None,
    stopping: StopRequest,
    root: Path | None,
    card_defaults: Mapping[str, Any] | None,
) -> SessionRun | None:
    """Claim and run one session; None if there was none (or the database is away)."""
    began, sent = time.perf_counter(), lease_clock()
    try:
        session = store.claim(worker_id)
        if session is None:
            return None
        return run_session(
            store,
            session,
            stopping,
            work_root=wcfg.work_dir,
            keep_work_dir=wcfg.keep_work_dir,
            dataset_cache=wcfg.dataset_cache,
            tracking=tracking,
            root=root,
            card_defaults=card_defaults,
            claim_seconds=time.perf_counter() - began,
            claimed_at=sent,
        )
    except StoreUnavailable as exc:  # the session (if any) is reclaimed once its lease lapses
        log.error("worker %s: %s; trying again", worker_id, exc)
        return None


def _limits(max_sessions: int | None, idle_exit: float | None) -> str:
    parts = []
    if max_sessions is not None:
        parts.append(f"at most {max_sessions} sessions")
    if idle_exit is not None:
        parts.append(f"exit after {idle_exit:g} s idle")
    return f": {', '.join(parts)}" if parts else ""
