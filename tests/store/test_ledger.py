"""The trial ledger on a real SecantusDB: in-process sweep trials recorded as they happen,
never set back, secrets scrubbed; no database means an unrecorded sweep, not a crash."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from qraptor.store.errors import StoreError
from qraptor.store.ledger import (
    LedgerConfig,
    list_trials,
    local_sweep_id,
    open_ledger,
    record_trial,
)
from qraptor.store.run_records import records_by_id, sweep_records
from qraptor.worker.ledger_jobs import record_sweep_job, sweep_trial

CONFIG = {"session": {"name": "t", "seed": 1}, "algo": {"name": "ppo", "learning_rate": 3e-4}}


def test_a_trial_goes_running_then_finished_and_stays_finished(store) -> None:
    trial = record_trial(store, "sw1", CONFIG, "running", number=3, experiment="e")
    assert trial == "sw1/00003"
    again = record_trial(store, "sw1", CONFIG, "running", number=3)  # a retried write
    assert again == trial and len(list_trials(store, sweep_id="sw1")) == 1
    record_trial(store, "sw1", CONFIG, "succeeded", {"objective": 1.5}, number=3)
    record_trial(store, "sw1", CONFIG, "running", number=3)  # a late duplicate: ignored
    (doc,) = list_trials(store, sweep_id="sw1")
    assert doc["status"] == "succeeded" and doc["metrics"] == {"objective": 1.5}
    assert doc["experiment"] == "e" and doc["config"] == CONFIG and doc["finished_at"]
    record_trial(store, "sw1", CONFIG, "failed", number=4, error="Traceback ...\nValueError")
    statuses = {d["_id"]: d["status"] for d in list_trials(store, sweep_id="sw1")}
    assert statuses == {"sw1/00003": "succeeded", "sw1/00004": "failed"}
    assert list_trials(store, experiment="e", sweep_id="sw1")[0]["_id"] == "sw1/00003"


def test_trials_keep_only_the_training_config_without_secrets(store) -> None:
    composed = {
        **CONFIG,
        "session": {**CONFIG["session"], "api_key": "s3cret"},
        "store": {"uri": "mongodb://user:pw@db:27017/"},
    }
    record_trial(store, "sw2", composed, "running", number=0,
                 overrides=["store.uri=mongodb://user:pw@db/"])  # fmt: skip
    (doc,) = list_trials(store, sweep_id="sw2")
    assert "store" not in doc["config"]
    assert doc["config"]["session"]["api_key"] == "***"
    assert "pw" not in doc["overrides"][0]


def test_a_sweep_is_its_sessions_and_its_ledger_trials(store) -> None:
    queued = store.submit(CONFIG, sweep_id="sw3")
    record_trial(store, "sw3", CONFIG, "running", number=0)
    records = sweep_records(store, "sw3", collection="trials", limit=100)
    assert [(r.id, r.source, r.status) for r in records] == [
        (queued, "session", "queued"),
        ("sw3/00000", "trial", "running"),
    ]
    picked = records_by_id(store, ["sw3/00000", queued[:-3]])
    assert [(r.id, r.source) for r in picked] == [("sw3/00000", "trial"), (queued, "session")]
    with pytest.raises(StoreError, match="no ledger trial"):
        records_by_id(store, ["sw3/00009"])


def test_the_train_cli_hook_records_a_job(
    mongo_server, database_name, make_config, monkeypatch
) -> None:
    monkeypatch.delenv("QRAPTOR_SWEEP_ID", raising=False)
    store_section = dataclasses.asdict(make_config())
    store_section.update(uri=mongo_server.uri, database=database_name)
    ledger = {"enabled": True, "collection": "trials", "start_local_server": False}
    composed = {**CONFIG, "store": store_section, "ledger": ledger}
    trial = sweep_trial(composed, sweep_dir="multirun/train/2026-11-25/10-00-00_t", number=2)
    assert trial is not None
    trial.running()
    trial.failed(RuntimeError("diverged"))
    (doc,) = list_trials(trial.store, sweep_id=trial.sweep_id)
    assert doc["status"] == "failed" and doc["error"] == "RuntimeError: diverged"
    assert doc["number"] == 2 and "ledger" not in doc["config"]
    trial.store._conn.client.drop_database(database_name)
    disabled = {**composed, "ledger": {**composed["ledger"], "enabled": False}}
    assert sweep_trial(disabled, sweep_dir="x", number=0) is None
    assert sweep_trial(CONFIG, sweep_dir="x", number=0) is None  # no ledger section at all


def test_no_database_means_an_unrecorded_sweep_fast(make_config, tmp_path: Path) -> None:
    ledger = LedgerConfig(enabled=True, collection="trials", start_local_server=False)
    stopped_local = make_config(f"local.dir={tmp_path / 'db'}")
    began = time.monotonic()
    assert open_ledger(stopped_local, ledger) is None  # no URI, local server not running
    assert not (tmp_path / "db" / "server.json").exists()  # and none was started
    dead = make_config("uri=mongodb://127.0.0.1:9/", "server_selection_timeout_seconds=0.5",
                       "retry.total_seconds=0")  # fmt: skip
    assert open_ledger(dead, ledger) is None
    assert open_ledger(dead, ledger) is None  # remembered: no second wait
    # not a speed budget: without the fail-fast settings the store would retry for minutes
    assert time.monotonic() - began < 30
    assert open_ledger(dead, dataclasses.replace(ledger, enabled=False)) is None


def test_sweep_ids_are_stable_per_folder_and_distinct_between_folders(tmp_path: Path) -> None:
    a = local_sweep_id(tmp_path / "2026-11-25" / "14-03-22_ppo_optuna")
    assert a == local_sweep_id(str(tmp_path / "2026-11-25" / "14-03-22_ppo_optuna"))
    assert a.startswith("local-2026-11-25_14-03-22_ppo_optuna-")
    assert a != local_sweep_id(tmp_path / "other" / "2026-11-25" / "14-03-22_ppo_optuna")


def _hydra(mode, sweep_dir: Path, num: int, overrides=("experiment=quick",)):
    return SimpleNamespace(
        mode=mode,
        sweep=SimpleNamespace(dir=str(sweep_dir)),
        job=SimpleNamespace(num=num),
        overrides=SimpleNamespace(task=list(overrides)),
    )


def test_a_sweep_job_is_recorded_around_training(
    mongo_server, database_name, make_config, tmp_path: Path, monkeypatch
) -> None:
    from hydra.types import RunMode

    monkeypatch.delenv("QRAPTOR_SWEEP_ID", raising=False)
    store_section = dataclasses.asdict(make_config())
    store_section.update(uri=mongo_server.uri, database=database_name)
    ledger = {"enabled": True, "collection": "trials", "start_local_server": False}
    composed = {**CONFIG, "store": store_section, "ledger": ledger}
    sweep_dir = tmp_path / "multirun"

    def job(num: int, mode=RunMode.MULTIRUN):
        return record_sweep_job(composed, _hydra(mode, sweep_dir, num))

    from qraptor.train.result import TrainResult

    finished = TrainResult(
        model_path=tmp_path / "model.zip", timesteps=8, stopped_early=False,
        metrics={"val": {"sharpe": 1.0}}, baselines={}, trade_logs={}, equity={},
        seconds=1.0, timesteps_per_second=8.0, objective=1.0,
    )  # fmt: skip
    with job(0) as trial:
        trial.finished(finished, "val.sharpe", mlflow_run_id="abc123")
    with pytest.raises(ValueError), job(1):
        raise ValueError("nan loss")
    with pytest.raises(KeyboardInterrupt), job(2):
        raise KeyboardInterrupt
    with job(3, RunMode.RUN) as trial:  # a single run is not a sweep trial
        trial.finished(finished, "val.sharpe")
    store = open_ledger(make_config(f"uri={mongo_server.uri}", f"database={database_name}"),
                        LedgerConfig(True, "trials", False))  # fmt: skip
    trials = list_trials(store, sweep_id=local_sweep_id(sweep_dir))
    statuses = [(t["number"], t["status"]) for t in trials]
    assert statuses == [(0, "succeeded"), (1, "failed"), (2, "cancelled")]
    assert trials[0]["metrics"]["splits"]["val"]["agent"]["sharpe"] == 1.0
    assert trials[0]["mlflow_run_id"] == "abc123"
    assert trials[1]["error"] == "ValueError: nan loss"
    assert {t["experiment"] for t in trials} == {"quick"}
    monkeypatch.setenv("QRAPTOR_SWEEP_ID", "sweep-from-the-cli")  # the MLflow parent's id
    with job(4):
        pass
    assert [t["number"] for t in list_trials(store, sweep_id="sweep-from-the-cli")] == [4]
    with record_sweep_job(composed, _hydra(RunMode.MULTIRUN, sweep_dir, 5), "explicit"):
        pass
    assert len(list_trials(store, sweep_id="explicit")) == 1
    store._conn.client.drop_database(database_name)
