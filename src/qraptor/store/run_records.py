"""What `qraptor compare` reads from MongoDB: runs (sessions and ledger trials) as records,
and their equity curves from GridFS.

A sweep is every session submitted with its `sweep_id` plus every trial the ledger holds
for it (in-process sweeps); an experiment is every session and trial of that experiment
name. The records are plain data (qraptor.evaluation.compare.comparison.RunRecord); the comparison
itself touches no database.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.core import layout
from qraptor.core.errors import QraptorError
from qraptor.core.log import get_logger
from qraptor.evaluation.compare.comparison import EquityLoader, RunRecord
from qraptor.store.errors import StoreError
from qraptor.store.ledger import list_trials, trials_collection
from qraptor.store.session import FileRef
from qraptor.store.store import SessionStore

log = get_logger(__name__)


def session_record(doc: dict[str, Any]) -> RunRecord:
    """A session document as a record."""
    return RunRecord(
        id=doc["_id"],
        status=doc["status"],
        config=doc.get("config") or {},
        metrics=doc.get("metrics"),
        source="session",
        sweep_id=doc.get("sweep_id"),
        experiment=doc.get("experiment") or "default",
        mlflow_run_id=doc.get("mlflow_run_id"),
        created_at=doc.get("created_at"),
        error=doc.get("error"),
    )


def trial_record(doc: dict[str, Any]) -> RunRecord:
    """A ledger trial as a record."""
    return RunRecord(
        id=doc["_id"],
        status=doc["status"],
        config=doc.get("config") or {},
        metrics=doc.get("metrics"),
        source="trial",
        sweep_id=doc.get("sweep_id"),
        experiment=doc.get("experiment") or "default",
        mlflow_run_id=doc.get("mlflow_run_id"),
        created_at=doc.get("created_at"),
        error=doc.get("error"),
    )


def records_by_id(
    store: SessionStore, ids: Sequence[str], *, collection: str = "trials"
) -> list[RunRecord]:
    """Sessions named by id or unique id prefix, and ledger trials by their full id
    (``<sweep_id>/<number>``), in the order given."""
    records = []
    for name in ids:
        if "/" in name:
            doc = _trial_document(store, collection, name)
            if doc is None:
                raise StoreError(f"no ledger trial '{name}' (trial ids are <sweep_id>/<number>)")
            records.append(trial_record(doc))
        else:
            records.append(session_record(store.get(store.find_id(name))))
    return records


def _trial_document(store: SessionStore, collection: str, trial_id: str) -> dict | None:
    trials = trials_collection(store, collection)
    query = {"_id": trial_id}
    return store._conn.retry(f"reading trial {trial_id}", lambda _: trials.find_one(query))


def sweep_records(
    store: SessionStore, sweep_id: str, *, collection: str, limit: int
) -> list[RunRecord]:
    """Every trial of a sweep, whatever its status: sessions, then ledger trials."""
    sessions = store.list(sweep_id=sweep_id, limit=limit, with_config=True)
    trials = list_trials(store, sweep_id=sweep_id, collection=collection, limit=limit)
    records = [session_record(d) for d in reversed(sessions)] + [trial_record(d) for d in trials]
    if not records:
        raise StoreError(f"no session or ledger trial belongs to sweep '{sweep_id}'")
    return records


def experiment_records(
    store: SessionStore, experiment: str, *, collection: str, limit: int
) -> list[RunRecord]:
    """Every session and ledger trial of an experiment, oldest first."""
    sessions = store.list(experiment=experiment, limit=limit, with_config=True)
    trials = list_trials(store, experiment=experiment, collection=collection, limit=limit)
    records = [session_record(d) for d in reversed(sessions)] + [trial_record(d) for d in trials]
    if not records:
        raise StoreError(f"no session or ledger trial belongs to experiment '{experiment}'")
    return records


class GridFSEquity:
    """An EquityLoader over the store: downloads a session's evaluation files of a split
    (what workers attach, `download_evaluation`) into a scratch folder, once per run and
    split. Use as a context manager; the folder goes at exit."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store
        self.folder = Path(tempfile.mkdtemp(prefix="qraptor-compare-"))
        self._cache: dict[tuple[str, str], pd.DataFrame | None] = {}

    def __enter__(self) -> EquityLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __call__(self, record: RunRecord, split: str) -> pd.DataFrame | None:
        key = (record.id, split)
        if key not in self._cache:
            self._cache[key] = self._load(record, split) if record.source == "session" else None
        return self._cache[key]

    def _load(self, record: RunRecord, split: str) -> pd.DataFrame | None:
        from qraptor.evaluation.report import equity_frame

        try:
            refs = self.store.files(record.id)
        except QraptorError as exc:
            log.warning("session %s: files unreadable: %s", record.id, exc)
            return None
        run_dir = self.folder / record.id.replace("/", "_")
        if download_evaluation(self.store, record.id, refs, split, run_dir) is None:
            return None
        return equity_frame(run_dir, split)


def download_evaluation(
    store: SessionStore, session_id: str, refs: Sequence[FileRef], split: str, run_dir: Path
) -> Path | None:
    """A session's stored evaluation files of `split` laid out as a run folder's
    ``eval/<split>/`` under `run_dir` (so the run-folder readers read them); None when the
    session has no agent equity curve for `split`. An agent without baselines still plots:
    its baselines file is then the timestamps alone."""
    by_name = {ref.name: ref for ref in refs}
    if layout.stored_name(split, layout.EQUITY) not in by_name:
        return None
    folder = layout.eval_dir(run_dir, split)
    folder.mkdir(parents=True, exist_ok=True)
    for file in (*layout.EVAL_FILES, layout.WEIGHTS):  # weights: a portfolio's
        ref = by_name.get(layout.stored_name(split, file))
        if ref is not None:
            store.download_file(session_id, ref, folder / file)
    if not (folder / layout.BASELINES_EQUITY).is_file():
        stamps = pd.read_csv(folder / layout.EQUITY, usecols=["timestamp"])
        stamps.to_csv(folder / layout.BASELINES_EQUITY, index=False)
    return folder
