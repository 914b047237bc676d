"""A session's files: checkpoints (latest K kept), the model, exports and result CSVs.

Order of operations, so that a reader never sees a half-written file and a crash leaves
at worst an unlinked GridFS file (removed by `collect_orphans`):

1. upload to GridFS, hashing the streamed bytes;
2. link it from the session document in one compare-and-set update;
3. only then delete the files that link replaced (older checkpoints, an earlier model).
"""

from __future__ import annotations

import contextlib
import tempfile
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.errors import PyMongoError

from qraptor.core.log import get_logger
from qraptor.store import claims, files
from qraptor.store.connection import StoreConnection
from qraptor.store.errors import SessionNotFound, StoreError
from qraptor.store.retry import Attempt
from qraptor.store.session import Claim, FileRef
from qraptor.store.status import FileKind, Status

log = get_logger(__name__)
UPLOAD_THREADS = 4  # concurrent GridFS uploads of one bundle of result files


def checkpoint(conn: StoreConnection, claim: Claim, path: Path, timesteps: int) -> FileRef:
    """Upload a checkpoint, link it (renewing the lease), keep the latest K."""
    session_id = claim.session_id
    name = f"checkpoint-{timesteps:012d}{Path(path).suffix}"
    ref = _upload(conn, session_id, FileKind.CHECKPOINT, path, name, timesteps)
    now, keep = conn.now(), conn.cfg.keep_checkpoints
    update = {
        "$push": {"checkpoints": {"$each": [ref.to_document()], "$slice": -keep}},
        "$set": {"lease_expires_at": conn.lease_until(now), "heartbeat_at": now, "updated_at": now},
    }
    # not linked yet: a retry after a lost acknowledgement must not push it twice
    owner = {**claims.owner_filter(claim), "checkpoints.file_id": {"$ne": ref.file_id}}

    def link(a: Attempt) -> list[dict[str, Any]]:
        before = conn.write(
            session_id,
            "checkpoint",
            lambda: conn.sessions.find_one_and_update(
                owner, update, projection={"checkpoints": 1}, return_document=ReturnDocument.BEFORE
            ),
        )
        if before is not None:
            linked = [*before.get("checkpoints", []), ref.to_document()]
            return linked[: -conn.cfg.keep_checkpoints]
        doc = conn.sessions.find_one(
            {"_id": session_id}, {"status": 1, "worker_id": 1, "claim_token": 1, "checkpoints": 1}
        )
        if doc is None:
            raise SessionNotFound(session_id)
        if a.is_retry and any(c["file_id"] == ref.file_id for c in doc.get("checkpoints", [])):
            return []  # linked before the disconnect; what it replaced is left to the sweep
        raise claims.lease_lost(claim, doc)

    try:
        dropped = conn.retry(f"checkpoint of session {session_id}", link)
    except BaseException:
        _delete(conn, ref.file_id)
        raise
    for old in dropped:
        _delete(conn, old["file_id"])
    log.debug("session %s: checkpoint at %d steps (%d bytes)", session_id, timesteps, ref.size)
    return ref


def latest_checkpoint(
    conn: StoreConnection, session_id: str, dest_dir: Path | None = None
) -> tuple[Path, int] | None:
    """Download the latest checkpoint (sha256-verified): (path, timesteps), or None."""
    doc = claims.document(conn, session_id, {"checkpoints": 1})
    if not doc.get("checkpoints"):
        return None
    ref = FileRef.from_document(doc["checkpoints"][-1])
    folder = Path(dest_dir) if dest_dir else Path(tempfile.mkdtemp(prefix=f"qraptor-{session_id}-"))
    path = download(conn, session_id, ref, folder / ref.name)
    return path, int(ref.timesteps or 0)


def attach(
    conn: StoreConnection,
    session_id: str,
    kind: FileKind,
    path: Path,
    name: str,
    claim: Claim | None,
) -> FileRef:
    """Upload a file and link it; a file of the same kind and name is replaced.

    With `claim`, the link is made only while that claim holds the session, so a worker
    that lost its lease cannot overwrite the results of the one that took over.
    """
    return attach_many(conn, session_id, [(kind, path, name)], claim)[0]


def attach_many(
    conn: StoreConnection,
    session_id: str,
    items: list[tuple[FileKind, Path, str]],
    claim: Claim | None,
) -> list[FileRef]:
    """Upload files, then link them all in one compare-and-set update of the session's
    `files` (files of the same kind and name are replaced). A worker's results appear
    together or not at all, and the linking costs one round trip, not one per file."""
    if any(kind is FileKind.CHECKPOINT for kind, _, _ in items):
        raise StoreError(f"session '{session_id}': store checkpoints with checkpoint(), not attach")
    names = [(kind.value, name) for kind, _, name in items]
    if len(set(names)) != len(names):
        raise StoreError(f"session '{session_id}': the same file twice in one attach: {names}")
    refs = _upload_all(conn, session_id, items)
    owner = claims.owner_filter(claim) if claim else {"_id": session_id}
    new_ids = {ref.file_id for ref in refs}
    label = ", ".join(name for _, _, name in items)

    def link(a: Attempt) -> list[dict[str, Any]]:
        for _ in range(5):  # a concurrent change of `files` between read and write: read again
            fields = {"files": 1, "status": 1, "worker_id": 1, "claim_token": 1}
            doc = claims.document(conn, session_id, fields)
            linked = doc.get("files", [])
            if new_ids & {f["file_id"] for f in linked}:
                return []  # linked before a disconnect; what it replaced is left to the sweep
            if claim and (doc["status"] != Status.RUNNING or doc.get("claim_token") != claim.token):
                raise claims.lease_lost(claim, doc)
            replaced = [f for f in linked if (f["kind"], f["name"]) in set(names)]
            kept = [f for f in linked if (f["kind"], f["name"]) not in set(names)]
            files_now = [*kept, *(ref.to_document() for ref in refs)]
            match = {**owner, "files": linked}
            if not linked:  # a missing field and an empty list both mean "no files yet"
                match["files"] = {"$in": [None, []]}
            update = {"$set": {"files": files_now, "updated_at": conn.now()}}
            write = lambda m=match, u=update: conn.sessions.update_one(m, u)  # noqa: E731
            if conn.write(session_id, f"link of {label}", write).matched_count:
                return replaced
        raise StoreError(f"session '{session_id}': could not link {label} (changing too often)")

    try:
        replaced = conn.retry(f"linking {label} to session {session_id}", link)
    except BaseException:
        for ref in refs:
            _delete(conn, ref.file_id)
        raise
    for old in replaced:
        _delete(conn, old["file_id"])
    for ref in refs:
        log.debug("session %s: stored %s '%s' (%d bytes)", session_id, ref.kind.value, ref.name,
                  ref.size)  # fmt: skip
    return refs


def find_file(conn: StoreConnection, session_id: str, kind: FileKind) -> FileRef:
    """The latest file of `kind` linked from the session."""
    doc = claims.document(conn, session_id, {"files": 1, "checkpoints": 1})
    refs = [FileRef.from_document(d) for d in doc.get("files", []) + doc.get("checkpoints", [])]
    matching = [r for r in refs if r.kind is kind]
    if not matching:
        have = ", ".join(sorted({r.kind.value for r in refs})) or "none"
        raise StoreError(f"session '{session_id}' has no {kind.value} file (files: {have})")
    return max(matching, key=lambda r: r.created_at)


def download(conn: StoreConnection, session_id: str, ref: FileRef, dest: Path) -> Path:
    """Download with retries; a sha256 mismatch raises FileIntegrityError, never retried."""
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / ref.name
    return conn.retry(
        f"download of {ref.name} (session {session_id})",
        lambda _: files.download(conn.bucket, session_id, ref, dest),
    )


def list_files(conn: StoreConnection, session_id: str) -> list[FileRef]:
    doc = claims.document(conn, session_id, {"files": 1, "checkpoints": 1})
    return [FileRef.from_document(d) for d in doc.get("files", []) + doc.get("checkpoints", [])]


def unlink_checkpoints(conn: StoreConnection, session_id: str) -> int:
    """Forget a session's checkpoints (a fresh restart) and delete their files."""
    before = conn.retry(
        f"dropping checkpoints of session {session_id}",
        lambda _: conn.sessions.find_one_and_update(
            {"_id": session_id}, {"$set": {"checkpoints": []}}, projection={"checkpoints": 1}
        ),
    )
    if before is None:
        raise SessionNotFound(session_id)
    for old in before.get("checkpoints", []):
        _delete(conn, old["file_id"])
    return len(before.get("checkpoints", []))


def collect_orphans(conn: StoreConnection, min_age_seconds: float) -> int:
    """Delete what a crash between upload and link leaves behind, once older than
    `min_age_seconds` (a younger one may be an upload about to be linked): GridFS files no
    session links, and stray chunks whose file document was never written (a process
    killed mid-upload: GridFS writes the chunks first, the file document last). The number
    of files (and stray uploads) deleted."""
    linked: set[ObjectId] = set()
    for doc in conn.sessions.find({}, {"files.file_id": 1, "checkpoints.file_id": 1}):
        linked.update(f["file_id"] for f in doc.get("files", []) + doc.get("checkpoints", []))
    cutoff = conn.now() - timedelta(seconds=min_age_seconds)
    stale = conn.files_collection.find({"uploadDate": {"$lt": cutoff}}, {"_id": 1})
    orphans = [d["_id"] for d in stale if d["_id"] not in linked]
    for file_id in orphans:
        _delete(conn, file_id)
    known = {d["_id"] for d in conn.files_collection.find({}, {"_id": 1})}
    # A file id is an ObjectId made when the upload began: its time dates the chunks.
    stray = [
        fid
        for fid in conn.chunks_collection.distinct("files_id")
        if fid not in known and isinstance(fid, ObjectId) and fid.generation_time < cutoff
    ]
    for file_id in stray:
        with contextlib.suppress(PyMongoError):
            conn.chunks_collection.delete_many({"files_id": file_id})
    if orphans or stray:
        log.info(
            "deleted %d unlinked session files and %d unfinished uploads", len(orphans), len(stray)
        )
    return len(orphans) + len(stray)


def _upload(
    conn: StoreConnection, session_id: str, kind: FileKind, path: Path, name: str, steps: int | None
) -> FileRef:
    return conn.retry(
        f"upload of {name} (session {session_id})",
        lambda _: files.upload(conn.bucket, session_id, kind, path, name, conn.now(), steps),
    )


def _upload_all(
    conn: StoreConnection, session_id: str, items: list[tuple[FileKind, Path, str]]
) -> list[FileRef]:
    """Upload `items` side by side: a small GridFS upload is a few round trips of waiting
    (index check, chunk and file inserts), so threads overlap them. All or nothing: after a
    failure, the files that did upload are deleted again."""
    if len(items) == 1:
        kind, path, name = items[0]
        return [_upload(conn, session_id, kind, Path(path), name, None)]
    with ThreadPoolExecutor(max_workers=min(UPLOAD_THREADS, len(items))) as pool:
        futures = [
            pool.submit(_upload, conn, session_id, kind, Path(path), name, None)
            for kind, path, name in items
        ]
        wait(futures)
    failed = next((f.exception() for f in futures if f.exception() is not None), None)
    if failed is not None:
        for future in futures:
            if future.exception() is None:
                _delete(conn, future.result().file_id)
        raise failed
    return [future.result() for future in futures]


def _delete(conn: StoreConnection, file_id: ObjectId) -> None:
    """Best effort: a file that cannot be deleted now is an orphan for `collect_orphans`."""
    with contextlib.suppress(PyMongoError):
        files.delete_quietly(conn.bucket, file_id)
