"""Session files in GridFS, checked by sha256 end to end.

The hash is computed from the very bytes streamed into GridFS (not from a second read of a
file that may be changing), recorded in the session's link, and recomputed on download;
a mismatch leaves no file behind at the destination. Linking is the caller's second step:
a file becomes visible in its session only once its upload completed.
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from bson import ObjectId
from gridfs import GridFSBucket
from gridfs.errors import CorruptGridFile, NoFile
from pymongo.errors import PyMongoError

from qraptor.core.atomic import atomic_path
from qraptor.store.errors import FileIntegrityError, StoreError
from qraptor.store.session import FileRef
from qraptor.store.status import FileKind

READ_BYTES = 1 << 20


class _HashingReader:
    """A read-only file wrapper that hashes and counts what GridFS reads from it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        self.sha256.update(data)
        self.size += len(data)
        return data


def upload(
    bucket: GridFSBucket,
    session_id: str,
    kind: FileKind,
    path: Path,
    name: str,
    created_at: datetime,
    timesteps: int | None = None,
) -> FileRef:
    """Stream `path` into GridFS (metadata: session id, kind) and return its link.

    A failed upload deletes its partial chunks; the file is not linked anywhere yet.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"session '{session_id}': cannot upload {path}: no such file")
    file_id = ObjectId()
    metadata = {"session_id": session_id, "kind": kind.value}
    with path.open("rb") as raw:
        reader = _HashingReader(raw)
        try:
            bucket.upload_from_stream_with_id(file_id, name, reader, metadata=metadata)
        except BaseException:
            with contextlib.suppress(PyMongoError):  # unreachable now: the orphan sweep gets it
                delete_quietly(bucket, file_id)
            raise
    return FileRef(
        file_id, name, kind, reader.size, reader.sha256.hexdigest(), created_at, timesteps
    )


def download(bucket: GridFSBucket, session_id: str, ref: FileRef, dest: Path) -> Path:
    """Write the file of `ref` to `dest` (atomically) if its sha256 matches the link."""
    sha256 = hashlib.sha256()
    with atomic_path(dest) as tmp:
        try:
            with bucket.open_download_stream(ref.file_id) as stream, tmp.open("wb") as out:
                while chunk := stream.read(READ_BYTES):
                    sha256.update(chunk)
                    out.write(chunk)
        except CorruptGridFile as exc:
            raise FileIntegrityError(session_id, ref.name, f"GridFS: {exc}") from None
        except NoFile:
            raise StoreError(
                f"session '{session_id}': file '{ref.name}' is linked but missing from GridFS "
                f"(id {ref.file_id})"
            ) from None
        actual = sha256.hexdigest()
        if actual != ref.sha256:
            problem = f"sha256 {actual[:12]}..., recorded {ref.sha256[:12]}..."
            raise FileIntegrityError(session_id, ref.name, problem)
    return dest


def delete_quietly(bucket: GridFSBucket, file_id: ObjectId) -> None:
    """Delete a GridFS file and its chunks; a file already gone is fine."""
    with contextlib.suppress(NoFile):
        bucket.delete(file_id)
