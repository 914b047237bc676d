"""Worker processes on a real server with real (tiny) training: racing workers, kill -9,
SIGTERM and a database restart lose no session and train none twice."""

from __future__ import annotations

import signal
import time

import pandas as pd
from worker_processes import (
    INTERRUPTIBLE,
    TINY,
    in_process_config,
    model_files,
    spawn_worker,
    wait_for,
)

from qraptor.store import FileKind, SessionStore, Status, local_server
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker


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
    # validation: the rows up to the checkpoint came with it (the rescuer started there),
    # the rest were made once; none lost, none twice
    csv = store.download_file(sid, FileKind.VALIDATION, tmp_path / "validation")
    steps = [int(t) for t in pd.read_csv(csv)["timesteps"]]
    assert steps == [512 * k for k in range(1, 33)]
    assert metrics["selected"]["validation"]["evaluations"] == 32


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
