"""Training sessions in MongoDB: the session store, its local server, workers' leases.

    config.py        StoreConfig: schema of conf/store/default.yaml
    uri.py           which database (QRAPTOR_MONGO_URI, store.uri, local server)
    local_server.py  the local SecantusDB server: start (or reuse), status, stop
    status.py        Status and FileKind: the store's only words for states and files
    store.py         SessionStore: submit, claim, heartbeat, complete, fail, files, queries
    claims.py        leases by compare-and-set; session_files.py / files.py: GridFS + sha256
    lease.py         LeaseKeeper: heartbeats from a background thread while training runs
    retry.py         reconnecting with exponential backoff after the database went away
    db_cli.py        `qraptor db start|status|stop`

Importing this package starts nothing: only `resolve_uri` and `db_start` start a server. It
needs the `store` extra (pymongo; SecantusDB for the local server).
"""

from qraptor.core.extras import require

require("pymongo", "store")

# ruff: noqa: E402 - the extra is checked before its modules import pymongo

from qraptor.store.config import StoreConfig, load_store_config, store_config_from
from qraptor.store.errors import (
    DocumentRejected,
    FileIntegrityError,
    InvalidTransition,
    LeaseLost,
    LocalServerError,
    SessionNotFound,
    StoreError,
    StoreUnavailable,
)
from qraptor.store.lease import LeaseKeeper
from qraptor.store.session import Claim, FileRef, Session
from qraptor.store.status import FileKind, Status
from qraptor.store.store import SessionStore
from qraptor.store.uri import resolve_uri

__all__ = [
    "Claim",
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
    "resolve_uri",
    "store_config_from",
]
