"""Errors of the session store, each naming the session, file or (redacted) URI involved.

All derive from QraptorError, so the CLI prints them as one readable line (exit 2) and a
worker can tell "this session is no longer mine" (LeaseLost) from "the database is gone"
(StoreUnavailable).
"""

from __future__ import annotations

from collections.abc import Sequence

from qraptor.core.errors import QraptorError, SessionTakenAway


class StoreError(QraptorError):
    """A session-store operation could not be done as asked."""


class StoreUnavailable(StoreError):
    """The database did not answer within the configured time."""

    def __init__(self, uri: str, waited_seconds: float, cause: str) -> None:
        self.uri = uri  # already redacted
        self.waited_seconds = waited_seconds
        super().__init__(
            f"MongoDB at {uri} is not reachable (gave up after {waited_seconds:.1f} s): {cause}. "
            "Start it (`qraptor db start` for the local server) or check store.uri / "
            "QRAPTOR_MONGO_URI."
        )


class SessionNotFound(StoreError):
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"session '{session_id}' does not exist")


class LeaseLost(StoreError, SessionTakenAway):
    """The session is no longer running under this claim: stop working on it.

    Raised by every write of an attempt (heartbeat, checkpoint, files, completion, failure,
    release) when the lease expired and the session was claimed again, by another worker or
    by a process sharing this worker's id, or when it was cancelled meanwhile.
    """

    def __init__(
        self,
        session_id: str,
        worker_id: str,
        status: str,
        owner: str | None,
        *,
        reclaimed: bool = False,
    ) -> None:
        self.session_id = session_id
        self.worker_id = worker_id
        self.status = status
        self.owner = owner
        if owner and owner != worker_id:
            now = f"{status} under worker '{owner}'"
        elif status == "running" and (reclaimed or owner == worker_id):
            now = "running under a newer claim by a process with the same worker id"
        else:
            now = status
        super().__init__(
            f"session '{session_id}': worker '{worker_id}' lost its lease "
            f"(the session is now {now})"
        )


class InvalidTransition(StoreError):
    def __init__(self, session_id: str, status: str, action: str, allowed: Sequence[str]) -> None:
        self.session_id = session_id
        self.status = status
        super().__init__(
            f"session '{session_id}' is {status}: only {' or '.join(sorted(allowed))} sessions "
            f"can be {action}"
        )


class DocumentRejected(StoreError):
    """The collection's $jsonSchema validator rejected a write (server code 121)."""

    def __init__(self, session_id: str | None, action: str, problems: Sequence[str]) -> None:
        self.session_id = session_id
        self.problems = list(problems)
        who = f"session '{session_id}'" if session_id else "session document"
        lines = [f"{who}: the database rejected the {action} (schema validation):"]
        lines += [f"    {p}" for p in self.problems] or ["    (no details given by the server)"]
        super().__init__("\n".join(lines))


class FileIntegrityError(StoreError):
    """A downloaded file is not what was uploaded (sha256 differs, chunks damaged)."""

    def __init__(self, session_id: str, name: str, problem: str) -> None:
        self.session_id = session_id
        self.name = name
        super().__init__(
            f"session '{session_id}': file '{name}' is corrupt ({problem}); not written"
        )


class DatasetIntegrityError(StoreError):
    """A dataset fetched from the store is not the published one (store.datasets)."""


class LocalServerError(StoreError):
    """The local SecantusDB server could not be started, found or stopped."""
