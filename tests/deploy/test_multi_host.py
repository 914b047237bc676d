"""Workers on several hosts: three worker hosts and the store's host as network namespaces,
each worker host linked to the store's by its own veth pair. Mid-training one worker host's
link is cut: its lease expires, a worker on another host resumes the session from its last
checkpoint, and when the link comes back the cut worker's late writes are refused by the
claim fences. Each session ends with one set of results, one finished MLflow run and one
registered version; attempts counts the retry; worker ids are unique across the hosts.

Needs root (ip netns); skipped where namespaces cannot be made, with the reason.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_fencing import assert_one_training, stored_state
from worker_processes import INTERRUPTIBLE, wait_for

from qraptor.store import SessionStore, Status
from qraptor.store.local_server import server_command
from qraptor.worker.submit import enqueue, request_from_overrides

pytestmark = pytest.mark.timeout(900)
LEASE = ("lease_seconds=4", "heartbeat_seconds=1")
WORKER_HOSTS = 3
SUBNET = "10.231"  # 10.231.<host>.1 on the worker host, .2 on the store's side


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def hosts() -> Iterator[dict]:
    """Namespaces: <tag>-store and <tag>-w1..w3, plus a link from this (root) namespace to
    the store's, the researcher's machine; all removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    tag = f"q{secrets.token_hex(2)}"
    store_ns = f"{tag}-store"
    made: list[str] = []
    links: dict[int, str] = {}
    try:
        probe = _ip("netns", "add", store_ns, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot make network namespaces here: {probe.stderr.strip()}")
        made.append(store_ns)
        _ip("-n", store_ns, "link", "set", "lo", "up")
        for host in range(WORKER_HOSTS + 1):  # 0: this namespace (the submitter)
            outer, inner = f"{tag}h{host}", f"{tag}s{host}"
            ns = None if host == 0 else f"{tag}-w{host}"
            if ns:
                _ip("netns", "add", ns)
                made.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            _ip("link", "set", inner, "netns", store_ns)
            if ns:
                _ip("link", "set", outer, "netns", ns)
            prefix = ["-n", ns] if ns else []
            _ip(*prefix, "addr", "add", f"{SUBNET}.{host}.1/24", "dev", outer)
            _ip(*prefix, "link", "set", outer, "up")
            _ip("-n", store_ns, "addr", "add", f"{SUBNET}.{host}.2/24", "dev", inner)
            _ip("-n", store_ns, "link", "set", inner, "up")
            links[host] = inner
        yield {"store": store_ns, "workers": [f"{tag}-w{h}" for h in range(1, 4)], "links": links}
    finally:
        for ns in made:
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", f"{tag}h0", check=False)


@pytest.fixture(scope="module")
def remote_store(hosts, tmp_path_factory) -> Iterator[str]:
    """A SecantusDB server on the store's host, listening on all its links."""
    data = tmp_path_factory.mktemp("remote-store")
    command = [
        "ip", "netns", "exec", hosts["store"], *server_command(), "--host", "0.0.0.0",
        "--port", "27017", "--storage-path", str(data / "data"), "--sync-on-commit",
        "--cache-size", "128M",
    ]  # fmt: skip
    log = (data / "server.log").open("w")
    server = subprocess.Popen(command, stdout=log, stderr=log)
    uri = f"mongodb://{SUBNET}.0.2:27017/?directConnection=true"
    from pymongo import MongoClient

    deadline = time.monotonic() + 60
    while True:
        try:
            with MongoClient(uri, serverSelectionTimeoutMS=500) as client:
                client.admin.command("ping")
            break
        except Exception:
            assert server.poll() is None, (data / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the store on its host did not start"
            time.sleep(0.3)
    yield uri
    server.terminate()
    server.wait(30)


def _spawn(ns: str, host: int, env: dict, tmp_path: Path, database: str) -> subprocess.Popen:
    """`qraptor worker` on worker host `host` (default worker id: host:pid:random)."""
    log_path = tmp_path / f"host{host}.log"
    log = log_path.open("w")
    uri = f"mongodb://{SUBNET}.{host}.2:27017/?directConnection=true"
    command = [
        "ip", "netns", "exec", ns, sys.executable, "-m", "qraptor.cli.main", "worker",
        "--idle-exit", "25", f"uri={uri}", f"database={database}", *LEASE,
        "retry.total_seconds=600", f"worker.work_dir={tmp_path}",
    ]  # fmt: skip
    proc = subprocess.Popen(command, env={**env, "COLUMNS": "200"}, stdout=log, stderr=log)
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def test_a_cut_host_loses_its_session_to_another_and_its_late_writes_are_refused(
    hosts, remote_store, make_config, subprocess_env, tiny_dataset, tmp_path
):
    database = f"mh_{secrets.token_hex(4)}"
    cfg = make_config(f"uri={remote_store}", f"database={database}", *LEASE)
    store = SessionStore.from_config(cfg)
    base = [*INTERRUPTIBLE, "session.total_timesteps=24576", f"session.dataset={tiny_dataset}"]
    requests = [request_from_overrides([*base, f"session.seed={s}"]) for s in range(3)]
    ids = enqueue(store, requests)
    first = _spawn(hosts["workers"][0], 1, subprocess_env, tmp_path, database)
    workers = [first]
    cut_link = hosts["links"][1]
    try:
        # host 1 claims first (the others start once it has), then trains past a checkpoint
        def on_host1(with_checkpoint: bool) -> str | None:
            for sid in ids:
                doc = store.get(sid)
                mine = str(doc.get("worker_id") or "").split(":")[1:2] == [str(first.pid)]
                ready = doc.get("checkpoints") or not with_checkpoint
                if mine and doc["status"] == "running" and ready:
                    return sid
            return None

        wait_for(lambda: on_host1(False), 120, "host 1 to claim a session")
        workers += [
            _spawn(ns, host, subprocess_env, tmp_path, database)
            for host, ns in enumerate(hosts["workers"][1:], start=2)
        ]
        wait_for(lambda: on_host1(True), 240, "host 1 to checkpoint its session")
        victim = on_host1(True)
        assert victim is not None
        cut_worker_id = store.get(victim)["worker_id"]
        _ip("-n", hosts["store"], "link", "set", cut_link, "down")  # host 1 drops off

        def all_finished() -> bool:
            docs = [store.get(sid) for sid in ids]
            return all(
                d["status"] == Status.SUCCEEDED and not d.get("mlflow_run_open") for d in docs
            )

        wait_for(all_finished, 300, "the other hosts to finish every session, the cut one's too")
        time.sleep(1.0)
        done = {sid: stored_state(store, sid) for sid in ids}
        _ip("-n", hosts["store"], "link", "set", cut_link, "up")  # host 1 comes back
        assert workers[0].wait(timeout=300) == 0, workers[0].log_path.read_text()[-3000:]
        for proc in workers[1:]:
            assert proc.wait(timeout=120) == 0, proc.log_path.read_text()[-3000:]

        after = {sid: stored_state(store, sid) for sid in ids}
        changed = {
            (sid, key) for sid in ids for key in after[sid] if after[sid][key] != done[sid][key]
        }
        assert not changed  # the cut worker's late writes changed nothing anywhere
        doc = after[victim]["document"]
        assert doc["attempts"] == 2 and doc["worker_id"] != cut_worker_id
        assert doc["metrics"]["resumed_from_timesteps"] > 0  # from the cut host's checkpoint
        for sid in ids:
            assert after[sid]["document"]["status"] == Status.SUCCEEDED
            assert after[sid]["run_status"] == "FINISHED"
            assert_one_training(store, sid, tmp_path / sid)
        log = workers[0].log_path.read_text()
        assert "Traceback" not in log
        ids_seen = {after[sid]["document"]["worker_id"] for sid in ids} | {cut_worker_id}
        assert len(ids_seen) == len({i.split(":", 1)[1] for i in ids_seen})  # unique ids
    finally:
        _ip("-n", hosts["store"], "link", "set", cut_link, "up", check=False)
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(60)
        store._conn.client.drop_database(database)
        store.close()
