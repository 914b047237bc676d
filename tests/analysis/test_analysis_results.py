"""Results: the DVC evaluate outputs and a stored sweep as frames; drawdowns, group
summaries and the deflated Sharpe are `qraptor compare`'s numbers on the same inputs."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest

from qraptor.analysis import results as res
from qraptor.analysis.project import project_paths
from qraptor.core.errors import DataError
from qraptor.evaluation.compare.comparison import RunRecord, compare_runs
from qraptor.evaluation.compare.config import load_compare_config
from qraptor.evaluation.statistics import (
    deflated_sharpe_ratio,
    equity_moments,
    interquartile_mean,
    probabilistic_sharpe_ratio,
)

FAST = ("bootstrap.reps=500",)


def curve(values) -> pd.DataFrame:
    stamps = pd.date_range("2024-01-01", periods=len(values), freq="h", tz="UTC")
    return pd.DataFrame(
        {
            "timestamp": stamps,
            "agent": values,
            "buy_and_hold": np.linspace(100.0, 120.0, len(values)),
        }
    )


def test_drawdowns_and_their_episodes_on_a_hand_made_curve():
    frame = curve([100.0, 110.0, 99.0, 105.0, 111.0, 90.0, 95.0])
    dd = res.drawdowns(frame)
    np.testing.assert_allclose(
        dd["agent"], [0, 0, -0.1, 105 / 110 - 1, 0, 90 / 111 - 1, 95 / 111 - 1]
    )
    assert (dd["buy_and_hold"] == 0).all()  # a rising line never draws down
    episodes = res.drawdown_episodes(frame)
    assert list(episodes["depth"]) == pytest.approx([90 / 111 - 1, -0.1])  # deepest first
    deep, shallow = episodes.iloc[0], episodes.iloc[1]
    assert deep["peak"] == frame["timestamp"][4] and pd.isna(deep["recovery"])
    assert shallow["peak"] == frame["timestamp"][1] and shallow["trough"] == frame["timestamp"][2]
    assert shallow["recovery"] == frame["timestamp"][4] and shallow["bars_to_recovery"] == 3


def test_relative_equity_starts_at_one_on_the_same_timestamps():
    frame = curve([100.0, 101.0, 98.0])
    relative = res.relative_equity(frame)
    assert list(relative.columns) == ["timestamp", "agent", "buy_and_hold"]
    assert (relative["timestamp"] == frame["timestamp"]).all()
    np.testing.assert_allclose(relative["agent"], [1.0, 1.01, 0.98])


def _record(run_id: str, seed: int, lr: float, sharpe: float, moments=None) -> RunRecord:
    agent = {
        "sharpe": sharpe,
        "total_return": sharpe / 10,
        "max_drawdown": 0.05,
        "sortino": sharpe,
        "turnover": 3.0,
        "n_trades": 7.0,
        **(moments or {}),
    }
    return RunRecord(
        id=run_id,
        status="succeeded",
        config={"session": {"seed": seed}, "algo": {"learning_rate": lr}},
        metrics={
            "splits": {"val": {"agent": agent, "baselines": {"buy_and_hold": {"sharpe": 0.5}}}}
        },
    )


def test_the_dsr_of_hand_made_trials_is_deflated_sharpe_ratio_on_the_same_inputs():
    moments = {"sharpe_per_bar": 0.08, "skewness": -0.3, "kurtosis": 5.0, "bars": 900}
    records = [
        _record("a", 0, 1e-3, 2.0, moments),
        _record("b", 1, 1e-3, 1.0, {"sharpe_per_bar": 0.04}),
        _record("c", 0, 3e-4, 0.5, {"sharpe_per_bar": 0.02}),
        _record("d", 1, 3e-4, -0.5, {"sharpe_per_bar": -0.02}),
        RunRecord(id="e", status="failed", config={}, metrics=None),
    ]
    comparison = compare_runs(records, load_compare_config(FAST), title="t", sweep=True)
    results = res.Results("store", comparison, {})
    table = res.significance_table(results)
    variance = np.var([0.08, 0.04, 0.02, -0.02], ddof=1)
    expected = deflated_sharpe_ratio(0.08, 900, -0.3, 5.0, 5, variance)
    assert table["deflated Sharpe DSR"] == pytest.approx(expected, rel=1e-12)
    assert table["trials (N, every status)"] == 5 and table["best run"] == "a"
    assert sorted(res.trial_sharpes(results)) == pytest.approx([-0.02, 0.02, 0.04, 0.08])
    values = res.metric_values(results)
    summaries = res.group_summaries(results).set_index(["group", "metric"])
    for group, runs in values[values["metric"] == "sharpe"].groupby("group"):
        assert len(runs) == 2  # two seeds per learning rate
        iqm = summaries.loc[(group, "sharpe"), "iqm"]
        assert iqm == pytest.approx(interquartile_mean(runs["value"].to_numpy()))
    table = res.runs_table(results)
    assert list(table.index[:2]) == ["a", "b"] and "algo.learning_rate" in table.columns


# -- the DVC pipeline's outputs ---------------------------------------------------------


def test_dvc_results_read_the_evaluate_stage(sample_project):
    results = res.load_dvc_results(sample_project, FAST)
    assert results.source == "dvc" and results.best_id == res.DVC_RUN_ID
    frame = results.equity[res.DVC_RUN_ID]
    # the full curve of the run folder and the evaluate stage's CSV agree on their timestamps
    csv = pd.read_csv(sample_project.equity_csv("val"))
    csv["timestamp"] = pd.to_datetime(csv["timestamp"], utc=True)
    joined = csv.merge(frame, on="timestamp", suffixes=("_csv", ""))
    assert len(joined) == len(csv)
    for column in ("agent", "buy_and_hold", "random"):
        np.testing.assert_allclose(joined[f"{column}_csv"], joined[column], rtol=1e-9)
    # one run: nothing selected, so DSR = PSR(0) of its own bar returns
    m = equity_moments(frame["agent"].to_numpy())
    table = res.significance_table(results)
    psr = probabilistic_sharpe_ratio(m.sharpe, m.bars, m.skewness, m.kurtosis)
    assert table["deflated Sharpe DSR"] == pytest.approx(psr, rel=1e-9)
    assert table["trials (N, every status)"] == 1
    # the notebook's conclusion: the verdict of the best run on the compared split, said once
    said = res.conclusion(results).splitlines()
    verdict = next(v for run, v in res.verdicts(results) if v.split == results.split)
    assert said[0] == f"Best run {res.DVC_RUN_ID} on {results.split}: {verdict.text}."
    edge = "Conclusion: an edge" if verdict.edge else "Conclusion: no evidence of an edge"
    assert said[-1].startswith(edge)


def test_without_the_run_folder_the_equity_csv_is_used(sample_project, tmp_path):
    shutil.copy2(sample_project.root / "dvc.yaml", tmp_path / "dvc.yaml")
    paths = project_paths(tmp_path)
    with pytest.raises(DataError, match=r"evaluate\.json.*dvc repro evaluate"):
        res.load_dvc_results(paths, FAST)
    shutil.copytree(sample_project.metrics, paths.metrics)
    with pytest.raises(DataError, match=r"equity_val\.csv.*dvc repro evaluate"):
        res.load_dvc_results(paths, FAST)
    shutil.copytree(sample_project.plots, paths.plots)
    frame = res.load_dvc_results(paths, FAST).equity[res.DVC_RUN_ID]
    assert res.equity_columns(frame) == [
        "agent", "buy_and_hold", "flat", "random", "random_uniform", "ma_crossover"
    ]  # fmt: skip
    assert str(frame["timestamp"].dt.tz) == "UTC"


# -- a sweep in the session store -------------------------------------------------------


def test_a_stored_sweep_is_compared_and_deflated_by_every_trial(store_sweep, monkeypatch):
    monkeypatch.setenv("QRAPTOR_MONGO_URI", store_sweep.uri)
    results = res.load_results(
        None,
        sweep=store_sweep.sweep_id,
        store_overrides=[f"database={store_sweep.database}"],
        compare_overrides=FAST,
    )
    assert results.source == "store"
    assert results.comparison.status_counts == {"succeeded": 4, "failed": 1}
    assert set(results.equity) == set(store_sweep.session_ids)
    best = max(store_sweep.results.values(), key=lambda r: r.metrics["val"]["sharpe"])
    moments = {
        k: equity_moments(pd.read_csv(r.equity["val"])["equity"])
        for k, r in store_sweep.results.items()
    }
    best_m = equity_moments(pd.read_csv(best.equity["val"])["equity"])
    variance = np.var([m.sharpe for m in moments.values()], ddof=1)
    expected = deflated_sharpe_ratio(
        best_m.sharpe, best_m.bars, best_m.skewness, best_m.kurtosis, 5, variance
    )
    table = res.significance_table(results)
    assert table["deflated Sharpe DSR"] == pytest.approx(expected, rel=1e-6, abs=1e-12)
    assert len(res.trial_sharpes(results)) == 4
    assert math.isfinite(table["PSR(0)"])
    groups = set(res.group_summaries(results)["group"])
    assert len(groups) == 2  # two learning rates, seeds grouped
