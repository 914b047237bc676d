"""The session worker in this process, on a real server, with real (tiny) training:
results and provenance stored, bad configs and crashing sessions handled, idle exits."""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from qraptor.cli.sessions import export
from qraptor.core.formatting import format_metric
from qraptor.core.paths import project_root
from qraptor.core.provenance import data_version
from qraptor.store import FileKind, SessionStore, Status
from qraptor.tracking.card_facts import default_train_config
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker
from qraptor.worker.submit import enqueue, request_from_overrides

# Two PPO updates on 4 envs, small windows, few backtests: the whole path in < 1 s.
# the tests' one tiny session config, halved: two checkpoints within 128 timesteps
TINY = (
    "experiment=tiny",
    "session.total_timesteps=128",
    "session.checkpoint_every=64",
    "session.eval.random_runs=1",
    "algo.n_steps=16",
    "algo.batch_size=32",
    "algo.n_epochs=1",
)


@pytest.fixture(scope="module")
def dataset(tiny_dataset: Path) -> Path:
    return tiny_dataset


@pytest.fixture
def queue(mongo_server, database_name, make_config, dataset):
    """(store config for workers, open store, submit(*overrides, **kw) -> id)."""
    cfg = make_config(f"uri={mongo_server.uri}", f"database={database_name}", "lease_seconds=10")
    store = SessionStore.from_config(cfg)

    def submit(*overrides: str, **options) -> str:
        request = request_from_overrides([*TINY, f"session.dataset={dataset}", *overrides])
        return enqueue(store, [request], **options)[0]

    yield cfg, store, submit
    store._conn.client.drop_database(database_name)
    store.close()


def test_worker_trains_a_session_and_stores_everything(queue, dataset, tmp_path):
    cfg, store, submit = queue
    sid = submit("session.seed=1")
    work = tmp_path / "work"
    work.mkdir()
    worker_cfg = load_worker_config([f"work_dir={work}"])
    defaults = default_train_config(project_root() / "conf")  # what `qraptor worker` passes
    assert (
        run_worker(
            cfg, once=True, worker_id="w-test", worker_cfg=worker_cfg, card_defaults=defaults
        )
        == 1
    )

    doc = store.get(sid)
    assert doc["status"] == Status.SUCCEEDED and doc["attempts"] == 1
    assert doc["worker_id"] == "w-test"
    names = {(f["kind"], f["name"]) for f in doc["files"]}
    assert names == {
        ("model", "model.zip"),
        ("keras_h5", "policy.h5"),  # the TensorFlow export of the policy
        ("metrics", "metrics.json"),
        ("data_record", "data.json"),  # the data path: `qraptor backtest SESSION` rebuilds it
        ("validation", "validation.csv"),  # experiment=tiny validates (at 128, the end)
        ("model_card", "model_card.md"),  # the model card and its training-curve figure
        ("model_card", "model_card_curve.png"),
        *{("trade_log", f"{s}_trades.csv") for s in ("val", "test")},
        *{("equity_curve", f"{s}_equity.csv") for s in ("val", "test")},
        *{("equity_curve", f"{s}_baselines_equity.csv") for s in ("val", "test")},
    }
    assert [c["timesteps"] for c in doc["checkpoints"]] == [64, 128]
    metrics = doc["metrics"]
    assert metrics["timesteps"] == 128 and metrics["resumed_from_timesteps"] == 0
    assert metrics["objective_metric"] == "val.sharpe"
    assert metrics["objective"] == metrics["splits"]["val"]["agent"]["sharpe"]
    assert set(metrics["splits"]["test"]["baselines"]) == {
        "buy_and_hold",
        "flat",
        "random",
        "random_uniform",
        "ma_crossover",
    }
    timings = metrics["timings"]
    assert timings["checkpoint_uploads"] == 2
    assert timings["total_seconds"] >= timings["train_seconds"] > timings["learn_seconds"] > 0
    # The stored metrics file is the trainer's, and agrees with the document.
    stored = json.loads(store.download_file(sid, FileKind.METRICS, tmp_path).read_text())
    assert stored["splits"]["test"]["agent"]["sharpe"] == pytest.approx(
        metrics["splits"]["test"]["agent"]["sharpe"]
    )
    # One summary shape: the document keeps what the trainer's metrics.json keeps, every
    # baseline metric included (compare's beat_metric=sortino needs them), plus the
    # wall-clock figures (the run folder keeps them in timings.json, out of DVC's hash) and
    # the worker's.
    assert {k: v for k, v in metrics.items() if k in stored} == stored
    assert set(metrics) - set(stored) == {
        "seconds", "timesteps_per_second", "eval_seconds", "validation_seconds",
        "resumed_from_timesteps", "timesteps_trained", "timings", "worker_id"
    }  # fmt: skip
    baseline = metrics["splits"]["val"]["baselines"]["buy_and_hold"]
    assert set(baseline) == set(metrics["splits"]["val"]["agent"])
    assert "sortino" in baseline
    assert len(metrics["splits"]["val"]["random_sharpes"]) == 1  # session.eval.random_runs
    # Provenance: this checkout's commit, the dataset's hash.
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    assert doc["git_commit"] == (head.stdout.strip() or None)
    assert doc["data_version"]["method"] == "sha256"
    assert doc["data_version"]["hash"] == data_version(dataset)["hash"]
    assert list(work.iterdir()) == []  # scratch folder removed
    assert doc["mlflow_run_id"]  # the session's MLflow run
    # `qraptor sessions export` writes the card with the session's other files, and it is
    # the card of this session: its metrics, its commit, its seed's diff from the defaults
    exported = {p.name: p for p in export(store, sid, tmp_path / "export")}
    assert {"model_card.md", "model_card_curve.png", "session.json"} <= exported.keys()
    card = exported["model_card.md"].read_text()
    sharpe = format_metric("sharpe", metrics["splits"]["test"]["agent"]["sharpe"])
    assert f"| **agent** | {sharpe} |" in card
    assert f"Git commit `{doc['git_commit']}`" in card and "- `session.seed: 1 (default 0)`" in card


def test_invalid_config_fails_readably_and_the_worker_serves_the_next(queue):
    cfg, store, submit = queue
    good = submit("session.seed=2")
    config = copy.deepcopy(store.get(good)["config"])
    config["session"]["n_envs"] = 0
    bad = store.submit(config, priority=5)  # claimed first
    assert run_worker(cfg, idle_exit=0, worker_id="w-test", worker_cfg=load_worker_config()) == 2
    failed = store.get(bad)
    assert failed["status"] == Status.FAILED and failed["attempts"] == 1
    assert "session.n_envs" in failed["error"] and "must be >= 1" in failed["error"]
    assert "Traceback" not in failed["error"]
    assert store.get(good)["status"] == Status.SUCCEEDED


def test_a_missing_dataset_fails_at_once_naming_it(queue, tmp_path):
    cfg, store, submit = queue
    sid = submit(f"session.dataset={tmp_path / 'missing'}", max_attempts=3)
    worker_cfg = load_worker_config()
    assert run_worker(cfg, idle_exit=0, worker_id="w-test", worker_cfg=worker_cfg) == 1
    doc = store.get(sid)
    assert doc["status"] == Status.FAILED and doc["attempts"] == 1  # no retry can help
    assert str(tmp_path / "missing") in doc["error"] and "Traceback" not in doc["error"]
    assert doc["retry_at"] is None


def test_a_transient_error_is_retried_after_a_backoff_then_failed(
    queue, make_config, mongo_server, database_name, monkeypatch
):
    _, store, submit = queue
    cfg = make_config(
        f"uri={mongo_server.uri}", f"database={database_name}", "requeue_delay_seconds=2"
    )
    with socket.socket() as probe:  # a port nobody listens on: the tracking server is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("QRAPTOR_MLFLOW_URI", f"http://127.0.0.1:{port}")
    sid = submit("tracking.enabled=true", max_attempts=2)
    worker_cfg = load_worker_config(["poll_seconds=0.2", "poll_max_seconds=0.5"])
    assert run_worker(cfg, idle_exit=0, worker_id="w-test", worker_cfg=worker_cfg) == 1
    doc = store.get(sid)
    assert doc["status"] == Status.QUEUED and "does not answer" in doc["error"]
    assert (doc["retry_at"] - doc["updated_at"]).total_seconds() == pytest.approx(2, abs=0.01)
    assert store.claim("w-other") is None  # not before its time
    began = time.monotonic()
    assert run_worker(cfg, idle_exit=6, worker_id="w-test", worker_cfg=worker_cfg) >= 1
    assert time.monotonic() - began >= 1.0  # waited for the backoff
    doc = store.get(sid)
    assert doc["status"] == Status.FAILED and doc["attempts"] == 2
    assert "Traceback" in doc["error"] and [e["attempt"] for e in doc["errors"]] == [1, 2]


def test_empty_queue_once_returns_at_once_and_idle_exit_waits(queue):
    cfg, _, _ = queue
    began = time.monotonic()
    assert run_worker(cfg, once=True, worker_cfg=load_worker_config()) == 0
    # bounds far from any speed budget: --once must not wait for work, --idle-exit must
    # wait at least its time and then stop (not poll forever)
    assert time.monotonic() - began < 30
    began = time.monotonic()
    assert run_worker(cfg, idle_exit=1.0, poll_seconds=0.2, worker_cfg=load_worker_config()) == 0
    assert 1.0 <= time.monotonic() - began < 30


def test_cancelled_while_training_the_worker_drops_it_and_stores_nothing(queue):
    cfg, store, submit = queue
    sid = submit("session.total_timesteps=16384", "session.checkpoint_every=1024")
    served: list[int] = []
    worker = threading.Thread(
        target=lambda: served.append(
            run_worker(cfg, once=True, worker_id="w-cancel", worker_cfg=load_worker_config())
        )
    )
    worker.start()
    try:
        deadline = time.monotonic() + 120
        while not store.get(sid)["checkpoints"]:
            assert time.monotonic() < deadline and worker.is_alive(), "no checkpoint"
            time.sleep(0.05)
        store.cancel(sid)
    finally:
        worker.join(timeout=120)
    assert served == [1]  # the worker noticed at its next heartbeat and moved on
    doc = store.get(sid)
    assert doc["status"] == Status.CANCELLED
    assert doc["files"] == [] and doc["metrics"] is None  # nothing written after the cancel


def test_a_queued_session_is_tracked_with_the_submitters_tracking_settings(queue, monkeypatch):
    """Defect b) of issue 11: the stored config carries the submitter's `tracking` section and
    the worker's tracking config comes from it; the worker machine's URI still wins."""
    from qraptor.tracking.config import resolve_tracking_uri, tracking_config_from

    _, store, submit = queue
    sid = submit("tracking.artifacts.keras_h5=false", "tracking.experiment=submitted")
    stored = store.get(sid)["config"]
    assert "store" not in stored  # where the queue is is not how to train
    tracking = tracking_config_from(stored)
    assert tracking.experiment == "submitted" and tracking.artifacts.keras_h5 is False
    monkeypatch.setenv("QRAPTOR_MLFLOW_URI", "sqlite:////tmp/worker-machine.db")
    assert resolve_tracking_uri(tracking) == "sqlite:////tmp/worker-machine.db"


def test_a_worker_resolves_relative_paths_in_the_project_it_is_given(
    queue, tiny_dataset, tmp_path, monkeypatch
):
    """Started anywhere (here: a folder with no conf/), a worker handed its project root
    finds a session's relative dataset there: no depth of it reads the working directory."""
    cfg, store, submit = queue
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "ds").symlink_to(tiny_dataset, target_is_directory=True)
    sid = submit("session.dataset=data/ds")
    worker_cfg = load_worker_config()  # composed by the entry point, before it starts
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("QRAPTOR_CONF_DIR", str(elsewhere / "no-conf-here"))  # not read either
    served = run_worker(cfg, once=True, worker_cfg=worker_cfg, root=project)
    doc = store.get(sid)
    assert served == 1 and doc["status"] == Status.SUCCEEDED, doc.get("error")
    assert doc["data_version"]["hash"] == data_version(tiny_dataset)["hash"]


def test_a_broken_worker_environment_is_not_the_sessions_fault(queue, tmp_path, monkeypatch):
    # An unreadable credentials file is this host's problem: the session is queued again for
    # another worker (or this one, fixed), not failed as if its config were wrong.
    cfg, store, submit = queue
    sid = submit("tracking.enabled=true", max_attempts=3)
    monkeypatch.delenv("QRAPTOR_MLFLOW_URI", raising=False)
    monkeypatch.setenv("QRAPTOR_MLFLOW_URI_FILE", str(tmp_path / "no-such-secret"))
    assert run_worker(cfg, once=True, worker_id="w-test", worker_cfg=load_worker_config()) == 1
    doc = store.get(sid)
    assert doc["status"] == Status.QUEUED and doc["attempts"] == 1
    assert "QRAPTOR_MLFLOW_URI_FILE" in doc["error"] and "no-such-secret" in doc["error"]
