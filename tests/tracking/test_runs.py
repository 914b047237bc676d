"""Runs on a real MLflow server: one parent per sweep however many processes race for it,
a session's run found again when it resumes, run states that say how a session ended."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow_processes import free_port

from qraptor.store.errors import LeaseLost
from qraptor.tracking import runs
from qraptor.tracking.config import load_tracking_config
from qraptor.tracking.session_run import start_session_run
from qraptor.train import TrainResult, load_train_config


@pytest.fixture
def client(mlflow_server: str) -> MlflowClient:
    return MlflowClient(mlflow_server, mlflow_server)


@pytest.fixture
def config(tiny_overrides: list[str]) -> dict:
    return load_train_config(tiny_overrides).to_dict()


def _race(n: int, contender) -> list[str]:
    barrier = threading.Barrier(n)
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(contender())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return results


def _sweep_runs(client: MlflowClient, experiment: str, sweep: str, view: int) -> list:
    query = f"tags.`{runs.SWEEP_TAG}` = '{sweep}' and tags.`{runs.KIND_TAG}` = 'sweep'"
    return client.search_runs([experiment], query, view)


def test_one_parent_when_every_contender_misses_it(
    client: MlflowClient, experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst case: all contenders searched before any parent existed."""
    exp = runs.experiment_id(client, experiment)
    real_find = runs.find_run
    monkeypatch.setattr(
        runs,
        "find_run",
        lambda c, e, tags: None if tags.get(runs.KIND_TAG) == "sweep" else real_find(c, e, tags),
    )
    parents = _race(4, lambda: runs.ensure_sweep_run(client, exp, "sweep-contended"))
    assert len(set(parents)) == 1
    live = _sweep_runs(client, exp, "sweep-contended", ViewType.ACTIVE_ONLY)
    assert [r.info.run_id for r in live] == parents[:1]
    losers = f"tags.`{runs.SWEEP_TAG}` = 'sweep-contended' and " \
             f"tags.`{runs.KIND_TAG}` = '{runs.CANDIDATE_KIND}'"  # fmt: skip
    assert len(client.search_runs([exp], losers, ViewType.DELETED_ONLY)) == 3
    monkeypatch.undo()
    assert runs.ensure_sweep_run(client, exp, "sweep-contended") == parents[0]
    # the lock experiment is deleted (hidden from the UI) yet still answers late contenders
    assert not any(e.name.startswith(runs.LOCK_PREFIX) for e in client.search_experiments())


def test_one_parent_for_concurrent_jobs(client: MlflowClient, experiment: str) -> None:
    exp = runs.experiment_id(client, experiment)
    parents = _race(4, lambda: runs.ensure_sweep_run(client, exp, "sweep-jobs"))
    assert len(set(parents)) == 1
    assert len(_sweep_runs(client, exp, "sweep-jobs", ViewType.ACTIVE_ONLY)) == 1


def test_a_losing_candidate_is_never_taken_for_the_parent(
    client: MlflowClient, experiment: str
) -> None:
    """CI caught two parents for one sweep: a contender searched while another's losing
    candidate, tagged as a parent, was not yet deleted. Candidates are parents only once
    they hold the lock, so a search finds the winner or nothing."""
    exp = runs.experiment_id(client, experiment)
    tags = {runs.SWEEP_TAG: "sweep-pending", runs.KIND_TAG: runs.CANDIDATE_KIND}
    pending = client.create_run(exp, tags=tags).info.run_id  # another's, not yet deleted
    parent = runs.ensure_sweep_run(client, exp, "sweep-pending")
    assert parent != pending
    assert client.get_run(parent).data.tags[runs.KIND_TAG] == "sweep"
    assert runs.ensure_sweep_run(client, exp, "sweep-pending") == parent


def test_a_resumed_session_continues_its_run(
    client: MlflowClient, mlflow_server: str, experiment: str, config: dict
) -> None:
    tracking = load_tracking_config([f"uri={mlflow_server}", f"experiment={experiment}"])
    with start_session_run(
        config, session_id="sess-1", sweep_id="sweep-r", tags={"qraptor.worker_id": "w1"},
        tracking=tracking,
    ) as first:  # fmt: skip
        assert not first.resumed
    with start_session_run(
        config, session_id="sess-1", sweep_id="sweep-r", tags={"qraptor.worker_id": "w2"},
        tracking=tracking,
    ) as second:  # fmt: skip
        assert second.resumed and second.run_id == first.run_id
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[runs.SESSION_TAG] == "sess-1"
    assert run.data.tags[runs.PARENT_TAG] == first.parent_run_id
    assert run.data.tags["qraptor.worker_id"] == "w2"  # where it runs now
    assert run.data.params["session.seed"] == "0"
    session_runs = client.search_runs(
        [first.experiment_id], f"tags.`{runs.SESSION_TAG}` = 'sess-1'"
    )
    assert len(session_runs) == 1


def test_run_states_say_how_a_session_ended(
    client: MlflowClient, mlflow_server: str, experiment: str, config: dict
) -> None:
    tracking = load_tracking_config([f"uri={mlflow_server}", f"experiment={experiment}"])
    with (
        pytest.raises(RuntimeError, match="diverged"),
        start_session_run(config, tracking=tracking) as failing,
    ):
        raise RuntimeError("loss diverged")
    failed = client.get_run(failing.run_id)
    assert failed.info.status == "FAILED"
    assert "loss diverged" in failed.data.tags["qraptor.error"]

    with (
        pytest.raises(LeaseLost),
        start_session_run(config, session_id="sess-lost", tracking=tracking) as lost,
    ):
        raise LeaseLost("sess-lost", "w1", "running", "w2")
    left = client.get_run(lost.run_id)  # the session goes on elsewhere: not ours to end
    assert left.info.status == "RUNNING" and "qraptor.error" not in left.data.tags
    assert mlflow.active_run() is None  # nor will this process end it on exit

    stopped = TrainResult(
        model_path=Path("unused.zip"), timesteps=128, stopped_early=True, metrics={},
        baselines={}, trade_logs={}, equity={}, seconds=1.0, timesteps_per_second=128.0,
    )  # fmt: skip
    with start_session_run(config, session_id="sess-stop", tracking=tracking) as tracker:
        tracker.log_result(stopped, Path("unused"))
    killed = client.get_run(tracker.run_id)
    assert killed.info.status == "KILLED"  # resumable: a later attempt reopens it
    assert killed.data.tags["qraptor.stopped_at_timesteps"] == "128"


def test_an_absent_server_fails_fast_before_training(config: dict) -> None:
    from qraptor.tracking.runs import TrackingError

    tracking = load_tracking_config([f"uri=http://qraptor:s3cret@127.0.0.1:{free_port()}"])
    began = time.monotonic()
    with (
        pytest.raises(TrackingError, match="does not answer") as error,
        start_session_run(config, tracking=tracking),
    ):
        pytest.fail("the block must not run")
    assert time.monotonic() - began < 60  # gives up, not MLflow's minutes of retries
    assert "s3cret" not in str(error.value)
