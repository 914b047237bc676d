"""Worker processes on a real server with real (tiny) training: racing workers, kill -9,
SIGTERM and a database restart lose no session and train none twice."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from qraptor.store import SessionStore, Status, local_server
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker
from qraptor.worker.submit import enqueue, request_from_overrides

# The smallest session that still trains, evaluates and stores a model (~0.3 s of work).
TINY = (
    "session.total_timesteps=64",
    "session.n_envs=4",
    "session.checkpoint_every=1000000",
    "session.eval.splits=[test]",
    "session.objective=test.sharpe",
    "session.eval.random_runs=1",
    "env.window=8",
    "env.episode.length=32",
    "algo.n_steps=16",
    "algo.batch_size=32",
    "algo.n_epochs=1",
)
# Long enough (a few seconds) to be interrupted after its first checkpoint.
INTERRUPTIBLE = (*TINY, "session.total_timesteps=16384", "session.checkpoint_every=1024")


@pytest.fixture(scope="module")
def dataset(tiny_dataset: Path) -> Path:
    return tiny_dataset


@pytest.fixture
def submit(dataset) -> Callable[..., list[str]]:
    """submit(store, *overrides, seeds=range(1)) -> ids: tiny sessions, composed once."""

    def queue(store: SessionStore, *overrides: str, seeds=range(1)) -> list[str]:
        base = request_from_overrides([*TINY, f"session.dataset={dataset}", *overrides])
        requests = [
            dataclasses.replace(
                base, config={**base.config, "session": {**base.config["session"], "seed": s}}
            )
            for s in seeds
        ]
        return enqueue(store, requests)

    return queue


def spawn_worker(env, tmp_path: Path, uri: str, database: str, name: str, *args: str):
    """`qraptor worker` as a process; its log goes to <tmp>/<name>.log."""
    log = (tmp_path / f"{name}.log").open("w")
    cmd = [
        sys.executable, "-m", "qraptor.cli.main", "worker", "--worker-id", name, *args,
        f"uri={uri}", f"database={database}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**env, "COLUMNS": "200"}, stdout=log, stderr=log)
    proc.log_path = tmp_path / f"{name}.log"  # type: ignore[attr-defined]
    return proc


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def in_process_config(make_config, uri: str, store: SessionStore):
    """The store config of `store`'s database, for a worker in this process."""
    overrides = [f"lease_seconds={store.cfg.lease_seconds}"]
    overrides.append(f"heartbeat_seconds={store.cfg.heartbeat_seconds}")
    return make_config(f"uri={uri}", f"database={store.database}", *overrides)


def model_files(store: SessionStore) -> int:
    return store._conn.files_collection.count_documents({"metadata.kind": "model"})


def test_two_worker_processes_train_each_of_50_sessions_exactly_once(
    open_store, mongo_server, subprocess_env, submit, tmp_path
):
    store = open_store("lease_seconds=20", "heartbeat_seconds=2")
    ids = submit(store, seeds=range(50))
    fast = ("--idle-exit", "3", "--poll", "0.2", "lease_seconds=20", "heartbeat_seconds=2")
    # a fresh MLflow store, as on a new project: both workers create it at once (they once
    # raced through its migrations)
    env = {**subprocess_env, "QRAPTOR_MLFLOW_URI": f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"}
    workers = [
        spawn_worker(env, tmp_path, mongo_server.uri, store.database, name, *fast)
        for name in ("w1", "w2")
    ]
    for proc in workers:
        assert proc.wait(timeout=300) == 0, proc.log_path.read_text()[-3000:]
    docs = store.list(limit=100)
    assert sorted(d["_id"] for d in docs) == sorted(ids)
    assert {d["status"] for d in docs} == {Status.SUCCEEDED}
    assert {d["attempts"] for d in docs} == {1}  # nobody trained a session twice
    assert all(sum(f["kind"] == "model" for f in d["files"]) == 1 for d in docs)
    assert model_files(store) == 50  # no second upload, even an unlinked one
    assert {d["worker_id"] for d in docs} == {"w1", "w2"}  # both took part
    print(
        "\n2 worker processes, 50 sessions: "
        + ", ".join(f"{w} {sum(d['worker_id'] == w for d in docs)}" for w in ("w1", "w2"))
    )


def test_killed_worker_session_resumes_from_its_checkpoint_elsewhere(
    open_store, make_config, mongo_server, subprocess_env, submit, tmp_path
):
    store = open_store("lease_seconds=2", "heartbeat_seconds=0.5")
    (sid,) = submit(store, *INTERRUPTIBLE[len(TINY) :])
    doomed = spawn_worker(
        subprocess_env, tmp_path, mongo_server.uri, store.database, "doomed",
        "--once", "lease_seconds=2", "heartbeat_seconds=0.5",
    )  # fmt: skip
    try:
        wait_for(lambda: store.get(sid)["checkpoints"], 120, "the first checkpoint")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    before = store.get(sid)
    assert before["status"] == Status.RUNNING and before["attempts"] == 1
    resumed_at = before["checkpoints"][-1]["timesteps"]
    assert 0 < resumed_at < 16384

    rescuer = in_process_config(make_config, mongo_server.uri, store)
    assert (
        run_worker(
            rescuer, max_sessions=1, idle_exit=30, poll_seconds=0.2, worker_cfg=load_worker_config()
        )
        == 1
    )
    doc = store.get(sid)
    assert doc["status"] == Status.SUCCEEDED and doc["attempts"] == 2
    assert [e["worker_id"] for e in doc["errors"]] == ["doomed"]
    assert "lost its lease" in doc["errors"][0]["error"]
    metrics = doc["metrics"]
    assert metrics["resumed_from_timesteps"] == resumed_at  # continued, not restarted
    assert metrics["timesteps"] >= 16384
    assert metrics["timesteps_trained"] == metrics["timesteps"] - resumed_at
    assert sum(f["kind"] == "model" for f in doc["files"]) == 1 and model_files(store) == 1


def test_sigterm_checkpoints_releases_and_exits_0(
    open_store, make_config, mongo_server, subprocess_env, submit, tmp_path
):
    store = open_store("lease_seconds=10", "heartbeat_seconds=1")
    (sid,) = submit(store, *INTERRUPTIBLE[len(TINY) :])
    worker = spawn_worker(
        subprocess_env, tmp_path, mongo_server.uri, store.database, "w-term", "--once"
    )
    try:
        wait_for(lambda: store.get(sid)["checkpoints"], 120, "the first checkpoint")
        first = store.get(sid)["checkpoints"][-1]["timesteps"]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, worker.log_path.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    doc = store.get(sid)
    assert doc["status"] == Status.QUEUED and doc["attempts"] == 0  # released, not counted
    assert doc["checkpoints"] and doc["checkpoints"][-1]["timesteps"] >= first
    assert doc["files"] == []  # no results from an interrupted run

    # Queued again with its checkpoint: the next worker continues from there.
    stopped_at = doc["checkpoints"][-1]["timesteps"]
    assert (
        run_worker(
            in_process_config(make_config, mongo_server.uri, store),
            once=True,
            worker_cfg=load_worker_config(),
        )
        == 1
    )
    done = store.get(sid)
    assert done["status"] == Status.SUCCEEDED and done["attempts"] == 1
    assert done["metrics"]["resumed_from_timesteps"] == stopped_at


def test_worker_rides_out_a_database_restart(make_config, subprocess_env, submit, tmp_path):
    fast = (
        "lease_seconds=30",
        "heartbeat_seconds=0.5",
        "server_selection_timeout_seconds=0.5",
        "retry.total_seconds=60",
    )
    cfg = make_config(*fast)
    data_dir = tmp_path / "db"
    state = local_server.start_server(cfg.local, data_dir)
    try:
        store = SessionStore(state.uri, "restart", cfg)
        (sid,) = submit(store, "session.total_timesteps=32768", "session.checkpoint_every=4096")
        worker = spawn_worker(
            subprocess_env, tmp_path, state.uri, "restart", "w-restart", "--once", *fast
        )
        wait_for(lambda: store.get(sid)["checkpoints"], 120, "the first checkpoint")
        local_server.stop_server(data_dir, timeout=20)  # SIGTERM, while the worker trains
        time.sleep(1.0)
        local_server.start_server(make_config(*fast, f"local.port={state.port}").local, data_dir)
        assert worker.wait(timeout=180) == 0, worker.log_path.read_text()[-3000:]
        doc = store.get(sid)
        assert doc["status"] == Status.SUCCEEDED and doc["attempts"] == 1  # never lost
        assert doc["metrics"]["timesteps"] >= 32768
        # it rode the outage out (not a lucky miss of the restart), by the stored counter
        assert doc["metrics"]["timings"]["database_outages_ridden_out"] >= 1
        store.close()
    finally:
        local_server.stop_server(data_dir, timeout=20)
