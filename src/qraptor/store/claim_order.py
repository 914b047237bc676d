"""The claim order as one string: priority high first, then age, then id.

A queued session carries ``claim_key`` (indexed); claiming takes the start of that index
(claims._queued_head). Kept apart from claims.py so the schema's one-off migration of an
older store can compute keys without importing the claim logic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX_PRIORITY = 2**31 - 1  # priorities are int32: the claim key spells them in 10 digits


def claim_key(priority: int, created_at: datetime, session_id: str) -> str:
    """The claim order (priority high first, then age, then id) as one ascending string,
    stored on a session while it is queued and indexed: the queue's head is then the start
    of one short index range (`_queued_head`)."""
    level = MAX_PRIORITY - max(-MAX_PRIORITY, min(MAX_PRIORITY, priority))  # older stores
    return f"{level:010d}|{ms(created_at):013d}|{session_id}"


def queued_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The fields a move back to queued sets: the claim key (from the document's priority,
    creation time and id)."""
    return {"claim_key": claim_key(int(doc["priority"]), doc["created_at"], doc["_id"])}


def ms(t: datetime) -> int:
    """Milliseconds since the epoch: BSON dates' precision."""
    return int(t.timestamp() * 1000)
