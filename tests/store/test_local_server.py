"""`qraptor db start|status|stop` on a real SecantusDB process and data folder."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from pymongo import MongoClient

from qraptor.cli.db import db_start, db_status, db_stop
from qraptor.store import LocalServerError, local_server, resolve_uri
from qraptor.store.uri import URI_ENV


def _wait_dead(pid: int) -> None:
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        local_server._reap(pid)
        time.sleep(0.05)


def test_start_reuse_survive_kill_and_stop(make_config, tmp_path: Path):
    cfg = make_config(f"local.dir={tmp_path / 'db'}")
    data_dir = tmp_path / "db"
    try:
        assert db_status(cfg) == (
            f"local MongoDB server: stopped (data folder {data_dir}, 0.0 MB)\n"
            "  start it with `qraptor db start`", False,
        )  # fmt: skip

        started = db_start(cfg)
        state = local_server.running_server(data_dir)
        assert "started" in started and state.uri in started
        assert "already running" in db_start(cfg) and local_server.running_server(data_dir) == state
        with MongoClient(state.uri) as client:
            client.qraptor.probe.insert_one({"_id": "kept"})
        status, answering = db_status(cfg)
        assert (
            answering
            and "running" in status
            and f"pid {state.pid}" in status
            and "sessions in" in status
        )
        with pytest.raises(LocalServerError, match="already runs"):  # one server per data folder
            local_server.start_server(cfg.local, data_dir)

        os.kill(state.pid, signal.SIGKILL)  # crash: a stale server.json is left behind
        _wait_dead(state.pid)
        assert "stopped" in db_status(cfg)[0]
        uri = resolve_uri(cfg)  # starts it again: same port, data intact
        again = local_server.running_server(data_dir)
        assert uri == state.uri and again.pid != state.pid
        with MongoClient(uri) as client:
            assert client.qraptor.probe.find_one({"_id": "kept"}) is not None

        assert f"pid {again.pid}" in db_stop(cfg)
        assert not (data_dir / local_server.STATE_FILE).exists()
        assert "no local MongoDB server" in db_stop(cfg)
        assert (data_dir / "data").is_dir()  # the data stays
        assert "*" in (data_dir / ".gitignore").read_text().splitlines()  # ... out of git
    finally:
        local_server.stop_server(data_dir, timeout=20)  # never leave a server behind


def test_configured_uri_is_not_managed(make_config, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(URI_ENV, "mongodb://alice:s3cret@127.0.0.1:1/")
    cfg = make_config("server_selection_timeout_seconds=0.3")
    for text in (db_start(cfg), db_stop(cfg), db_status(cfg)[0]):
        assert "alice:***@127.0.0.1:1" in text and "s3cret" not in text
    text, answering = db_status(cfg)
    assert "not answering" in text and not answering


def test_a_server_that_cannot_start_is_explained(make_config, tmp_path: Path, mongo_server):
    # A second server on a folder another server holds exits (WiredTiger lock).
    busy = make_config(f"local.dir={mongo_server.data_dir}").local
    with pytest.raises(LocalServerError, match="could not start"):
        local_server._start(busy, mongo_server.data_dir)
    assert local_server.running_server(mongo_server.data_dir).pid == mongo_server.state.pid
