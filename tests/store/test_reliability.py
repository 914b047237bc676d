"""Reliability over a real socket: racing worker processes, kill -9, a database restart,
a database that is down, and passwords that must never leak."""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from bson import BSON

from qraptor.store import SessionStore, Status, StoreError, StoreUnavailable, local_server
from qraptor.store.retry import outages_ridden_out

CLAIMER = str(Path(__file__).with_name("claimer.py"))


def _spawn(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, CLAIMER, *args], env=env, stdout=subprocess.PIPE, text=True
    )


def test_two_worker_processes_claim_each_session_exactly_once(
    store: SessionStore, mongo_server, subprocess_env
):
    ids = {store.submit({"n": i}, priority=i % 3) for i in range(50)}
    workers = [
        _spawn(subprocess_env, "drain", mongo_server.uri, store.database, f"w{i}", "0.02")
        for i in (1, 2)
    ]
    results = []
    for proc in workers:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    claimed = [sid for r in results for sid in r["claimed"]]
    assert sorted(claimed) == sorted(ids)  # all of them, none twice
    assert all(r["claimed"] for r in results)  # both workers took part
    docs = store.list(limit=100)
    assert {d["status"] for d in docs} == {Status.SUCCEEDED}
    assert {d["attempts"] for d in docs} == {1}
    by_worker = {d["_id"]: d["metrics"]["worker"] for d in docs}
    assert all(by_worker[sid] == r["worker"] for r in results for sid in r["claimed"])
    latencies = [x for r in results for x in r["latencies"]]
    print(
        f"\n2 claimers, 50 sessions: {len(claimed) / max(r['wall'] for r in results):.0f} "
        f"sessions/s (20 ms 'training' each), claim latency median "
        f"{statistics.median(latencies) * 1e3:.1f} ms, max {max(latencies) * 1e3:.1f} ms"
    )


def test_killed_worker_session_is_reclaimed_from_its_checkpoint(
    store: SessionStore, mongo_server, subprocess_env, tmp_path: Path
):
    sid = store.submit({"algo": "ppo"})
    checkpoint = tmp_path / "ck.zip"
    checkpoint.write_bytes(os.urandom(200_000))
    holder = _spawn(
        subprocess_env, "hold", mongo_server.uri, store.database, "doomed", str(checkpoint)
    )
    try:
        line = holder.stdout.readline()
        assert line.strip() == f"HOLDING {sid}"
        assert store.claim("rescuer") is None  # the holder keeps its lease alive
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + store.cfg.lease_seconds + 5
    session = None
    while session is None and time.monotonic() < deadline:
        time.sleep(0.2)
        session = store.claim("rescuer")
    assert session is not None and session.id == sid
    assert session.attempts == 2 and session.resumes and session.checkpoint.timesteps == 123
    path, steps = store.latest_checkpoint(sid, dest_dir=tmp_path / "resume")
    assert steps == 123 and path.read_bytes() == checkpoint.read_bytes()
    store.complete(session.claim, {"sharpe": 1.0})
    doc = store.get(sid)
    assert doc["status"] == Status.SUCCEEDED and doc["attempts"] == 2
    assert [e["worker_id"] for e in doc["errors"]] == ["doomed"]
    assert store.counts() == {**dict.fromkeys(s.value for s in Status), **store.counts()}
    assert store.counts()["succeeded"] == 1 and store.counts()["running"] == 0


def test_exhausted_attempts_fail_the_session_with_the_error_stored(open_store):
    store = open_store("max_attempts=2", "lease_seconds=0.9", "heartbeat_seconds=0.3")
    sid = store.submit({})
    first = store.claim("w1")
    store.fail(
        first.claim, "Traceback (most recent call last):\nRuntimeError: NaN loss", retry=True
    )
    store.claim("w2")  # ... and this worker dies silently
    time.sleep(1.1)
    assert store.claim("w3") is None
    doc = store.get(sid)
    assert doc["status"] == Status.FAILED and doc["attempts"] == 2
    assert "gave up after 2 attempts" in doc["error"] and "RuntimeError: NaN loss" in doc["error"]
    assert [e["worker_id"] for e in doc["errors"]] == ["w1", "w2"]


def test_database_restart_while_a_worker_heartbeats(make_config, tmp_path: Path):
    # Server selection gives up after 0.5 s, well within the outage: the store's own
    # backoff has to carry the worker through.
    fast = ("lease_seconds=30", "heartbeat_seconds=1", "server_selection_timeout_seconds=0.5")
    cfg = make_config(*fast)
    data_dir = tmp_path / "db"
    state = local_server.start_server(cfg.local, data_dir)
    beats: list[float] = []
    errors: list[BaseException] = []
    stop = threading.Event()
    try:
        store = SessionStore(state.uri, "restart", cfg)
        sid = store.submit({})
        claim = store.claim("w1").claim

        def heartbeat_loop() -> None:
            step = 0
            while not stop.is_set():
                try:
                    step += 1
                    store.heartbeat(claim, {"timesteps": step})
                    beats.append(time.monotonic())
                except BaseException as exc:
                    errors.append(exc)
                    return
                time.sleep(0.1)

        outages_before = outages_ridden_out()
        worker = threading.Thread(target=heartbeat_loop)
        worker.start()
        time.sleep(0.5)
        local_server.stop_server(data_dir, timeout=20)  # SIGTERM
        time.sleep(1.0)
        restart_cfg = make_config(*fast, f"local.port={state.port}")
        local_server.start_server(restart_cfg.local, data_dir)
        up = time.monotonic()
        while time.monotonic() < up + 20 and not errors and sum(b > up for b in beats) < 5:
            time.sleep(0.1)
        stop.set()
        worker.join(30)
        assert errors == []
        assert sum(b > up for b in beats) >= 5  # it carried on
        gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
        assert max(gaps) > 0.5  # ... after waiting while the database was down
        doc = store.get(sid)
        assert doc["status"] == Status.RUNNING and doc["progress"]["timesteps"] >= len(beats)
        assert outages_ridden_out() > outages_before  # by the store's counter, not its log
        store.close()
    finally:
        stop.set()
        local_server.stop_server(data_dir, timeout=20)


def test_database_down_at_start_is_a_clear_error(make_config):
    port = local_server.free_port("127.0.0.1")
    cfg = make_config("server_selection_timeout_seconds=1")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as info:
        SessionStore(f"mongodb://alice:s3cret-pw@127.0.0.1:{port}/", "x", cfg)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert f"mongodb://alice:***@127.0.0.1:{port}/" in message and "s3cret" not in message
    assert "not reachable" in message and "Traceback" not in message


@pytest.fixture
def auth_server(tmp_path: Path, make_config):
    """A SecantusDB server with --auth and a user 'alice' (password 's3cret-pw')."""
    cfg = make_config()
    data_dir = tmp_path / "authdb"
    state = local_server.start_server(cfg.local, data_dir)
    from pymongo import MongoClient

    with MongoClient(state.uri) as client:
        client.admin.command("createUser", "alice", pwd="s3cret-pw", roles=["root"])
    local_server.stop_server(data_dir, timeout=20)
    cmd = [
        *local_server.server_command(), "--auth", "--host", "127.0.0.1",
        "--port", str(state.port), "--storage-path", str(data_dir / "data"),
    ]  # fmt: skip
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not local_server._responds(state.uri, timeout=0.3):
            assert server.poll() is None, "auth server exited"
            time.sleep(0.1)
        yield state.port
    finally:
        server.terminate()
        server.wait(20)


def test_password_never_printed_nor_stored(auth_server: int, make_config, tmp_path, caplog):
    secret = "s3cret-pw"
    uri = f"mongodb://alice:{secret}@127.0.0.1:{auth_server}/?authSource=admin"
    caplog.set_level(logging.DEBUG)
    cfg = make_config(f"uri={uri}")
    with pytest.raises(StoreError) as wrong:
        SessionStore(uri.replace(secret, "wrong-pw"), "q", cfg)
    assert "refused" in str(wrong.value) and "wrong-pw" not in str(wrong.value)
    store = SessionStore(uri, "q", cfg)
    assert secret not in store.uri
    sid = store.submit({"store": {"uri": uri}}, overrides=[f"store.uri={uri}"], tags=["t"])
    claim = store.claim("w1").claim
    model = tmp_path / "model.zip"
    model.write_bytes(b"weights")
    store.attach_file(sid, "model", model, claim=claim)
    store.complete(claim, {"sharpe": 1.0})
    stored = b"".join(
        BSON.encode(doc)
        for name in store._conn.db.list_collection_names()
        for doc in store._conn.db[name].find()
    )
    assert secret.encode() not in stored and b"alice:***@" in stored
    assert not any(secret in record.getMessage() for record in caplog.records)
    store.close()
