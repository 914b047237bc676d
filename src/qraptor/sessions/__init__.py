"""Training sessions in MongoDB: the session store, its local server, workers' leases.

    config.py        StoreConfig: schema of conf/store/default.yaml
    uri.py           which database (QRAPTOR_MONGO_URI, store.uri, local server); redaction
    local_server.py  the local SecantusDB server: start (or reuse), status, stop
    status.py        Status and FileKind: the store's only words for states and files
    store.py         SessionStore: submit, claim, heartbeat, complete, fail, files, queries
    claims.py        leases by compare-and-set; session_files.py / files.py: GridFS + sha256
    lease.py         LeaseKeeper: heartbeats from a background thread while training runs
    retry.py         reconnecting with exponential backoff after the database went away
    db_cli.py        `qraptor db start|status|stop`

Importing this package starts nothing: only `resolve_uri` and `db_start` start a server.
"""

from qraptor.sessions.config import StoreConfig, load_store_config, store_config_from
from qraptor.sessions.errors import (
    DocumentRejected,
    FileIntegrityError,
    InvalidTransition,
    LeaseLost,
    LocalServerError,
    SessionNotFound,
    StoreError,
    StoreUnavailable,
)
from qraptor.sessions.lease import LeaseKeeper
from qraptor.sessions.session import FileRef, Session
from qraptor.sessions.status import FileKind, Status
from qraptor.sessions.store import SessionStore
from qraptor.sessions.uri import redact_text, redact_uri, resolve_uri, scrub, scrub_override

__all__ = [
    "DocumentRejected",
    "FileIntegrityError",
    "FileKind",
    "FileRef",
    "InvalidTransition",
    "LeaseKeeper",
    "LeaseLost",
    "LocalServerError",
    "Session",
    "SessionNotFound",
    "SessionStore",
    "Status",
    "StoreConfig",
    "StoreError",
    "StoreUnavailable",
    "load_store_config",
    "redact_text",
    "redact_uri",
    "resolve_uri",
    "scrub",
    "scrub_override",
    "store_config_from",
]
