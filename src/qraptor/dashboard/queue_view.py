"""Session documents as the rows people read: progress in percent, the reason a session
failed in one line, who is working on what. Pure functions of the documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from qraptor.store.status import Status

REASON_CHARS = 160


def progress_percent(doc: dict[str, Any]) -> float | None:
    """Timesteps done of the total, in percent: the last heartbeat's, 100 once succeeded."""
    if doc.get("status") == Status.SUCCEEDED:
        return 100.0
    progress = doc.get("progress") or {}
    done, total = progress.get("timesteps"), progress.get("total_timesteps")
    if done is None or not total:
        return None
    return round(min(done / total, 1.0) * 100, 1)


def error_reason(error: str | None) -> str:
    """The line of an error that says what went wrong: a traceback's last line (the
    exception), a config error as it is; shortened to one table cell."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    reason = lines[-1]
    return reason if len(reason) <= REASON_CHARS else reason[: REASON_CHARS - 1] + "…"


def session_name(doc: dict[str, Any]) -> str:
    return str(((doc.get("config") or {}).get("session") or {}).get("name", ""))


def session_row(doc: dict[str, Any]) -> dict[str, Any]:
    """One row of the sessions table (`id` doubles as the DataTable row id)."""
    status = doc["status"]
    percent = progress_percent(doc)
    return {
        "id": doc["_id"],
        "session": f"[{doc['_id']}](/session/{doc['_id']})",
        "status": status,
        "experiment": doc.get("experiment") or "",
        "sweep": doc.get("sweep_id") or "",
        "priority": doc.get("priority", 0),
        "worker": (doc.get("worker_id") or "") if status != Status.QUEUED else "",
        "progress": "" if percent is None else f"{percent:.0f}%",
        "attempts": f"{doc.get('attempts', 0)}/{doc.get('max_attempts', 0)}",
        "reason": error_reason(doc.get("error")) if status == Status.FAILED else "",
        "created": _when(doc.get("created_at")),
    }


def worker_rows(docs: list[dict[str, Any]], now: datetime | None = None) -> list[dict[str, Any]]:
    """Running sessions by worker: what each is training and how far it got."""
    now = now or datetime.now(UTC)
    rows = []
    for doc in docs:
        if doc.get("status") != Status.RUNNING:
            continue
        progress = doc.get("progress") or {}
        beat = doc.get("heartbeat_at")
        percent = progress_percent(doc)
        done, total = progress.get("timesteps", 0), progress.get("total_timesteps", 0)
        rows.append(
            {
                "worker": doc.get("worker_id") or "?",
                "session": doc["_id"],
                "percent": percent,
                "timesteps": f"{done:,}/{total:,}",
                "phase": str(progress.get("phase") or ""),
                "heartbeat": "" if beat is None else f"{(now - beat).total_seconds():.0f} s ago",
            }
        )
    return sorted(rows, key=lambda r: (r["worker"], r["session"]))


def _when(value: datetime | None) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"
