"""A real SecantusDB server for the session-store tests (no fakes: pymongo over a socket).

One server for the whole test session, in a temporary data folder on a free port, started
and stopped (SIGTERM) by qraptor's own local-server code; each test gets its own database
on it. Tests that restart or re-configure a server start their own, on their own folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qraptor.sessions import SessionStore, StoreConfig, load_store_config, local_server
from qraptor.sessions.uri import URI_ENV

# Short leases and a short backoff budget, so expiry and reconnects happen within seconds.
FAST = (
    "lease_seconds=1.5",
    "heartbeat_seconds=0.5",
    "server_selection_timeout_seconds=2",
    "retry.initial_delay_seconds=0.1",
    "retry.max_delay_seconds=1",
    "retry.total_seconds=30",
    "keep_checkpoints=2",
    "max_attempts=3",
    "claim_batch=8",
)


@dataclass(frozen=True)
class Server:
    state: local_server.ServerState
    data_dir: Path

    @property
    def uri(self) -> str:
        return self.state.uri


def store_config(*overrides: str) -> StoreConfig:
    """conf/store/default.yaml with the FAST settings and `overrides` on top."""
    return load_store_config([*FAST, *overrides])


@pytest.fixture(autouse=True)
def _no_uri_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(URI_ENV, raising=False)


@pytest.fixture(scope="session")
def mongo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("secantus")
    cfg = store_config()
    state = local_server.start_server(cfg.local, data_dir)
    try:
        yield Server(state, data_dir)
    finally:
        local_server.stop_server(data_dir, timeout=cfg.local.stop_timeout_seconds)


@pytest.fixture
def database_name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def store(mongo_server: Server, database_name: str) -> Iterator[SessionStore]:
    with SessionStore(mongo_server.uri, database_name, store_config()) as opened:
        yield opened
        opened._conn.client.drop_database(database_name)


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for worker processes: this checkout's conf/ and src/."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["QRAPTOR_CONF_DIR"] = str(root / "conf")
    env.pop(URI_ENV, None)
    return env


@pytest.fixture
def make_config():
    """`make_config("lease_seconds=10", ...)`: the FAST store config with overrides."""
    return store_config


@pytest.fixture
def open_store(mongo_server: Server, database_name: str):
    """`open_store("max_attempts=2", ...)`: a store on this test's database with overrides."""
    opened: list[SessionStore] = []

    def factory(*overrides: str) -> SessionStore:
        store = SessionStore(mongo_server.uri, database_name, store_config(*overrides))
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store._conn.client.drop_database(database_name)
        store.close()
