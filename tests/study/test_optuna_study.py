"""`qraptor study` with an Optuna search: 3 trials x 2 folds x 2 seeds of tiny sessions, each
an MLflow run under the study's parent run; ask/tell, the seeded sampler, the budget, PBO.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from study_helpers import TINY

from qraptor.cli.main import main as qraptor_main

SPACE = (
    "space={algo.learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true},"
    " algo.n_epochs: {type: categorical, choices: [1, 2]}}"
)
SEARCH = ("search=optuna", "n_trials=3", "n_startup_trials=2", "sampler_seed=11", SPACE)
LIGHT_TRACKING = (
    "tracking.enabled=true",
    "tracking.artifacts.keras_h5=false",
    "tracking.model.log=false",
    "tracking.model.register=false",
    "tracking.tensorboard=false",
)


@pytest.mark.slow  # 14 sessions, each an MLflow run (~40 s)
def test_optuna_study_through_the_cli(sample_dataset: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "optuna"
    args = [
        "study", "--no-progress", *TINY, *LIGHT_TRACKING, f"session.dataset={sample_dataset}",
        f"out_dir={out}", "name=optuna_tiny", "folds=[2,3]", "seeds=2", *SEARCH,
    ]  # fmt: skip
    assert qraptor_main(args) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "study.json").read_text())

    trials = summary["trials"]
    assert [t["trial"] for t in trials] == [0, 1, 2]  # the budget: 3 asked, 3 told
    for trial in trials:
        assert set(trial["params"]) == {"algo.learning_rate", "algo.n_epochs"}
        assert 1e-4 <= trial["params"]["algo.learning_rate"] <= 3e-3
        assert trial["params"]["algo.n_epochs"] in (1, 2)
        assert trial["status"] == "finished"
    assert len({t["params"]["algo.learning_rate"] for t in trials}) == 3
    assert len(summary["sessions"]) == 3 * 2 * 2 + 2
    best = max(trials, key=lambda t: t["score"])
    assert summary["selection"]["trial"] == best["trial"]

    pbo = summary["statistics"]["pbo"]
    assert pbo["n_trials"] == 3 and 0.0 <= pbo["pbo"] <= 1.0
    returns = pd.read_parquet(out / "oos_returns.parquet")
    assert pbo["bars"] == len(returns.dropna()) and returns.shape[1] == 3
    assert summary["statistics"]["dsr"]["n_trials"] == 3
    assert "held-out test, once:" in printed and "over buy-and-hold after costs" in printed
    assert "bars of live or paper record still needed" in printed

    _check_mlflow(summary["study_id"], expected_sessions=14)


def _check_mlflow(study_id: str, expected_sessions: int) -> None:
    """Every session an MLflow run nested under one parent run of the study."""
    from mlflow import MlflowClient

    client = MlflowClient(os.environ["QRAPTOR_MLFLOW_URI"])
    experiment = client.get_experiment_by_name("optuna_tiny")
    assert experiment is not None
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`qraptor.sweep_id` = '{study_id}'"
    )
    parents = [r for r in runs if r.data.tags.get("qraptor.run_kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("qraptor.run_kind") != "sweep"]
    assert len(parents) == 1 and len(children) == expected_sessions
    parent = parents[0].info.run_id
    assert all(r.data.tags.get("mlflow.parentRunId") == parent for r in children)
    assert all(r.info.status == "FINISHED" for r in children)
    # the parent run carries the study's result
    logged = client.get_run(parent)
    assert {"study/pbo", "study/dsr", "study/selected_score"} <= set(logged.data.metrics)
    assert "after costs" in logged.data.tags["qraptor.verdict"]
    files = {f.path for f in client.list_artifacts(parent, "study")}
    assert "study/study.json" in files and "study/oos_equity.png" in files
