"""Datasets carried by the store, so a worker on any host trains on the submitter's data.

Workers in containers or on other machines have no copy of the submitter's
``data/processed/...`` folder, and a shared filesystem is one more thing a team must run.
So a submitter publishes each dataset version it queues sessions on (`publish`): one tar of
the folder, in the GridFS bucket ``<collection>_datasets``, named by the version's hash
(DVC's md5 from dvc.lock, else qraptor's sha256 of the files: core.provenance). A worker
whose own folder is missing or holds another version fetches that tar once (`fetch`) into
its cache, ``<cache>/<hash>/``, and trains on it.

Integrity: the tar's sha256, computed from the bytes that were uploaded, is in the file's
metadata and checked on download; the folder appears in the cache only complete (extracted
beside it, then renamed). GridFS writes a file's document after its last chunk, so an
upload killed half-way is never found. Published versions are never deleted by qraptor:
the session bucket's orphan sweep does not look here (`qraptor db` users may drop the
bucket ``<collection>_datasets`` to reclaim the space).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from gridfs import GridFSBucket
from pymongo import DESCENDING

from qraptor.core.log import get_logger
from qraptor.store.connection import StoreConnection
from qraptor.store.errors import DatasetIntegrityError, StoreError

log = get_logger(__name__)
BUCKET_SUFFIX = "_datasets"
READ_BYTES = 1 << 20


def bucket_name(conn: StoreConnection) -> str:
    return f"{conn.cfg.collection}{BUCKET_SUFFIX}"


def _bucket(conn: StoreConnection) -> GridFSBucket:
    return GridFSBucket(conn.db, bucket_name=bucket_name(conn))


def published(conn: StoreConnection, key: str) -> dict[str, Any] | None:
    """The newest published tar of dataset version `key` (its GridFS file document)."""
    files = conn.db[f"{bucket_name(conn)}.files"]
    return conn.retry(
        f"looking up dataset {key[:12]}",
        lambda _: files.find_one({"filename": key}, sort=[("uploadDate", DESCENDING)]),
    )


def publish(conn: StoreConnection, folder: Path, version: dict[str, Any]) -> bool:
    """Upload `folder` as dataset version `version["hash"]` unless it is there already;
    whether it was uploaded now."""
    key = str(version["hash"])
    if published(conn, key) is not None:
        return False
    with tempfile.TemporaryDirectory(prefix="qraptor-dataset-") as scratch:
        tar_path = Path(scratch) / "dataset.tar"
        digest = _write_tar(folder, tar_path)
        metadata = {
            "dataset": version.get("dataset"),
            "method": version.get("method"),
            "files": version.get("files"),
            "bytes": version.get("bytes"),
            "sha256": digest,
        }

        def upload(_: object) -> None:
            with tar_path.open("rb") as raw:
                _bucket(conn).upload_from_stream(key, raw, metadata=metadata)

        conn.retry(f"publishing dataset {version.get('dataset')} ({key[:12]})", upload)
    log.info(
        "published dataset %s (%s, %d files, %.1f MB) to the store for workers elsewhere",
        version.get("dataset"),
        key[:12],
        version.get("files") or 0,
        (version.get("bytes") or 0) / 1e6,
    )
    return True


def fetch(conn: StoreConnection, version: dict[str, Any], cache: Path) -> Path | None:
    """The folder of dataset version `version["hash"]` in `cache`, downloaded first when it
    is not there yet; None when the store has no copy of it."""
    key = str(version["hash"])
    dest = Path(cache) / key
    if dest.is_dir():
        return dest
    doc = published(conn, key)
    if doc is None:
        return None
    expected = (doc.get("metadata") or {}).get("sha256")
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=cache))
    try:
        tar_path = scratch / "dataset.tar"

        def download(_: object) -> str:
            digest = hashlib.sha256()
            with tar_path.open("wb") as out, _bucket(conn).open_download_stream(doc["_id"]) as src:
                while chunk := src.read(READ_BYTES):
                    digest.update(chunk)
                    out.write(chunk)
            return digest.hexdigest()

        got = conn.retry(f"fetching dataset {version.get('dataset')} ({key[:12]})", download)
        if expected and got != expected:
            raise DatasetIntegrityError(
                f"dataset {version.get('dataset')} ({key}): the download's sha256 {got} is not "
                f"the published {expected}; nothing was kept"
            )
        folder = scratch / "folder"
        with tarfile.open(tar_path) as tar:
            tar.extractall(folder, members=_plain_files(tar, key))
        try:
            os.rename(folder, dest)  # atomic; another worker may have won the race
        except OSError:
            if not dest.is_dir():
                raise
    except tarfile.TarError as exc:
        raise StoreError(
            f"dataset {key}: the published copy is not a readable tar: {exc}"
        ) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    log.info(
        "fetched dataset %s (%s) from the store into %s", version.get("dataset"), key[:12], dest
    )
    return dest


def _plain_files(tar: tarfile.TarFile, key: str) -> list[tarfile.TarInfo]:
    """The tar's members, refused unless each is a regular file inside the folder (what
    `_write_tar` writes). Python 3.11.2, Debian 12's, has no extraction filters."""
    members = tar.getmembers()
    for member in members:
        parts = Path(member.name).parts
        if not member.isfile() or member.name.startswith("/") or ".." in parts:
            raise DatasetIntegrityError(
                f"dataset {key}: the published copy holds '{member.name}', not a plain file "
                "inside the dataset folder; nothing was kept"
            )
    return members


class _HashingWriter:
    """A write-only file that hashes what tarfile writes to it (no second read of the tar)."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self._raw.write(data)

    def tell(self) -> int:
        return self._raw.tell()


def _write_tar(folder: Path, tar_path: Path) -> str:
    """`folder`'s files into an uncompressed tar (sorted, owner and times zeroed: the same
    folder always gives the same bytes); the tar's sha256."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    with tar_path.open("wb") as raw:
        out = _HashingWriter(raw)
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            for path in files:
                info = tar.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                info.mode = 0o644
                with path.open("rb") as data:
                    tar.addfile(info, data)
    return out.sha256.hexdigest()
