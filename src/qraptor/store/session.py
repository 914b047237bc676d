"""Typed views of what the store holds: a claimed `Session` and a linked file (`FileRef`).

The database keeps plain documents (see schema.py); these views are what workers and the
CLI program against, so a renamed field breaks in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bson import ObjectId

from qraptor.store.status import FileKind, Status


@dataclass(frozen=True)
class FileRef:
    """A GridFS file linked from a session document."""

    file_id: ObjectId
    name: str
    kind: FileKind
    size: int  # bytes
    sha256: str  # of the uploaded bytes, checked on every download
    created_at: datetime
    timesteps: int | None = None  # checkpoints: training timesteps done when it was taken

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file_id": self.file_id,
            "name": self.name,
            "kind": self.kind.value,
            "size": self.size,
            "sha256": self.sha256,
            "created_at": self.created_at,
        }
        if self.timesteps is not None:
            doc["timesteps"] = self.timesteps
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> FileRef:
        return cls(
            file_id=doc["file_id"],
            name=doc["name"],
            kind=FileKind(doc["kind"]),
            size=int(doc["size"]),
            sha256=doc["sha256"],
            created_at=doc["created_at"],
            timesteps=doc.get("timesteps"),
        )


@dataclass(frozen=True)
class Claim:
    """One claim of one session: the fence every write of the attempt carries.

    The store checks the token, not the worker id: two live processes that happen to share
    a worker id (an explicit ``--worker-id``, containers with one hostname and pid) hold
    different tokens, so the one whose claim was superseded cannot write anything.
    """

    session_id: str
    worker_id: str
    token: str

    def __str__(self) -> str:
        return f"session '{self.session_id}' (worker '{self.worker_id}', claim {self.token})"


@dataclass(frozen=True)
class Session:
    """A session as a worker receives it from `SessionStore.claim`.

    `checkpoint` is the resume point: the latest checkpoint a previous attempt stored
    (download it with `SessionStore.latest_checkpoint`), None for a fresh start.
    """

    id: str
    config: dict[str, Any]
    status: Status
    experiment: str
    priority: int
    attempts: int  # including this one
    max_attempts: int
    worker_id: str | None
    lease_expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    sweep_id: str | None = None
    tags: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()
    git_commit: str | None = None
    data_version: dict[str, Any] | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    checkpoint: FileRef | None = None
    claim_token: str | None = None  # this claim's fence (see Claim)
    mlflow_run_id: str | None = None  # the session's MLflow run, once an attempt made it

    @property
    def claim(self) -> Claim:
        """The fence to pass to every write of this attempt (heartbeat, files, completion)."""
        if self.worker_id is None or self.claim_token is None:
            raise ValueError(f"session '{self.id}' was not claimed: it has no claim token")
        return Claim(self.id, self.worker_id, self.claim_token)

    @property
    def resumes(self) -> bool:
        """True when training should continue from `checkpoint` rather than start over."""
        return self.checkpoint is not None

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Session:
        checkpoints = doc.get("checkpoints") or []
        return cls(
            id=doc["_id"],
            config=doc["config"],
            status=Status(doc["status"]),
            experiment=doc["experiment"],
            priority=int(doc["priority"]),
            attempts=int(doc["attempts"]),
            max_attempts=int(doc["max_attempts"]),
            worker_id=doc.get("worker_id"),
            lease_expires_at=doc.get("lease_expires_at"),
            created_at=doc["created_at"],
            started_at=doc.get("started_at"),
            sweep_id=doc.get("sweep_id"),
            tags=tuple(doc.get("tags") or ()),
            overrides=tuple(doc.get("overrides") or ()),
            git_commit=doc.get("git_commit"),
            data_version=doc.get("data_version"),
            progress=dict(doc.get("progress") or {}),
            checkpoint=FileRef.from_document(checkpoints[-1]) if checkpoints else None,
            claim_token=doc.get("claim_token"),
            mlflow_run_id=doc.get("mlflow_run_id"),
        )
