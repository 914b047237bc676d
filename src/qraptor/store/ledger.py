"""The trial ledger: every trial of an in-process sweep, recorded in MongoDB as it happens.

Why: the deflated Sharpe ratio of a sweep's best configuration depends on how many trials
were run, and a trial that crashed or was interrupted is a draw too. Sweeps queued to
workers (`-m hydra/launcher=mongo`) are already on record, one session document per trial.
Sweeps run in process (`python -m qraptor.train -m ...`, the Optuna sweeper, joblib) leave
nothing in the database unless each trial writes itself here: running when it starts,
then succeeded (with its metrics), failed (with the error) or cancelled (stopped early).

Trials live in their own collection (`ledger.collection`, default ``trials``), not among
the sessions: a queued or running session is work for the workers, and an in-process trial
must never be claimed and trained a second time. A trial's id is ``<sweep_id>/<job number>``
so that writing its status twice (a retry after a lost connection) changes nothing, and a
finished trial is never set back to running.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from qraptor.core.config import check, load_section, to_schema
from qraptor.core.errors import QraptorError
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text, scrub, scrub_override
from qraptor.store.config import StoreConfig
from qraptor.store.status import TERMINAL, Status, parse_status
from qraptor.store.store import SessionStore, _as_dict
from qraptor.store.uri import resolve_uri
from qraptor.train.config import TRAINING_SECTIONS  # what a trial's config keeps

log = get_logger(__name__)
_ensured: set[tuple[str, str, str]] = set()
_opened: dict[tuple[str, str], SessionStore] = {}  # one client per process and database
_unreachable: set[str] = set()
_warned: set[str] = set()


@dataclass
class LedgerConfig:
    """Schema of conf/ledger/default.yaml."""

    enabled: bool
    collection: str
    start_local_server: bool

    def __post_init__(self) -> None:
        check(
            bool(self.collection) and "$" not in self.collection and "." not in self.collection,
            "collection",
            "must be a plain MongoDB collection name",
        )


def ledger_config_from(section: Any) -> LedgerConfig:
    return to_schema(section, LedgerConfig, "ledger")


def load_ledger_config(overrides: Sequence[str] = ()) -> LedgerConfig:
    return load_section("qraptor", "ledger", LedgerConfig, overrides)


def trials_collection(store: SessionStore, collection: str):
    """The ledger's collection on the store's database, indexed (once per process)."""
    conn = store._conn  # the ledger is part of the store's package: same client, same retries
    coll = conn.db[collection]
    key = (store.uri, store.database, collection)
    if key not in _ensured:

        def ensure(_):
            coll.create_index([("sweep_id", ASCENDING), ("number", ASCENDING)], name="sweep")
            coll.create_index([("experiment", ASCENDING), ("created_at", ASCENDING)], name="exp")

        conn.retry(f"indexing {collection}", ensure)
        _ensured.add(key)
    return coll


def record_trial(
    store: SessionStore,
    sweep_id: str,
    config: Mapping[str, Any],
    status: str | Status,
    metrics: Mapping[str, Any] | None = None,
    *,
    number: int | None = None,
    error: str | None = None,
    experiment: str = "default",
    overrides: Sequence[str] = (),
    collection: str = "trials",
    mlflow_run_id: str | None = None,
) -> str:
    """Create or update the trial `number` of `sweep_id` with `status`; its id.

    The config is stored once (at the first write), scrubbed of secrets like a session's;
    `metrics` (a session summary, qraptor.train.summary), `error` and the trial's
    MLflow run id when given. A
    trial that is already succeeded, failed or cancelled keeps that status.
    """
    state = parse_status(status)
    if not sweep_id:
        raise QraptorError("record_trial needs a sweep id")
    trial_id = f"{sweep_id}/{number:05d}" if number is not None else f"{sweep_id}/{_token()}"
    conn, coll = store._conn, trials_collection(store, collection)
    now = conn.now()
    changes: dict[str, Any] = {"status": state.value, "updated_at": now}
    if metrics is not None:
        changes["metrics"] = scrub(_as_dict(metrics))
    if error is not None:
        changes["error"] = redact_text(error)[-64_000:]
    if mlflow_run_id is not None:
        changes["mlflow_run_id"] = mlflow_run_id
    if state in TERMINAL:
        changes["finished_at"] = now
    first = {
        "sweep_id": sweep_id,
        "number": number,
        "experiment": experiment,
        "config": scrub(_training_config(config)),
        "overrides": [scrub_override(str(o)) for o in overrides],
        "host": socket.gethostname(),
        "created_at": now,
    }
    match: dict[str, Any] = {"_id": trial_id}
    if state not in TERMINAL:  # never set a finished trial back to running
        match["status"] = {"$nin": [s.value for s in TERMINAL]}

    def write(_) -> None:
        with contextlib.suppress(DuplicateKeyError):  # exists and finished: leave it
            coll.update_one(match, {"$set": changes, "$setOnInsert": first}, upsert=True)

    conn.retry(f"recording trial {trial_id}", write)
    log.debug("trial %s: %s", trial_id, state.value)
    return trial_id


def list_trials(
    store: SessionStore,
    *,
    sweep_id: str | None = None,
    experiment: str | None = None,
    collection: str = "trials",
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Ledger documents of a sweep or an experiment, oldest first."""
    query: dict[str, Any] = {}
    if sweep_id is not None:
        query["sweep_id"] = sweep_id
    if experiment is not None:
        query["experiment"] = experiment
    coll = trials_collection(store, collection)
    return store._conn.retry(
        "listing trials",
        lambda _: list(coll.find(query).sort("created_at", ASCENDING).limit(limit)),
    )


def open_ledger(store_cfg: StoreConfig, ledger_cfg: LedgerConfig) -> SessionStore | None:
    """The store trials are recorded in, or None: disabled, or no database reachable (then
    the sweep runs unrecorded, with one warning per process instead of a wait per trial).
    Opened once per process and database: a joblib worker runs many trials."""
    if not ledger_cfg.enabled:
        return None
    try:
        uri = resolve_uri(store_cfg, start_local=ledger_cfg.start_local_server)
    except QraptorError as exc:
        _warn_once("local", f"trials of this sweep are not recorded: {exc}")
        return None
    key = (uri, store_cfg.database)
    if key in _opened:
        return _opened[key]
    if uri in _unreachable:
        return None
    try:
        _opened[key] = SessionStore(uri, store_cfg.database, store_cfg)
    except (QraptorError, PyMongoError) as exc:
        _unreachable.add(uri)
        _warn_once(uri, f"trials of this sweep are not recorded: {redact_text(str(exc))}")
        return None
    return _opened[key]


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning("%s (ledger.enabled=false silences this)", message)


def local_sweep_id(sweep_dir: str | Path) -> str:
    """A sweep id for an in-process sweep, the same in every job of it: the sweep folder's
    last two parts (date, time_name) and a short hash of its absolute path."""
    path = Path(sweep_dir).resolve()
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", "_".join(path.parts[-2:])).strip("_")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:6]
    return f"local-{readable}-{digest}"


def _training_config(config: Mapping[str, Any]) -> dict[str, Any]:
    tree = _as_dict(config)
    kept = {k: tree[k] for k in TRAINING_SECTIONS if k in tree}
    return kept or tree


def _token() -> str:
    import secrets

    return secrets.token_hex(4)
