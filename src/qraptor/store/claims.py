"""Leases: claiming sessions, renewing, finishing and handing them back.

Every state change is a compare-and-set: an `update_one` whose filter states what the
writer believes (this id, this status, this owner, this lease). Exactly one of several
racing workers matches; the others see ``matched_count == 0`` and move on. This is also
what SecantusDB does fast: with 100 queued sessions, an indexed `find` plus `update_one` by
`_id` took ~7 ms whether 0 or 4,000 finished sessions lay around, a sorting
`find_one_and_update` 6 ms at 0 but 55 ms at 4,000 (tests/store/bench_claims.py
measures the whole claim).

The owner of a session is ``status == running`` and ``claim_token == <the claim's token>``:
the token is new with every claim, so it fences out a worker whose lease was taken over
even when the new owner has the same worker id (session.Claim). A lease that expired is
reclaimable by anyone (one attempt more) until another worker actually claims it; every
later write of the old claim (heartbeat, files, completion) then raises LeaseLost.

Operations may be repeated after a lost connection (retry.py), so each one recognises its
own earlier success: a claim by its one-off `claim_token`, the others by the owner and
target status they leave behind.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING

from qraptor.core.log import get_logger
from qraptor.store.claim_order import ms, queued_fields
from qraptor.store.config import StoreConfig
from qraptor.store.connection import StoreConnection
from qraptor.store.errors import LeaseLost, SessionNotFound
from qraptor.store.retry import Attempt
from qraptor.store.session import Claim, Session
from qraptor.store.status import Status

log = get_logger(__name__)

KEEP_ERRORS = 20  # error history entries kept per session
MAX_ERROR_CHARS = 64_000  # a traceback, not a log file
_CANDIDATE_FIELDS = {
    "status": 1,
    "priority": 1,
    "created_at": 1,
    "attempts": 1,
    "max_attempts": 1,
    "worker_id": 1,
    "claim_token": 1,
    "lease_expires_at": 1,
    "heartbeat_at": 1,
    "error": 1,
    "claim_key": 1,
}


def claim(conn: StoreConnection, worker_id: str) -> Session | None:
    """The next session for `worker_id`, now running under its lease; None if none is due.

    Queued sessions and running ones whose lease expired compete by priority (high first),
    then age (oldest first). An expired session that used up its attempts is failed on
    the way, with the reason stored.
    """
    token = secrets.token_hex(8)

    def attempt(a: Attempt) -> Session | None:
        if a.is_retry:  # did the claim before the disconnect go through?
            doc = conn.sessions.find_one({"claim_token": token, "status": Status.RUNNING.value})
            if doc is not None:
                return Session.from_document(doc)
        return _claim_once(conn, worker_id, token)

    return conn.retry(f"claim by worker {worker_id}", attempt)


def _claim_once(conn: StoreConnection, worker_id: str, token: str) -> Session | None:
    while True:  # ends: every lost race means another worker took that session
        now = conn.now()
        candidates = _candidates(conn, now)
        if not candidates:
            return None
        for candidate in candidates:
            expired = candidate["status"] == Status.RUNNING
            if expired and candidate["attempts"] >= candidate["max_attempts"]:
                _fail_exhausted(conn, candidate, now)
                continue
            doc = _take(conn, candidate, worker_id, token, now)
            if doc is not None:
                session = Session.from_document(doc)
                log.info(
                    "worker %s claimed session %s (attempt %d/%d%s)",
                    worker_id,
                    session.id,
                    session.attempts,
                    session.max_attempts,
                    _resume_note(session),
                )
                return session


def _queued_head(conn: StoreConnection, now: datetime, k: int) -> list[dict[str, Any]]:
    """The first `k` due queued sessions in claim order.

    SecantusDB reads every document an index range matches before it sorts and limits
    (1.4 s for a sorted `find` over 10,000 queued sessions), so the range must be short:
    each probe is ``["", bound)`` with the bound galloping (16 ms, x4) from where this
    process last saw the head. Every probe starts at the very beginning of the order, so
    whatever lies before the hint (a higher priority, an older session queued again) is
    still found: the hint only changes the cost, never the answer. When nothing is due
    before `now` at the hinted priority, one open-ended probe reads the rest (once per
    process start or priority change). benchmarks/claims.py measures it."""
    due = {"$not": {"$gt": now}}  # retry_at: null or past (a requeue's backoff is over)

    def probe(bounds: dict[str, Any]) -> list[dict[str, Any]]:
        # claim_key first: SecantusDB serves a filter from its first clause's index
        query = {"claim_key": bounds, "status": Status.QUEUED.value, "retry_at": due}
        cursor = conn.sessions.find(query, _CANDIDATE_FIELDS)
        return list(cursor.sort("claim_key", ASCENDING).limit(k))

    hint = conn.claim_hint
    if hint is None:
        docs = probe({"$gte": ""})
    else:
        level, t = hint
        width, now_ms = 16, ms(now)
        while True:
            top = min(t + width, now_ms + 1)
            bound = f"{level}|{top:013d}"
            docs = probe({"$gte": "", "$lt": bound})
            if docs or top > now_ms:
                break
            width *= 4
        if not docs:  # nothing due at this priority up to now: the rest of the queue
            docs = probe({"$gte": bound})
    if docs:
        level, t, _ = docs[0]["claim_key"].split("|", 2)
        conn.claim_hint = (level, int(t))
    return docs


def _candidates(conn: StoreConnection, now: datetime) -> list[dict[str, Any]]:
    """The first `claim_batch` due sessions in claim order: the queue's head and expired
    leases (few, on their own index)."""
    k = conn.cfg.claim_batch
    expiry = {"status": Status.RUNNING.value, "lease_expires_at": {"$lt": now}}
    expired = conn.sessions.find(expiry, _CANDIDATE_FIELDS)
    merged = [*_queued_head(conn, now, k), *expired.sort([("priority", -1), ("created_at", 1)])]
    merged.sort(key=lambda d: (-d["priority"], d["created_at"]))
    return merged[:k]


def _take(
    conn: StoreConnection, candidate: dict[str, Any], worker_id: str, token: str, now: datetime
) -> dict[str, Any] | None:
    """Compare-and-set one candidate to running under `worker_id`; its document if won."""
    sid = candidate["_id"]
    update: dict[str, Any] = {
        "$set": {
            "status": Status.RUNNING.value,
            "worker_id": worker_id,
            "claim_token": token,
            "lease_expires_at": conn.lease_until(now),
            "heartbeat_at": now,
            "started_at": now,
            "finished_at": None,
            "updated_at": now,
            "retry_at": None,
        },
        "$inc": {"attempts": 1},
        "$unset": {"claim_key": ""},
    }
    if candidate["status"] == Status.RUNNING:  # an expired lease: record why it is retried
        reason = _expiry_reason(candidate)
        log.warning("session %s: %s; reclaiming it", sid, reason)
        update["$set"]["error"] = reason
        update["$push"] = {"errors": _error_entry(candidate, reason, now)}
    result = conn.write(sid, "claim", lambda: conn.sessions.update_one(_as_read(candidate), update))
    if result.modified_count != 1:
        return None
    return conn.sessions.find_one({"_id": sid, "claim_token": token})


def _fail_exhausted(conn: StoreConnection, candidate: dict[str, Any], now: datetime) -> None:
    """An expired session with no attempts left: failed, with the reason and last error."""
    reason = (
        f"{_expiry_reason(candidate)}; gave up after {candidate['attempts']} attempts "
        f"(max_attempts {candidate['max_attempts']})"
    )
    previous = candidate.get("error")
    text = reason + (f"\nprevious error:\n{previous}" if previous else "")
    update = {
        "$set": {
            "status": Status.FAILED.value,
            "lease_expires_at": None,
            "finished_at": now,
            "updated_at": now,
            "error": text[-MAX_ERROR_CHARS:],
        },
        "$push": {"errors": _error_entry(candidate, reason, now)},
    }
    sid = candidate["_id"]
    result = conn.write(sid, "fail", lambda: conn.sessions.update_one(_as_read(candidate), update))
    if result.modified_count:
        log.error("session %s failed: %s", sid, reason)


def heartbeat(conn: StoreConnection, claim: Claim, progress: dict | None) -> None:
    """Renew the lease (and store `progress`) or raise LeaseLost."""
    now = conn.now()
    fields: dict[str, Any] = {
        "heartbeat_at": now,
        "lease_expires_at": conn.lease_until(now),
        "updated_at": now,
    }
    if progress is not None:
        fields["progress"] = dict(progress)
    owned_update(conn, claim, {"$set": fields}, "heartbeat", Status.RUNNING)


def complete(conn: StoreConnection, claim: Claim, metrics: dict, mlflow_run_id: str | None) -> None:
    now = conn.now()
    fields = {
        "status": Status.SUCCEEDED.value,
        "metrics": plain(metrics),
        "lease_expires_at": None,
        "finished_at": now,
        "updated_at": now,
        "error": None,
    }
    if mlflow_run_id is not None:
        fields["mlflow_run_id"] = mlflow_run_id
    owned_update(conn, claim, {"$set": fields}, "completion", Status.SUCCEEDED)
    log.info("session %s succeeded (worker %s)", claim.session_id, claim.worker_id)


def fail(
    conn: StoreConnection, claim: Claim, error: str, retry: bool, run_closed: bool = False
) -> None:
    """Record `error`; back to queued when `retry` and attempts are left (not claimable
    before a backoff that doubles per attempt), else failed."""
    sid = claim.session_id
    doc = document(conn, sid, {"attempts": 1, "max_attempts": 1, "priority": 1, "created_at": 1})
    requeue = retry and doc["attempts"] < doc["max_attempts"]
    target = Status.QUEUED if requeue else Status.FAILED
    now = conn.now()
    text = error[-MAX_ERROR_CHARS:]
    delay = requeue_delay(conn.cfg, doc["attempts"]) if requeue else 0.0
    fields: dict[str, Any] = {
        "status": target.value,
        "lease_expires_at": None,
        "updated_at": now,
        "error": text,
        "finished_at": None if requeue else now,
        "retry_at": now + timedelta(seconds=delay) if delay else None,
    }
    if requeue:
        fields.update(queued_fields(doc))
    if run_closed:
        fields["mlflow_run_open"] = False
    update = {
        "$set": fields,
        "$push": {"errors": _error_entry({**doc, "worker_id": claim.worker_id}, text, now)},
    }
    owned_update(conn, claim, update, "failure", target, {"attempts": doc["attempts"]})
    first_line = error.strip().splitlines()[-1] if error.strip() else "(no message)"
    then = "failed" if not requeue else "queued again" + (f" in {delay:g} s" if delay else "")
    log.warning(
        "session %s attempt %d/%d failed (%s): %s",
        sid, doc["attempts"], doc["max_attempts"], then, first_line,
    )  # fmt: skip


def requeue_delay(cfg: StoreConfig, attempts: int) -> float:
    """Seconds before a failed attempt's session may be claimed again: the first delay,
    doubled per attempt made, capped. A fault that clears by itself (the tracking server
    restarting, a full disk being cleaned) then gets time to clear."""
    if cfg.requeue_delay_seconds <= 0:
        return 0.0
    delay = cfg.requeue_delay_seconds * 2 ** min(max(0, attempts - 1), 30)
    return float(min(delay, cfg.requeue_delay_max_seconds))


def release(conn: StoreConnection, claim: Claim, run_closed: bool = False) -> None:
    """Hand a session back (graceful stop): queued again, this attempt not counted."""
    doc = document(conn, claim.session_id, {"priority": 1, "created_at": 1})
    now = conn.now()
    fields: dict[str, Any] = {
        "status": Status.QUEUED.value,
        "lease_expires_at": None,
        "updated_at": now,
        "retry_at": None,
        **queued_fields(doc),
    }
    if run_closed:
        fields["mlflow_run_open"] = False
    update = {"$set": fields, "$inc": {"attempts": -1}}
    owned_update(conn, claim, update, "release", Status.QUEUED)
    log.info("worker %s released session %s", claim.worker_id, claim.session_id)


def owned_update(
    conn: StoreConnection,
    claim: Claim,
    update: dict[str, Any],
    action: str,
    leaves: Status,
    extra_filter: dict[str, Any] | None = None,
) -> None:
    """Apply `update` if `claim` still holds the session, else raise LeaseLost.

    `leaves` is the status the update leaves behind: after a reconnect, finding the
    session there under this claim's token means the first try went through.
    """
    sid = claim.session_id
    owner = owner_filter(claim)
    owner.update(extra_filter or {})

    def attempt(a: Attempt) -> None:
        result = conn.write(sid, action, lambda: conn.sessions.update_one(owner, update))
        if result.matched_count:
            return
        doc = conn.sessions.find_one({"_id": sid}, {"status": 1, "worker_id": 1, "claim_token": 1})
        if doc is None:
            raise SessionNotFound(sid)
        if a.is_retry and doc["status"] == leaves and doc.get("claim_token") == claim.token:
            return
        raise lease_lost(claim, doc)

    conn.retry(f"{action} of session {sid}", attempt)


def document(conn: StoreConnection, session_id: str, fields: dict[str, int]) -> dict[str, Any]:
    """`fields` of the session (riding out a reconnect); SessionNotFound if there is none."""
    doc = conn.retry(
        f"reading session {session_id}",
        lambda _: conn.sessions.find_one({"_id": session_id}, fields),
    )
    if doc is None:
        raise SessionNotFound(session_id)
    return doc


def lease_lost(claim: Claim, doc: dict[str, Any]) -> LeaseLost:
    """The error for `claim`, given the session document as it is now."""
    reclaimed = doc.get("claim_token") not in (None, claim.token)
    return LeaseLost(
        claim.session_id, claim.worker_id, doc["status"], doc.get("worker_id"), reclaimed=reclaimed
    )


def owner_filter(claim: Claim) -> dict[str, Any]:
    """The filter that matches the session only while `claim` holds it."""
    return {"_id": claim.session_id, "status": Status.RUNNING.value, "claim_token": claim.token}


def plain(value: Any) -> Any:
    """Metrics as BSON-storable values: numpy scalars and arrays become Python ones."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()
    return value


def _resume_note(session: Session) -> str:
    return f", resuming at {session.checkpoint.timesteps} steps" if session.checkpoint else ""


def _as_read(candidate: dict[str, Any]) -> dict[str, Any]:
    """The compare-and-set filter: the candidate exactly as it was read."""
    match = {"_id": candidate["_id"], "status": candidate["status"]}
    if candidate["status"] == Status.RUNNING:
        match["claim_token"] = candidate.get("claim_token")
        match["lease_expires_at"] = candidate.get("lease_expires_at")
    return match


def _expiry_reason(candidate: dict[str, Any]) -> str:
    beat = candidate.get("heartbeat_at")
    since = f", last heartbeat {beat:%Y-%m-%d %H:%M:%S} UTC" if beat else ""
    return (
        f"attempt {candidate['attempts']} by worker '{candidate.get('worker_id')}' lost its "
        f"lease{since} (worker killed or cut off)"
    )


def _error_entry(doc: dict[str, Any], error: str, now: datetime) -> dict[str, Any]:
    entry = {"attempt": doc["attempts"], "at": now, "error": error[-MAX_ERROR_CHARS:]}
    entry["worker_id"] = doc.get("worker_id")
    return {"$each": [entry], "$slice": -KEEP_ERRORS}
