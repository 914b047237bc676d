"""One claimed session, start to finish: validate, resume, train under a lease, store results.

The worker loop (loop.py) claims; this module does the rest under a lease kept from the
claim to the last write, and always leaves the session in a state another worker can act
on:

    invalid config, data error    -> failed at once with the reason (retrying cannot help)
    trained and evaluated         -> final model checkpointed, model, CSVs, metrics and
                                     the model card in GridFS, then succeeded, then the
                                     MLflow run FINISHED with the model registered (once
                                     per session, the card its description); the
                                     stored model is the one session.select picked
                                     (metrics.json `selected` says which)
    stop requested (SIGTERM/INT)  -> checkpoint uploaded, session released (queued again)
    lease lost / cancelled        -> nothing more written, in the store or in MLflow: the
                                     session (and its run) is someone else's
    any other exception           -> failed with the traceback; queued again after a
                                     backoff while attempts are left

Every store write carries the claim (session.Claim), so a worker whose claim was
superseded, even by a process with the same worker id, can never overwrite the results of
the one that took over; every MLflow write is preceded by the lease's `confirm`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qraptor.core import layout
from qraptor.core.errors import ConfigError, DataError
from qraptor.core.log import get_logger
from qraptor.core.provenance import git_commit
from qraptor.core.redact import redact_text
from qraptor.store.errors import LeaseLost, StoreError, StoreUnavailable
from qraptor.store.lease import LeaseKeeper
from qraptor.store.retry import outages_ridden_out
from qraptor.store.session import Claim, Session
from qraptor.store.status import FileKind
from qraptor.store.store import SessionStore
from qraptor.tracking.config import TrackingConfig, tracking_config_from
from qraptor.train.config import train_config_from
from qraptor.worker.session_data import SessionData, session_dataset

if TYPE_CHECKING:
    from qraptor.tracking.session_run import SessionTracker
    from qraptor.train.config import TrainConfig
    from qraptor.train.result import TrainResult

log = get_logger(__name__)
# Errors about the session's own inputs: the same config on the same data fails the same
# way on any worker, so the session fails at once instead of max_attempts times.
PERMANENT = (ConfigError, DataError)


class Outcome(StrEnum):
    """How a worker's turn with a session ended."""

    SUCCEEDED = "succeeded"
    INVALID = "invalid"  # config or data rejected: failed for good
    FAILED = "failed"  # an exception: queued again or failed (attempts)
    RELEASED = "released"  # stopped on request, queued again with its checkpoint
    LOST = "lost"  # lease lost or cancelled: left to whoever holds it now


@dataclass
class SessionRun:
    """What one session's attempt did, for the worker's log and summary."""

    session_id: str
    outcome: Outcome
    timings: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] | None = None


@dataclass
class _Record:
    """What an attempt did: seconds per phase (stored in the session's metrics), and
    whether it ended its MLflow run itself (else housekeeping ends it)."""

    began: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    checkpoint_uploads: int = 0
    outages_before: int = field(default_factory=outages_ridden_out)
    run_closed: bool = False

    def add(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + (now - since)
        return now

    def summary(self) -> dict[str, float]:
        out = {k: round(v, 3) for k, v in self.phases.items()}
        out["checkpoint_uploads"] = self.checkpoint_uploads
        out["database_outages_ridden_out"] = outages_ridden_out() - self.outages_before
        out["total_seconds"] = round(time.perf_counter() - self.began, 3)
        return out


def run_session(
    store: SessionStore,
    session: Session,
    should_stop,
    *,
    work_root: str | None = None,
    keep_work_dir: bool = False,
    dataset_cache: str | None = None,
    tracking: TrackingConfig | None = None,
    claim_seconds: float = 0.0,
    claimed_at: float | None = None,
    root: Path | None = None,
    card_defaults: Mapping[str, Any] | None = None,
) -> SessionRun:
    """Train the claimed `session` and leave it succeeded, failed, released or alone.

    `should_stop()` (a flag read, never a query) asks for a graceful stop: checkpoint,
    upload it, release. StoreUnavailable (the database gone longer than
    store.retry.total_seconds) propagates: the lease then lapses and the session is
    reclaimed, by this worker or another, from its last checkpoint. `claimed_at`: the
    time the claim was sent, by `store.lease.lease_clock` (the lease runs from then).
    `card_defaults`: the default train config the model card's config diff is made
    against (tracking.card_facts.train_defaults; None: a card without the diff).
    `dataset_cache`: where datasets fetched from the store go (worker.dataset_cache).
    """
    claim = session.claim
    record = _Record()
    record.phases["claim_seconds"] = claim_seconds
    if session.started_at is not None:
        record.phases["queued_seconds"] = (session.started_at - session.created_at).total_seconds()
    with LeaseKeeper(store, claim, claimed_at=claimed_at) as lease:
        try:
            cfg = train_config_from(session.config)
            tracking_cfg = tracking_config_from(session.config, default=tracking)
        except ConfigError as exc:
            reason = f"invalid session config: {exc}"
            log.error("session %s: %s (failed, not retried)", session.id, reason)
            _finish(lambda: store.fail(claim, reason, retry=False), session.id, lease)
            return SessionRun(session.id, Outcome.INVALID, record.summary())
        work_dir = Path(tempfile.mkdtemp(prefix=f"qraptor-{session.id}-", dir=work_root))
        try:
            data = session_dataset(store, session, cfg.session.dataset, root, dataset_cache)
            if data.fetched:
                cfg = replace(cfg, session=replace(cfg.session, dataset=str(data.folder)))
            return _attempt(
                store, session, cfg, tracking_cfg, lease, should_stop, work_dir, record, root,
                card_defaults, data,
            )  # fmt: skip
        except LeaseLost as exc:
            log.warning("%s; dropping this attempt", exc)
            return SessionRun(session.id, Outcome.LOST, record.summary())
        except StoreUnavailable:
            raise
        except KeyboardInterrupt:  # a second Ctrl-C: hand it back without a new checkpoint
            _finish(lambda: store.release(claim, run_closed=record.run_closed), session.id, lease)
            raise
        except PERMANENT as exc:  # the inputs: another attempt would fail the same way
            if not _permanent(exc):
                return _failed(store, claim, record, session.id, lease)
            reason = redact_text(f"{type(exc).__name__}: {exc}")
            log.error("session %s: %s (failed, not retried)", session.id, reason)
            closed = record.run_closed
            _finish(
                lambda: store.fail(claim, reason, retry=False, run_closed=closed), session.id, lease
            )
            return SessionRun(session.id, Outcome.INVALID, record.summary())
        except Exception:  # the session failed, the worker did not: record and go on
            return _failed(store, claim, record, session.id, lease)
        finally:
            if keep_work_dir:
                log.info("session %s: scratch files kept in %s", session.id, work_dir)
            else:
                shutil.rmtree(work_dir, ignore_errors=True)


def _attempt(
    store: SessionStore,
    session: Session,
    cfg: TrainConfig,
    tracking: TrackingConfig,
    lease: LeaseKeeper,
    should_stop,
    work_dir: Path,
    record: _Record,
    root: Path | None,
    card_defaults: Mapping[str, Any] | None,
    data: SessionData,
) -> SessionRun:
    from qraptor.tracking.model_card import write_run_card
    from qraptor.tracking.session_run import start_session_run
    from qraptor.train.callbacks import TrainHooks
    from qraptor.train.trainer import train_session

    sid, claim, t = session.id, session.claim, time.perf_counter()
    lease.report(session.progress.get("timesteps", 0), cfg.session.total_timesteps, phase="setup")
    resume_path, resumed_from = None, 0
    if session.resumes:
        found = store.latest_checkpoint(sid, work_dir / "resume")
        if found is not None:
            resume_path, resumed_from = found
            log.info("session %s: resuming from its checkpoint at %d timesteps", sid, resumed_from)
    init_from = None
    if resume_path is None and cfg.session.init_from is not None:  # fine-tune: the weights
        from qraptor.worker.model_source import resolve_init_from, tracking_uri

        init_from = resolve_init_from(
            cfg.session.init_from, work_dir / "init_from", root=root,
            tracking_uri=lambda: tracking_uri(tracking, root), store=lambda: store,
        )  # fmt: skip
    _record_provenance(store, session, data, root)
    t = record.add("setup_seconds", t)

    def upload_checkpoint(path: Path, timesteps: int) -> None:
        began = time.perf_counter()
        store.checkpoint(claim, path, timesteps)
        record.add("checkpoint_upload_seconds", began)
        record.checkpoint_uploads += 1

    run_dir = work_dir / "run"
    tracker: SessionTracker | None = None
    try:
        with start_session_run(
            session.config,
            tracking=tracking,
            root=root,
            session_id=sid,
            sweep_id=session.sweep_id,
            tags={"qraptor.worker_id": claim.worker_id, **data.tags()},
            experiment_preset=session.experiment,
            guard=lease.confirm,
            run_id=session.mlflow_run_id,
            on_run=lambda run_id: store.record_run(claim, run_id),
        ) as tracker:
            t = record.add("tracking_open_seconds", t)
            hooks = tracker.train_hooks(
                TrainHooks(
                    on_progress=lambda done, total: lease.report(done, total, phase="training"),
                    on_checkpoint=upload_checkpoint,
                    should_stop=lambda: should_stop() or lease.lost.is_set(),
                ),
                run_dir,
            )
            result = train_session(
                cfg, run_dir, hooks, resume_from=resume_path, root=root, init_from=init_from
            )
            lease.check()  # a lost lease ends training early: say why instead of releasing
            t = record.add("train_seconds", t)
            if not result.stopped_early:
                lease.report(result.timesteps, cfg.session.total_timesteps, phase="storing")
                write_run_card(run_dir, card_defaults)  # stored and logged with the rest
                _store_results(store, claim, result, run_dir)
                t = record.add("upload_seconds", t)
            tracker.log_result(result, run_dir)  # stopped early: the run ends KILLED
            if not result.stopped_early and "keras_h5" in tracker.files:
                path = tracker.files["keras_h5"]
                store.attach_file(sid, FileKind.KERAS_H5, path, layout.KERAS_H5, claim=claim)
            t = record.add("tracking_seconds", t)
            if not result.stopped_early:
                record.phases["learn_seconds"] = result.seconds  # of train_seconds: learn()
                record.phases["eval_seconds"] = result.eval_seconds  # of train_seconds
                metrics = session_metrics(
                    cfg, result, resumed_from, claim.worker_id, record.summary()
                )
                store.complete(claim, metrics, mlflow_run_id=tracker.run_id)
                lease.finished()  # ours for good: the run ends FINISHED, registered
    finally:
        record.run_closed = tracker is not None and tracker.ended
    if tracker.ended and tracker.run_id is not None and not result.stopped_early:
        store.run_closed(sid, tracker.run_id)
    if result.stopped_early:
        lease.stop()
        store.release(claim, run_closed=record.run_closed)
        log.info("session %s: stopped at %d timesteps and released", sid, result.timesteps)
        return SessionRun(sid, Outcome.RELEASED, record.summary())
    log.info("session %s done: %s", sid, _headline(metrics))
    return SessionRun(sid, Outcome.SUCCEEDED, metrics["timings"], metrics)


def _permanent(exc: Exception) -> bool:
    """A data error, or a config error about the session's own settings; not one about this
    worker's environment (a config key spelt as a variable, e.g. QRAPTOR_MLFLOW_URI_FILE
    unreadable on this host), which another worker or a later attempt may not meet."""
    return not (isinstance(exc, ConfigError) and exc.key.isupper())


def _failed(
    store: SessionStore, claim: Claim, record: _Record, sid: str, lease: LeaseKeeper
) -> SessionRun:
    """The exception being handled failed this attempt: stored with its traceback, the
    session queued again after the backoff while attempts are left."""
    exc = sys.exc_info()[1]
    text = redact_text(traceback.format_exc())
    log.error("session %s failed: %s", sid, redact_text(f"{type(exc).__name__}: {exc}"))
    closed = record.run_closed
    _finish(lambda: store.fail(claim, text, retry=True, run_closed=closed), sid, lease)
    return SessionRun(sid, Outcome.FAILED, record.summary())


def _record_provenance(
    store: SessionStore, session: Session, data: SessionData, root: Path | None
) -> None:
    """The code and data this worker trains with, on the session document (overwriting the
    submitter's, which may come from another checkout; a difference is logged)."""
    commit = git_commit(root)
    submitted_hash = (session.data_version or {}).get("hash")
    for name, ours, theirs in (
        ("git commit", commit, session.git_commit),
        ("data version", (data.version or {}).get("hash"), submitted_hash),
    ):
        if theirs and ours and theirs != ours:
            log.warning(
                "session %s: submitted with %s %s, trained with %s", session.id, name, theirs, ours
            )
    store.record_provenance(session.claim, commit, data.version)


def _store_results(store: SessionStore, claim: Claim, result: TrainResult, run_dir: Path) -> None:
    """Model (the selected one), per-split trade log, equity and baselines' equity CSVs,
    the metrics JSON, the data record, the validation CSV and the model card (with its
    figure) into GridFS, linked to the session (`qraptor compare` reads the equity files
    by these names). Uploaded one by one (parallel uploads were slower on SecantusDB), then
    linked in one update: the results appear together, and linking costs one round trip,
    not one per file."""
    files: list[tuple[FileKind, Path, str]] = [(FileKind.MODEL, result.model_path, layout.MODEL)]
    for split, trades in result.trade_logs.items():
        files.append((FileKind.TRADE_LOG, trades, layout.stored_name(split, layout.TRADES)))
        equity = layout.stored_name(split, layout.EQUITY)
        files.append((FileKind.EQUITY_CURVE, result.equity[split], equity))
        baselines = layout.eval_dir(run_dir, split) / layout.BASELINES_EQUITY
        if baselines.is_file():
            stored = layout.stored_name(split, layout.BASELINES_EQUITY)
            files.append((FileKind.EQUITY_CURVE, baselines, stored))
        weights = layout.eval_dir(run_dir, split) / layout.WEIGHTS  # a portfolio session's
        if weights.is_file():
            files.append((FileKind.WEIGHTS, weights, layout.stored_name(split, layout.WEIGHTS)))
    files.append((FileKind.METRICS, run_dir / layout.METRICS, layout.METRICS))
    if (run_dir / layout.DATA_RECORD).is_file():  # what `qraptor backtest SESSION` rebuilds
        files.append((FileKind.DATA_RECORD, run_dir / layout.DATA_RECORD, layout.DATA_RECORD))
    if (run_dir / layout.VALIDATION).is_file():
        files.append((FileKind.VALIDATION, run_dir / layout.VALIDATION, layout.VALIDATION))
    for card in (layout.MODEL_CARD, layout.CARD_CURVE):  # the card and the figure it shows
        if (run_dir / card).is_file():
            files.append((FileKind.MODEL_CARD, run_dir / card, card))
    store.attach_files(claim.session_id, files, claim=claim)


def session_metrics(
    cfg: TrainConfig,
    result: TrainResult,
    resumed_from: int,
    worker_id: str,
    timings: dict[str, float],
) -> dict[str, Any]:
    """The session summary (qraptor.train.summary, the same shape as the run folder's
    metrics.json and a ledger trial's), plus how this worker trained it."""
    from qraptor.train.summary import session_summary

    return {
        **session_summary(result, cfg.session.objective),
        "resumed_from_timesteps": resumed_from,
        "timesteps_trained": result.timesteps - resumed_from,
        "timings": timings,
        "worker_id": worker_id,
    }


def _headline(metrics: dict[str, Any]) -> str:
    splits = metrics["splits"]
    parts = [f"{s} Sharpe {_num(splits[s]['agent'].get('sharpe'))}" for s in splits]
    seconds = metrics["timings"]["total_seconds"]
    return f"{', '.join(parts)}; {metrics['timesteps']:,} timesteps, {seconds:.1f} s"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _finish(action, sid: str, lease: LeaseKeeper) -> None:
    """A last write (fail, release) that may meet a lost lease: log it, do not raise. The
    heartbeats stop first: after this write the session is no longer this claim's."""
    lease.stop()
    try:
        action()
    except LeaseLost as exc:
        log.warning("session %s: %s", sid, exc)
    except StoreError as exc:
        log.error("session %s: could not record the outcome: %s", sid, exc)
