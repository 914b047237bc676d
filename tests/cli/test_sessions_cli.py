"""`qraptor sessions submit|list|show|cancel|retry|export` against a real server."""

from __future__ import annotations

import json

import pytest

from qraptor.cli.main import main
from qraptor.store import FileKind, SessionStore, Status
from qraptor.store.uri import URI_ENV


@pytest.fixture
def qraptor(store: SessionStore, mongo_server, monkeypatch, capsys):
    """qraptor("sessions", "list", ...) -> (exit code, stdout, stderr) on the test database."""
    monkeypatch.setenv(URI_ENV, mongo_server.uri)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([*args, f"store.database={store.database}"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def finished(store: SessionStore, name: str, *, val: float, test: float, tags=()) -> str:
    """A session run to completion by a stand-in worker, with the worker's metric layout."""
    sid = store.submit({"session": {"name": name, "total_timesteps": 1000}}, tags=tags)
    session = store.claim("w-cli")
    assert session.id == sid
    metrics = {
        "objective": val,
        "objective_metric": "val.sharpe",
        "timesteps": 1000,
        "resumed_from_timesteps": 0,
        "splits": {
            split: {
                "agent": {"sharpe": value, "total_return": 0.01, "max_drawdown": 0.02},
                "baselines": {"buy_and_hold": {"sharpe": 0.5, "total_return": 0.0}},
            }
            for split, value in (("val", val), ("test", test))
        },
        "timings": {"total_seconds": 1.0},
    }
    store.complete(session.claim, metrics)
    return sid


def test_submit_fails_on_a_bad_config_before_queueing(qraptor, store):
    code, _, err = qraptor("sessions", "submit", "session.n_envs=0")
    assert code == 2 and "session.n_envs" in err and "must be >= 1" in err
    code, _, err = qraptor("sessions", "submit", "+session.sed=1")
    assert code == 2 and "session.sed" in err
    assert "Traceback" not in err and sum(store.counts().values()) == 0


def test_submit_queues_a_validated_session(qraptor, store):
    code, out, err = qraptor(
        "sessions", "submit", "experiment=quick", "session.seed=5",
        "--priority", "3", "--tag", "a", "--tag", "b",
    )  # fmt: skip
    assert code == 0, err
    doc = store.get(out.strip())
    assert doc["status"] == Status.QUEUED and doc["priority"] == 3
    assert doc["tags"] == ["a", "b"] and doc["experiment"] == "quick"
    assert doc["overrides"] == ["experiment=quick", "session.seed=5"]  # store.* left out
    assert {"session", "algo", "env"} <= set(doc["config"]) and "store" not in doc["config"]
    assert doc["config"]["session"]["seed"] == 5 and doc["config"]["session"]["name"] == "quick"


def test_list_filters_and_shows_progress_and_sharpe(qraptor, store):
    done = finished(store, "alpha", val=1.25, test=-0.5, tags=["keep"])
    queued = store.submit({"session": {"name": "beta"}}, tags=["keep"])
    store.submit({"session": {"name": "gamma"}})
    code, out, _ = qraptor("sessions", "list")
    assert code == 0 and "3 sessions" in out
    assert done in out and queued in out
    code, out, _ = qraptor("sessions", "list", "--status", "succeeded", "--wide")  # a row a line
    assert "1 session " in out and done in out and queued not in out
    row = next(line for line in out.splitlines() if done in line)
    assert all(cell in row for cell in ("alpha", "succeeded", "1.25", "-0.5", "100% 1,000/1,000"))
    code, out, _ = qraptor("sessions", "list", "--tag", "keep", "--limit", "1")
    assert "1 session " in out and queued in out  # newest first
    code, _, err = qraptor("sessions", "list", "--status", "done")
    assert code == 2 and "unknown session status 'done'" in err


def test_show_prints_config_history_metrics_and_files(qraptor, store, tmp_path):
    sid = store.submit(
        {"session": {"name": "alpha", "seed": 7}, "algo": {"name": "ppo"}}, tags=["t1"]
    )
    first = store.claim("w-1").claim
    store.fail(first, "Traceback (most recent call last):\nRuntimeError: NaN loss", retry=True)
    second = store.claim("w-2").claim
    (tmp_path / "model.zip").write_bytes(b"m" * 2048)
    store.attach_file(sid, FileKind.MODEL, tmp_path / "model.zip", claim=second)
    store.complete(second, {"objective": 0.8, "objective_metric": "val.sharpe", "splits": {}})
    code, out, _ = qraptor("sessions", "show", sid[:-3])  # a unique prefix is enough
    assert code == 0
    for expected in (sid, "succeeded", "attempt 2/3", "alpha", "ppo", "seed 7", "t1", "w-2"):
        assert expected in out
    assert "attempt 1 (w-1" in out and "RuntimeError: NaN loss" in out  # the history
    assert "model.zip" in out and "2.0 kB" in out and "objective val/agent/sharpe = 0.8" in out


def test_cancel_and_retry_by_unique_prefix(qraptor, store):
    first = store.submit({"session": {"name": "a"}})
    second = store.submit({"session": {"name": "b"}})
    shared = next(i for i in range(len(first)) if first[i] != second[i])
    code, _, err = qraptor("sessions", "cancel", first[:shared])
    assert code == 2 and "matches several sessions" in err
    code, _, _ = qraptor("sessions", "cancel", first)
    assert code == 0 and store.get(first)["status"] == Status.CANCELLED
    code, _, _ = qraptor("sessions", "retry", first)
    assert code == 0 and store.get(first)["status"] == Status.QUEUED
    code, _, err = qraptor("sessions", "retry", second)
    assert code == 2 and "only cancelled or failed sessions" in err
    code, _, err = qraptor("sessions", "show", "19990101")
    assert code == 2 and "does not exist" in err


def test_export_downloads_verified_files(qraptor, store, tmp_path):
    sid = finished(store, "alpha", val=1.0, test=1.0)
    files = {"model.zip": b"weights" * 1000, "val_trades.csv": b"timestamp,trade\n1,2\n"}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        kind = FileKind.MODEL if name.endswith(".zip") else FileKind.TRADE_LOG
        store.attach_file(sid, kind, tmp_path / name)
    out_dir = tmp_path / "export"
    code, out, err = qraptor("sessions", "export", sid, "--out", str(out_dir))
    assert code == 0, err
    for name, data in files.items():
        assert (out_dir / name).read_bytes() == data and name in out
    assert json.loads((out_dir / "session.json").read_text())["_id"] == sid

    # A damaged chunk is caught by the sha256 check: nothing half-written is left behind.
    model = next(f for f in store.get(sid)["files"] if f["name"] == "model.zip")
    chunks = store._conn.db[f"{store.cfg.collection}_files.chunks"]
    chunks.update_one({"files_id": model["file_id"]}, {"$set": {"data": b"x" * 7000}})
    damaged = tmp_path / "damaged"
    code, _, err = qraptor("sessions", "export", sid[:12], "--out", str(damaged))
    assert code == 2 and "model.zip" in err and "corrupt" in err
    assert not (damaged / "model.zip").exists()


def test_worker_command_once_on_an_empty_queue(qraptor):
    code, _, err = qraptor("worker", "--once", "--poll", "0.1")
    assert code == 0 and "0 sessions" in err


def test_cancel_ends_the_sessions_open_mlflow_run(qraptor, store: SessionStore):
    import dataclasses
    import os

    from mlflow import MlflowClient

    from qraptor.tracking.config import load_tracking_config

    tracking = dataclasses.asdict(load_tracking_config())
    sid = store.submit({"session": {"name": "cancel"}, "algo": {"name": "ppo"},
                        "tracking": tracking})  # fmt: skip
    claim = store.claim("w-live").claim
    uri = os.environ["QRAPTOR_MLFLOW_URI"]  # the tests' store (conftest)
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.get_experiment_by_name("cancel") or client.create_experiment("cancel")
    experiment_id = getattr(experiment, "experiment_id", experiment)
    run_id = client.create_run(experiment_id).info.run_id
    store.record_run(claim, run_id)
    code, out, err = qraptor("sessions", "cancel", sid)
    assert code == 0 and run_id in out, err
    assert client.get_run(run_id).info.status == "KILLED"
    doc = store.get(sid)
    assert doc["status"] == Status.CANCELLED and doc["mlflow_run_open"] is False
