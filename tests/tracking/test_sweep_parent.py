"""The sweep parent's best trial, recomputed from its children in a real MLflow sqlite store:
the highest objective with its varying params, finished sessions only, and a finisher with an
older view writing last does not hide the fuller answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from qraptor.tracking import runs
from qraptor.tracking.sweep_parent import (
    BEST_RUN_TAG,
    TRIALS_FINISHED,
    _write,
    best_child,
    sweep_children,
    update_sweep_best,
)


@pytest.fixture
def store(tmp_path: Path) -> tuple[MlflowClient, str, str]:
    client = runs.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = runs.experiment_id(client, "sweep-parent", tmp_path / "mlruns")
    parent = runs.ensure_sweep_run(client, experiment, "sweep-1")
    return client, experiment, parent


def _child(client: MlflowClient, experiment: str, parent: str, lr: str, objective: float | None,
           status: str = "FINISHED") -> str:  # fmt: skip
    run_id, _ = runs.session_run(
        client, experiment, session_id=None, parent_run_id=parent, run_name=f"lr{lr}", tags={}
    )
    params = [Param("algo.learning_rate", lr), Param("algo.gamma", "0.99")]
    metrics = [] if objective is None else [Metric("objective", objective, 0, 0)]
    client.log_batch(run_id, metrics=metrics, params=params)
    client.set_terminated(run_id, status)
    return run_id


def test_the_parent_carries_the_best_finished_child(store) -> None:
    client, experiment, parent = store
    _child(client, experiment, parent, "0.001", 0.4)
    better = _child(client, experiment, parent, "0.003", 1.2)
    _child(client, experiment, parent, "0.01", 9.0, status="FAILED")  # not a result
    _child(client, experiment, parent, "0.02", None, status="RUNNING")

    update_sweep_best(client, experiment, parent)

    run = client.get_run(parent)
    assert run.data.metrics["best/objective"] == 1.2
    assert run.data.metrics[TRIALS_FINISHED] == 2
    assert run.data.tags[BEST_RUN_TAG] == better
    assert run.data.tags["qraptor.best_run_name"] == "lr0.003"
    assert run.data.tags["best/algo.learning_rate"] == "0.003"
    assert "best/algo.gamma" not in run.data.tags  # the same in every child: not searched


def test_an_older_view_written_last_does_not_win(store) -> None:
    client, experiment, parent = store
    first = _child(client, experiment, parent, "0.001", 0.4)
    update_sweep_best(client, experiment, parent)  # the first finisher, alone so far
    second = _child(client, experiment, parent, "0.003", 1.2)
    update_sweep_best(client, experiment, parent)  # the second one saw both

    # the first finisher's write arriving late, with its view of one finished child
    children = sweep_children(client, experiment, parent)
    stale = [c for c in children if c.info.run_id == first]
    best, finished = best_child(stale)
    _write(client, parent, best, finished, ["algo.learning_rate"])
    metrics = client.get_run(parent).data.metrics
    assert metrics["best/objective"] == 1.2 and metrics[TRIALS_FINISHED] == 2  # by step

    # and a finisher re-checks after writing: the tags end with the fuller view
    update_sweep_best(client, experiment, parent)
    assert client.get_run(parent).data.tags[BEST_RUN_TAG] == second


def test_a_sweep_with_nothing_finished_says_so(store) -> None:
    client, experiment, parent = store
    _child(client, experiment, parent, "0.001", None, status="FAILED")
    update_sweep_best(client, experiment, parent)
    run = client.get_run(parent)
    assert run.data.metrics[TRIALS_FINISHED] == 0
    assert "best/objective" not in run.data.metrics and BEST_RUN_TAG not in run.data.tags
