"""One open session database: client, collections, clock and the rules every write obeys.

Shared by the store's parts (lifecycle, leases, files) so each of them states only its
own logic: retries with backoff (`retry`), readable validator rejections (`write`), and
one clock (`now`) aligned with the database server's, so leases written by workers on
different machines are compared against the same time.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from gridfs import GridFSBucket
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import ConfigurationError, OperationFailure, PyMongoError

from qraptor.core.errors import ConfigError
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text, redact_uri
from qraptor.store.config import StoreConfig
from qraptor.store.errors import DocumentRejected, StoreError, StoreUnavailable
from qraptor.store.retry import Attempt, short_cause, with_retry
from qraptor.store.schema import (
    VALIDATION_FAILED,
    describe_rejection,
    ensure_collection,
    ensure_file_indexes,
)

log = get_logger(__name__)
T = TypeVar("T")
CLOCK_REFRESH_SECONDS = 300.0


class StoreConnection:
    """Client, `sessions` collection and GridFS bucket of one database."""

    def __init__(self, uri: str, database: str, cfg: StoreConfig) -> None:
        self.cfg = cfg
        self.uri = redact_uri(uri)  # the only form of the URI this object ever shows
        timeout_ms = int(cfg.server_selection_timeout_seconds * 1000)
        try:
            self.client: MongoClient = MongoClient(
                uri,
                tz_aware=True,
                appname="qraptor",
                retryWrites=True,
                serverSelectionTimeoutMS=timeout_ms,
                connectTimeoutMS=timeout_ms,
            )
        except (ConfigurationError, ValueError, TypeError) as exc:
            raise ConfigError("store.uri", f"{self.uri}: {redact_text(str(exc))}") from None
        self.db = self.client[database]
        self._clock_offset = timedelta(0)
        # (priority level, ms) of the queue's head as this process last saw it (claims.py)
        self.claim_hint: tuple[str, int] | None = None
        self._clock_checked = -CLOCK_REFRESH_SECONDS
        self._check_reachable()
        self.sessions: Collection = self.retry(
            f"opening {database}.{cfg.collection}",
            lambda _: ensure_collection(self.db, cfg.collection),
        )
        bucket = f"{cfg.collection}_files"
        self.retry("indexing session files", lambda _: ensure_file_indexes(self.db, bucket))
        self.bucket = GridFSBucket(self.db, bucket_name=bucket)
        self.files_collection: Collection = self.db[f"{bucket}.files"]
        self.chunks_collection: Collection = self.db[f"{bucket}.chunks"]
        log.debug("session store open: %s, database %s", self.uri, database)

    def _check_reachable(self) -> None:
        """Fail fast and readably when the database is down or refuses us at start."""
        started = time.monotonic()
        try:
            self.sync_clock()
        except OperationFailure as exc:  # e.g. authentication failed
            message = redact_text(str(exc.details.get("errmsg") if exc.details else exc))
            raise StoreError(f"MongoDB at {self.uri} refused the connection: {message}") from None
        except PyMongoError as exc:
            raise StoreUnavailable(self.uri, time.monotonic() - started, short_cause(exc)) from None

    def sync_clock(self) -> None:
        """Measure the server clock's offset from ours (hello's localTime, mid round trip)."""
        before = datetime.now(UTC)
        reply = self.client.admin.command("hello")
        after = datetime.now(UTC)
        server_time = reply.get("localTime")
        if isinstance(server_time, datetime):
            if server_time.tzinfo is None:  # command replies ignore tz_aware: UTC, naive
                server_time = server_time.replace(tzinfo=UTC)
            self._clock_offset = server_time - (before + (after - before) / 2)
            if abs(self._clock_offset) > timedelta(seconds=2):
                log.warning(
                    "this machine's clock is %.1f s off the database's: leases use the database's",
                    self._clock_offset.total_seconds(),
                )
        self._clock_checked = time.monotonic()

    def now(self) -> datetime:
        """The database server's time (UTC, millisecond precision like BSON dates)."""
        if time.monotonic() - self._clock_checked > CLOCK_REFRESH_SECONDS:
            with contextlib.suppress(PyMongoError):  # keep the last offset; the call retries
                self.sync_clock()
        now = datetime.now(UTC) + self._clock_offset
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def lease_until(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.cfg.lease_seconds)

    def retry(self, what: str, operation: Callable[[Attempt], T]) -> T:
        """`operation` with reconnects and backoff (see retry.py)."""
        return with_retry(operation, what=what, uri=self.uri, policy=self.cfg.retry)

    def write(self, session_id: str | None, action: str, operation: Callable[[], T]) -> T:
        """Run a write; a schema rejection becomes a DocumentRejected naming the fields."""
        try:
            return operation()
        except OperationFailure as exc:
            if exc.code == VALIDATION_FAILED:
                raise DocumentRejected(session_id, action, describe_rejection(exc)) from None
            raise

    def close(self) -> None:
        self.client.close()
