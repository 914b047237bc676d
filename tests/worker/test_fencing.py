"""Issue 12 with real processes: a stale worker (same id, stopped past its lease) writes
nothing anywhere; the lease covers setup; a kill after training loses no work and leaves
one training's record; what dead workers leave is cleaned up. Assertions are on stored
state (session documents, GridFS, MLflow), never on log wording."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from worker_processes import INTERRUPTIBLE, TINY, in_process_config, spawn_worker, wait_for

from qraptor.store import SessionStore, Status
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker

CLAIMER = Path(__file__).resolve().parents[1] / "store" / "claimer.py"


def mlflow_client() -> MlflowClient:
    """The tests' MLflow store (conftest), its registry included: an in-process worker of an
    earlier test may have pointed MLflow's global registry URI elsewhere."""
    uri = os.environ["QRAPTOR_MLFLOW_URI"]
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def stored_state(store: SessionStore, sid: str) -> dict:
    """Everything a worker could have written about `sid`: document, GridFS, MLflow."""
    doc = store.get(sid)
    client = mlflow_client()
    run_id = doc["mlflow_run_id"]
    run = client.get_run(run_id)
    histories = {key: len(client.get_metric_history(run_id, key)) for key in run.data.metrics}
    return {
        "document": doc,
        "files": sorted(str(d["_id"]) for d in store._conn.files_collection.find({}, {"_id": 1})),
        "chunks": store._conn.chunks_collection.count_documents({}),
        "run_status": run.info.status,
        "run_tags": run.data.tags,
        "metric_points": histories,
        "versions": sorted(v.version for v in client.search_model_versions(f"run_id='{run_id}'")),
    }


def assert_one_training(store: SessionStore, sid: str, tmp_path: Path) -> None:
    """The document's metrics, the GridFS metrics.json and MLflow agree on every split's
    result, and the run holds one registered version."""
    doc = store.get(sid)
    stored = json.loads(store.download_file(sid, "metrics", tmp_path / "metrics.json").read_text())
    objective = doc["metrics"]["objective"]
    assert stored["objective"] == pytest.approx(objective)
    client = mlflow_client()
    run_id = doc["mlflow_run_id"]
    values = {round(m.value, 12) for m in client.get_metric_history(run_id, "objective")}
    assert values == {round(objective, 12)}  # every logged objective is this training's
    for split, result in doc["metrics"]["splits"].items():
        logged = client.get_run(run_id).data.metrics[f"{split}/agent/sharpe"]
        assert logged == pytest.approx(result["agent"]["sharpe"])
    assert len(client.search_model_versions(f"run_id='{run_id}'")) == 1
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_stale_twin_with_the_same_worker_id_writes_nothing(
    open_store, mongo_server, subprocess_env, submit, tmp_path
):
    lease = ("lease_seconds=3", "heartbeat_seconds=0.5")
    store = open_store(*lease)
    (sid,) = submit(store, *INTERRUPTIBLE[len(TINY) :], "session.total_timesteps=24576")
    stale = spawn_worker(
        subprocess_env, tmp_path, mongo_server.uri, store.database, "twin", "--once", *lease
    )
    try:
        wait_for(lambda: store.get(sid)["checkpoints"], 120, "the first checkpoint")
        stale.send_signal(signal.SIGSTOP)  # frozen mid-training, past its lease
        time.sleep(3.5)
        # The same id, as with containers sharing a hostname and pid: only the claim differs.
        twin = spawn_worker(
            subprocess_env, tmp_path, mongo_server.uri, store.database, "twin", "--once", *lease
        )
        assert twin.wait(timeout=300) == 0, twin.log_path.read_text()[-3000:]
        done = stored_state(store, sid)
        assert done["document"]["status"] == Status.SUCCEEDED
        assert done["document"]["attempts"] == 2 and done["run_status"] == "FINISHED"
    finally:
        stale.send_signal(signal.SIGCONT)
    assert stale.wait(timeout=120) == 0, stale.log_path.read_text()[-3000:]
    after = stored_state(store, sid)
    assert after == done  # not a heartbeat, file, metric point, tag, version or run end
    assert_one_training(store, sid, tmp_path)


def test_the_lease_covers_a_setup_longer_than_the_lease(
    open_store, mongo_server, subprocess_env, submit, tmp_path
):
    # A fresh MLflow store (created, migrated) makes opening the run take seconds: far
    # longer than this lease. A second worker polls all along and must find nothing due.
    lease = ("lease_seconds=1.2", "heartbeat_seconds=0.4")
    store = open_store(*lease)
    (sid,) = submit(store)
    env = {**subprocess_env, "QRAPTOR_MLFLOW_URI": f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"}
    owner = spawn_worker(env, tmp_path, mongo_server.uri, store.database, "a", "--once", *lease)
    wait_for(lambda: store.get(sid)["status"] == Status.RUNNING, 60, "the claim")
    rival = spawn_worker(
        env, tmp_path, mongo_server.uri, store.database, "b", "--idle-exit", "20", "--poll",
        "0.2", *lease,
    )  # fmt: skip
    assert owner.wait(timeout=300) == 0, owner.log_path.read_text()[-3000:]
    assert rival.wait(timeout=60) == 0, rival.log_path.read_text()[-3000:]
    doc = store.get(sid)
    assert doc["status"] == Status.SUCCEEDED and doc["attempts"] == 1
    assert doc["errors"] == [] and doc["worker_id"] == "a"
    timings = doc["metrics"]["timings"]
    setup = timings["setup_seconds"] + timings["tracking_open_seconds"]
    assert setup > 1.2  # the setup really outlasted the lease


def test_a_kill_after_training_resumes_at_the_end_with_one_training_stored(
    open_store, make_config, mongo_server, subprocess_env, submit, tmp_path
):
    lease = ("lease_seconds=2", "heartbeat_seconds=0.5")
    store = open_store(*lease)
    (sid,) = submit(store, "session.total_timesteps=2048")
    doomed = spawn_worker(
        subprocess_env, tmp_path, mongo_server.uri, store.database, "doomed", "--once", *lease
    )
    client = mlflow_client()
    try:  # killed once its evaluation reached MLflow: results logged, session not completed
        wait_for(lambda: store.get(sid).get("mlflow_run_id"), 120, "the MLflow run")
        run_id = store.get(sid)["mlflow_run_id"]
        wait_for(lambda: "objective" in client.get_run(run_id).data.metrics, 120, "results")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    before = store.get(sid)
    assert before["status"] == Status.RUNNING and before["metrics"] is None
    final = before["checkpoints"][-1]["timesteps"]
    assert final >= 2048  # the trained model was checkpointed before evaluation

    rescuer = in_process_config(make_config, mongo_server.uri, store)
    worker_cfg = load_worker_config()
    assert run_worker(rescuer, max_sessions=1, idle_exit=30, poll_seconds=0.2,
                      worker_cfg=worker_cfg) == 1  # fmt: skip
    doc = store.get(sid)
    assert doc["status"] == Status.SUCCEEDED and doc["attempts"] == 2
    assert doc["metrics"]["resumed_from_timesteps"] == final
    assert doc["metrics"]["timesteps_trained"] == 0  # only evaluation and uploads redone
    assert doc["mlflow_run_id"] == run_id
    assert_one_training(store, sid, tmp_path)


def test_leftovers_of_dead_workers_are_cleaned_up(
    open_store, make_config, mongo_server, subprocess_env, submit, tmp_path
):
    lease = ("lease_seconds=1.5", "heartbeat_seconds=0.5")
    store = open_store(*lease, "max_attempts=1")
    # 1. killed between upload and link: an unlinked model and a half-written upload
    store.submit({"algo": "ppo"}, priority=9)
    blob = tmp_path / "model.zip"
    blob.write_bytes(os.urandom(50_000))
    killed = subprocess.run(
        [sys.executable, str(CLAIMER), "orphan", mongo_server.uri, store.database, "up", blob],
        env=subprocess_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert store._conn.files_collection.count_documents({}) == 1  # the unlinked one
    stray = store._conn.chunks_collection.count_documents({}) - 1  # its chunk aside
    assert stray >= 4
    # 2. a session killed on its last attempt, 3. one cancelled after its worker died
    last, cancelled = submit(store, *INTERRUPTIBLE[len(TINY) :], seeds=range(2))
    for sid in (last, cancelled):
        doomed = spawn_worker(
            subprocess_env, tmp_path, mongo_server.uri, store.database, f"doomed-{sid}",
            "--once", *lease,
        )  # fmt: skip
        try:
            wait_for(lambda s=sid: store.get(s)["checkpoints"], 120, "the first checkpoint")
            wait_for(lambda s=sid: store.get(s).get("mlflow_run_open"), 30, "the MLflow run")
        finally:
            doomed.send_signal(signal.SIGKILL)
            doomed.wait()
    store.cancel(cancelled)
    time.sleep(2.0)  # the leases lapse; the leftovers get older than the minimum age
    survivors = {d["_id"] for d in store._conn.files_collection.find({}, {"_id": 1})}

    sweeper = in_process_config(make_config, mongo_server.uri, store)
    worker_cfg = load_worker_config(
        ["housekeeping_every_seconds=0.3", "housekeeping_min_age_seconds=1"]
    )
    run_worker(sweeper, idle_exit=2, poll_seconds=0.2, worker_cfg=worker_cfg)
    client = mlflow_client()
    ran = {sid: store.get(sid) for sid in (last, cancelled)}
    assert ran[last]["status"] == Status.FAILED and "gave up" in ran[last]["error"]
    assert client.get_run(ran[last]["mlflow_run_id"]).info.status == "FAILED"
    assert client.get_run(ran[cancelled]["mlflow_run_id"]).info.status == "KILLED"
    assert not ran[last]["mlflow_run_open"] and not ran[cancelled]["mlflow_run_open"]
    docs = store.list(limit=10)
    linked = {f["file_id"] for d in docs for f in d["checkpoints"] + d["files"]}
    remaining = {d["_id"] for d in store._conn.files_collection.find({}, {"_id": 1})}
    assert remaining == linked and linked <= survivors  # the orphan went, checkpoints stayed
    chunk_owners = set(store._conn.chunks_collection.distinct("files_id"))
    assert chunk_owners == linked  # no stray chunks left
