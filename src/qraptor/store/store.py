"""`SessionStore`: the one object workers, the launcher and the CLI use for sessions.

One session = one composed config = one document in ``<database>.<collection>``, with its
files in the GridFS bucket ``<collection>_files``. The store talks to MongoDB through
pymongo and a URI only, so the local SecantusDB server and any other MongoDB (with auth in
the URI) behave the same. Leases live in claims.py, files in session_files.py; this module
is the public face plus submission, queries and the user's cancel/retry.
"""

from __future__ import annotations

import builtins  # `list` below: SessionStore.list shadows it in the class body
import numbers
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from qraptor.core.log import get_logger
from qraptor.core.redact import scrub, scrub_override
from qraptor.store import claim_order, claims, datasets, session_files
from qraptor.store.config import StoreConfig
from qraptor.store.connection import StoreConnection
from qraptor.store.errors import InvalidTransition, SessionNotFound, StoreError
from qraptor.store.retry import Attempt
from qraptor.store.session import Claim, FileRef, Session
from qraptor.store.status import (
    CANCELLABLE,
    RETRYABLE,
    FileKind,
    Status,
    parse_kind,
    parse_status,
)
from qraptor.store.uri import resolve_uri

log = get_logger(__name__)


class SessionStore:
    """Sessions in MongoDB: submit, claim under a lease, heartbeat, finish, files.

    Opening it checks the database answers (StoreUnavailable naming the redacted URI if
    not, after `server_selection_timeout_seconds`) and creates the validator and indexes
    idempotently. Every operation rides out a database restart (retry.py).
    """

    def __init__(self, uri: str, database: str, cfg: StoreConfig) -> None:
        self.cfg = cfg
        self._conn = StoreConnection(uri, database, cfg)
        self.uri = self._conn.uri  # redacted: safe to print, log or store
        self.database = database
        self._last_created: datetime | None = None

    @classmethod
    def from_config(cls, cfg: StoreConfig, root: Path | None = None) -> SessionStore:
        """The store `cfg` points to ($QRAPTOR_MONGO_URI, store.uri, else the local server)."""
        return cls(resolve_uri(cfg, root=root), cfg.database, cfg)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SessionStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- submission and queries ------------------------------------------------------------

    def submit(
        self,
        config: Mapping[str, Any],
        *,
        priority: int = 0,
        sweep_id: str | None = None,
        tags: Sequence[str] = (),
        experiment: str = "default",
        overrides: Sequence[str] = (),
        max_attempts: int | None = None,
        git_commit: str | None = None,
        data_version: dict | None = None,
    ) -> str:
        """Queue a session for the resolved `config`; its id.

        Secrets are scrubbed from `config` and `overrides` before storing (uri.scrub,
        uri.scrub_override): log the stored config, not the raw one, to MLflow.
        """
        if isinstance(priority, bool) or not isinstance(priority, numbers.Integral):
            raise StoreError(f"priority must be an integer, got {priority!r}")
        priority = int(priority)
        if abs(priority) > claim_order.MAX_PRIORITY:
            raise StoreError(
                f"priority must be within +-{claim_order.MAX_PRIORITY}, got {priority}"
            )
        attempts = self.cfg.max_attempts if max_attempts is None else max_attempts
        if attempts < 1:
            raise StoreError(f"max_attempts must be >= 1, got {attempts}")
        now = self._created_at()
        doc: dict[str, Any] = {
            "status": Status.QUEUED.value,
            "config": scrub(_as_dict(config)),
            "experiment": experiment,
            "sweep_id": sweep_id,
            "tags": [tags] if isinstance(tags, str) else [str(t) for t in tags],
            "overrides": [scrub_override(str(o)) for o in overrides],
            "priority": priority,
            "attempts": 0,
            "max_attempts": attempts,
            "worker_id": None,
            "claim_token": None,
            "lease_expires_at": None,
            "heartbeat_at": None,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
            "updated_at": now,
            "progress": {},
            "data_version": data_version,
            "git_commit": git_commit,
            "mlflow_run_id": None,
            "mlflow_run_open": False,
            "retry_at": None,
            "metrics": None,
            "error": None,
            "errors": [],
            "files": [],
            "checkpoints": [],
        }

        def insert(a: Attempt) -> str:
            while True:
                doc["claim_key"] = claim_order.claim_key(priority, now, doc["_id"])
                try:
                    self._conn.write(doc.get("_id"), "submission", lambda: self._c.insert_one(doc))
                    return doc["_id"]
                except DuplicateKeyError:
                    if a.is_retry:  # our own insert, acknowledged after all
                        return doc["_id"]
                    doc["_id"] = _new_id(now)

        doc["_id"] = _new_id(now)
        session_id = self._conn.retry("submitting a session", insert)
        log.debug("queued session %s (priority %d)", session_id, priority)
        return session_id

    def get(self, session_id: str) -> dict[str, Any]:
        """The session document (config, status, files...); SessionNotFound if none."""
        doc = self._read(
            f"reading session {session_id}", lambda: self._c.find_one({"_id": session_id})
        )
        if doc is None:
            raise SessionNotFound(session_id)
        return doc

    def find_id(self, part: str) -> str:
        """The full id of the one session whose id starts or ends with `part` (CLI and
        dashboard convenience). Ids are time-sorted (20261125-174749-3fa9c21b), so sessions
        made in the same second share every leading character: the random tail (`3fa9c21b`,
        or its end) is the short form people copy, and a prefix is tried first."""
        if not part:
            raise SessionNotFound(part)
        ids = self._read(
            "looking up a session id",
            lambda: [
                d["_id"]
                for d in self._c.find({"_id": {"$gte": part, "$lt": part + "\uffff"}}, {"_id": 1})
                .sort("_id", 1)
                .limit(3)
            ],
        )
        ids = [i for i in ids if i.startswith(part)]
        if not ids:
            tail = {"_id": {"$regex": re.escape(part) + "$"}}
            ids = self._read(
                "looking up a session id",
                lambda: [d["_id"] for d in self._c.find(tail, {"_id": 1}).limit(3)],
            )
        if not ids:
            raise SessionNotFound(part)
        if len(ids) > 1:
            several = ", ".join(ids)
            raise StoreError(f"'{part}' matches several sessions ({several}, ...): give more")
        return ids[0]

    def list(
        self,
        *,
        status: str | Status | None = None,
        sweep_id: str | None = None,
        tag: str | None = None,
        experiment: str | None = None,
        limit: int = 100,
        with_config: bool = False,
    ) -> list[dict[str, Any]]:
        """Sessions, newest first, filtered; without their configs unless asked."""
        query: dict[str, Any] = {}
        if status is not None:
            query["status"] = parse_status(status).value
        if sweep_id is not None:
            query["sweep_id"] = sweep_id
        if tag is not None:
            query["tags"] = tag
        if experiment is not None:
            query["experiment"] = experiment
        fields = None if with_config else {"config": 0}
        return self._read(
            "listing sessions",
            lambda: list(self._c.find(query, fields).sort("created_at", DESCENDING).limit(limit)),
        )

    def counts(self) -> dict[str, int]:
        """Sessions per status (every status present, zeros included)."""
        rows = self._read(
            "counting sessions",
            lambda: list(self._c.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])),
        )
        found = {row["_id"]: int(row["n"]) for row in rows}
        return {s.value: found.get(s.value, 0) for s in Status}

    # -- the worker's side: leases -----------------------------------------------------

    def claim(self, worker_id: str) -> Session | None:
        """Atomically take the next due session (priority, then age); None if none."""
        return claims.claim(self._conn, worker_id)

    def heartbeat(self, claim: Claim, progress: dict | None = None) -> None:
        """Renew the lease and store `progress` ({"timesteps": n, "total_timesteps": N, ...});
        LeaseLost if the session is no longer running under `claim`."""
        claims.heartbeat(self._conn, claim, progress)

    def record_provenance(
        self, claim: Claim, git_commit: str | None, data_version: dict | None
    ) -> None:
        """The code and data version the owning worker trains with (raises LeaseLost)."""
        fields = {"git_commit": git_commit, "data_version": data_version}
        self._set_owned(claim, "provenance", fields)

    def record_run(self, claim: Claim, mlflow_run_id: str) -> None:
        """The MLflow run this claim opened for the session, stored as soon as it exists:
        whoever ends the session (its worker, housekeeping after a death) can end the run.
        Fenced by the token alone: a session cancelled meanwhile still gets its run recorded
        (so that it is ended KILLED), one claimed by another worker does not."""
        sid = claim.session_id
        match = {"_id": sid, "claim_token": claim.token}
        update = {"$set": {"mlflow_run_id": mlflow_run_id, "mlflow_run_open": True}}
        result = self._read(
            f"recording the MLflow run of session {sid}", lambda: self._c.update_one(match, update)
        )
        if not result.matched_count:
            doc = self.get(sid)
            raise claims.lease_lost(claim, doc)

    def _set_owned(self, claim: Claim, action: str, fields: dict[str, Any]) -> None:
        update = {"$set": {**fields, "updated_at": self._conn.now()}}
        claims.owned_update(self._conn, claim, update, action, Status.RUNNING)

    def complete(self, claim: Claim, metrics: dict, mlflow_run_id: str | None = None) -> None:
        claims.complete(self._conn, claim, metrics, mlflow_run_id)

    def fail(self, claim: Claim, error: str, *, retry: bool, run_closed: bool = False) -> None:
        """Store `error` (a traceback); queued again (after store.requeue_delay_seconds,
        doubling) if `retry` and attempts are left. `run_closed`: the attempt ended its
        MLflow run itself."""
        claims.fail(self._conn, claim, error, retry, run_closed)

    def release(self, claim: Claim, *, run_closed: bool = False) -> None:
        """Graceful stop: queued again, checkpoints kept, this attempt not counted."""
        claims.release(self._conn, claim, run_closed)

    def open_runs(self, succeeded_before: datetime) -> builtins.list[dict[str, Any]]:
        """Finished sessions whose MLflow run nobody ended (their worker died, or they were
        cancelled): failed and cancelled ones, and succeeded ones finished before
        `succeeded_before` (a younger one's worker may still be closing its run)."""
        ended = [Status.FAILED.value, Status.CANCELLED.value]
        query = {
            "mlflow_run_open": True,
            "$or": [
                {"status": {"$in": ended}},
                {"status": Status.SUCCEEDED.value, "finished_at": {"$lt": succeeded_before}},
            ],
        }
        fields = {"status": 1, "mlflow_run_id": 1, "config": 1, "experiment": 1, "sweep_id": 1}
        return self._read("finding open MLflow runs", lambda: list(self._c.find(query, fields)))

    def run_closed(self, session_id: str, mlflow_run_id: str, status: str | None = None) -> bool:
        """Mark the session's MLflow run ended (if it is still that run, and the session
        still in `status` when given); False if the session moved on meanwhile."""
        match: dict[str, Any] = {"_id": session_id, "mlflow_run_id": mlflow_run_id}
        if status is not None:
            match["status"] = status
        update = {"$set": {"mlflow_run_open": False}}
        result = self._read(
            f"marking the MLflow run of session {session_id} ended",
            lambda: self._c.update_one(match, update),
        )
        return bool(result.matched_count)

    # -- files -------------------------------------------------------------------------

    def checkpoint(self, claim: Claim, path: Path, timesteps: int) -> None:
        """Upload a checkpoint and link it (renews the lease); the latest K are kept."""
        session_files.checkpoint(self._conn, claim, Path(path), int(timesteps))

    def latest_checkpoint(
        self, session_id: str, dest_dir: Path | None = None
    ) -> tuple[Path, int] | None:
        """(path, timesteps) of the latest checkpoint, downloaded and verified into
        `dest_dir` (default: a new temporary folder, the caller's to delete); None if none."""
        return session_files.latest_checkpoint(self._conn, session_id, dest_dir)

    def attach_file(
        self,
        session_id: str,
        kind: str | FileKind,
        path: Path,
        name: str | None = None,
        *,
        claim: Claim | None = None,
    ) -> FileRef:
        """Upload `path` and link it as `kind` (replacing a file of that kind and name).
        With `claim`, only while that claim holds the session (else LeaseLost)."""
        path = Path(path)
        return session_files.attach(
            self._conn, session_id, parse_kind(kind), path, name or path.name, claim
        )

    def attach_files(
        self,
        session_id: str,
        files: Sequence[tuple[str | FileKind, Path, str]],
        *,
        claim: Claim | None = None,
    ) -> builtins.list[FileRef]:
        """Upload (kind, path, name) files and link them all in one update: results appear
        together, and a session's handful of CSVs costs one linking round trip, not one each.
        With `claim`, only while that claim holds the session (else LeaseLost)."""
        items = [(parse_kind(kind), Path(path), name) for kind, path, name in files]
        return session_files.attach_many(self._conn, session_id, items, claim)

    def download_file(self, session_id: str, kind: str | FileKind | FileRef, dest: Path) -> Path:
        """Download the latest file of `kind` (or exactly `kind` if a FileRef) to `dest`
        (a file path, or a folder to put it in under its name); sha256 verified."""
        ref = (
            kind
            if isinstance(kind, FileRef)
            else session_files.find_file(self._conn, session_id, parse_kind(kind))
        )
        return session_files.download(self._conn, session_id, ref, Path(dest))

    def files(self, session_id: str) -> builtins.list[FileRef]:
        """Every file linked from the session (results and checkpoints)."""
        return session_files.list_files(self._conn, session_id)

    # -- datasets, for workers without the submitter's files (datasets.py) ------------------

    def publish_dataset(self, folder: Path, version: Mapping[str, Any]) -> bool:
        """Publish dataset `folder` (of `version`, core.provenance.data_version) unless the
        store has it; whether it was uploaded now."""
        return datasets.publish(self._conn, Path(folder), dict(version))

    def fetch_dataset(self, version: Mapping[str, Any], cache: Path) -> Path | None:
        """Dataset `version` as a folder under `cache` (fetched once); None if unpublished."""
        return datasets.fetch(self._conn, dict(version), Path(cache))

    def collect_orphan_files(self, min_age_seconds: float = 3600.0) -> int:
        """Delete GridFS files no session links that are older than `min_age_seconds`."""
        return session_files.collect_orphans(self._conn, min_age_seconds)

    # -- the user's side ---------------------------------------------------------------

    def cancel(self, session_id: str) -> None:
        """Queued or running -> cancelled (a running worker gets LeaseLost at its next
        heartbeat). Cancelling a cancelled session does nothing."""
        self._transition(
            session_id,
            CANCELLABLE,
            Status.CANCELLED,
            "cancelled",
            {
                "lease_expires_at": None,
                "finished_at": self._conn.now(),
            },
            unset=("claim_key",),
        )

    def retry(self, session_id: str, *, fresh: bool = False) -> None:
        """Failed or cancelled -> queued with a full set of attempts. `fresh` drops the
        checkpoints, so training starts over instead of resuming."""
        doc = claims.document(self._conn, session_id, {"priority": 1, "created_at": 1})
        self._transition(
            session_id,
            RETRYABLE,
            Status.QUEUED,
            "retried",
            {
                "attempts": 0,
                "lease_expires_at": None,
                "finished_at": None,
                "retry_at": None,
                "error": None,
                **claim_order.queued_fields(doc),
            },
        )
        if fresh:
            session_files.unlink_checkpoints(self._conn, session_id)

    def _transition(
        self,
        session_id: str,
        allowed: frozenset[Status],
        target: Status,
        action: str,
        fields: dict[str, Any],
        unset: Sequence[str] = (),
    ) -> None:
        match = {"_id": session_id, "status": {"$in": [s.value for s in allowed]}}
        update: dict[str, Any] = {
            "$set": {"status": target.value, "updated_at": self._conn.now(), **fields}
        }
        if unset:
            update["$unset"] = dict.fromkeys(unset, "")

        def attempt(a: Attempt) -> None:
            result = self._conn.write(session_id, action, lambda: self._c.update_one(match, update))
            if result.matched_count:
                return
            doc = self._c.find_one({"_id": session_id}, {"status": 1})
            if doc is None:
                raise SessionNotFound(session_id)
            if doc["status"] == target and (a.is_retry or target is Status.CANCELLED):
                return
            raise InvalidTransition(session_id, doc["status"], action, [s.value for s in allowed])

        self._conn.retry(f"{action} of session {session_id}", attempt)
        log.info("session %s %s", session_id, action)

    def now(self) -> datetime:
        """The database server's time: what leases, retry times and ages are measured in."""
        return self._conn.now()

    # -- internals -----------------------------------------------------------------------

    @property
    def _c(self):
        return self._conn.sessions

    def _read(self, what: str, operation):
        return self._conn.retry(what, lambda _: operation())

    def _created_at(self) -> datetime:
        """Server time, strictly increasing within this store, so "oldest first" holds for
        sessions submitted in one burst (a sweep)."""
        now = self._conn.now()
        if self._last_created is not None and now <= self._last_created:
            now = self._last_created + timedelta(milliseconds=1)
        self._last_created = now
        return now


def _new_id(now: datetime) -> str:
    """Readable, time-sorted, unique enough: 20261125-174749-3fa9c21b."""
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def _as_dict(config: Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of the resolved config (DictConfig resolved, mappings copied)."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    return claims.plain(dict(config))
