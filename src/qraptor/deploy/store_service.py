"""The stack's session store: SecantusDB with authentication on, its user created at first
start.

SecantusDB has no localhost exception: a user is created on a server started without
``--auth``, which then restarts with it (shared/STACK.md). So the first start of an empty
data folder runs the server on loopback only, creates the user with the password from the
secret file, stops it and records that in ``provisioned.json``; every start then runs the
server with ``--auth`` on the stack's address, in place of this process (exec: the
container's signals reach the database itself). The data layout is the local server's
(qraptor.store.local_server): ``<dir>/data`` is the WiredTiger home.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from pymongo import MongoClient

from qraptor.core.atomic import write_json_atomic
from qraptor.core.log import get_logger
from qraptor.store import local_server
from qraptor.store.config import LocalServerConfig
from qraptor.store.errors import LocalServerError

log = get_logger(__name__)
PROVISIONED = "provisioned.json"
ROLES = [{"role": "root", "db": "admin"}]  # the stack's one user runs queue, files and admin


@dataclass(frozen=True)
class StoreService:
    """Where and how the stack's store listens."""

    data_dir: Path
    host: str
    port: int
    user: str
    cache_size: str = "512M"


def provisioned(data_dir: Path) -> bool:
    return (data_dir / PROVISIONED).is_file()


def provision(service: StoreService, password: str) -> None:
    """Create the user on a loopback-only server without auth, then stop it."""
    local = LocalServerConfig(
        dir=str(service.data_dir),
        host="127.0.0.1",
        port=None,
        cache_size=service.cache_size,
        sync_on_commit=True,
        start_timeout_seconds=60,
        stop_timeout_seconds=30,
    )
    state = local_server.start_server(local, service.data_dir)
    try:
        client: MongoClient = MongoClient(state.uri, serverSelectionTimeoutMS=10_000)
        with client:
            client.admin.command("createUser", service.user, pwd=password, roles=ROLES)
    finally:
        local_server.stop_server(service.data_dir, local.stop_timeout_seconds)
    write_json_atomic(
        service.data_dir / PROVISIONED,
        {"user": service.user, "at": datetime.now(UTC).isoformat(timespec="seconds")},
    )
    log.info("store: user '%s' created in %s", service.user, service.data_dir)


def server_command(service: StoreService) -> list[str]:
    """secantusd with authentication on the stack's address (no password in it)."""
    return [
        *local_server.server_command(),
        *("--host", service.host, "--port", str(service.port), "--auth", "--sync-on-commit"),
        *("--storage-path", str(service.data_dir / local_server.DATA_SUBDIR)),
        *("--cache-size", service.cache_size),
    ]


def serve(service: StoreService, password: str) -> NoReturn:
    """Provision on first start, then become the authenticated server."""
    if not password:
        raise LocalServerError("the store's password is empty: set QRAPTOR_STORE_PASSWORD")
    service.data_dir.mkdir(parents=True, exist_ok=True)
    if not provisioned(service.data_dir):
        provision(service, password)
    command = server_command(service)
    log.info(
        "store: serving %s on %s:%d with authentication",
        service.data_dir,
        service.host,
        service.port,
    )
    os.execv(command[0], command)
