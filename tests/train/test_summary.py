"""The session summary: one shape from the trainer, read by the evaluation report, with inputs
made by the real producer (a tiny trained session), never a hand-made dict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from qraptor.core.numbers import json_number, json_safe
from qraptor.evaluation.report import dvc_metrics, dvc_sections, read_run
from qraptor.train import load_train_config, train_session
from qraptor.train.summary import beats_random_share


@pytest.fixture(scope="module")
def trained_run(fast_overrides, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run")
    cfg = load_train_config(fast_overrides("ppo", "session.eval.random_runs=4"))
    train_session(cfg, out)
    return out


def test_the_run_folder_summary_keeps_every_metric_of_the_agent_and_every_baseline(trained_run):
    summary = read_run(trained_run)
    assert summary["objective_metric"] == "val.sharpe"
    assert summary["objective"] == summary["splits"]["val"]["agent"]["sharpe"]
    for split in ("val", "test"):
        section = summary["splits"][split]
        agent_keys = set(section["agent"])
        assert set(section["baselines"]) == {
            "buy_and_hold",
            "flat",
            "random",
            "random_uniform",
            "ma_crossover",
        }
        for metrics in section["baselines"].values():
            assert set(metrics) == agent_keys  # sortino, calmar... for baselines too
        assert len(section["random_sharpes"]) == 4


def test_the_beats_random_share_reaches_the_dvc_metrics(trained_run):
    """Defect a) of issue 11: the report read a key the trainer never wrote."""
    summary = read_run(trained_run)
    flat = dvc_metrics(summary)
    for split in ("val", "test"):
        section = summary["splits"][split]
        expected = beats_random_share(section["agent"]["sharpe"], section["random_sharpes"])
        assert expected is not None and 0.0 <= expected <= 1.0
        assert flat[f"{split}/agent/beats_random_share"] == expected


def test_beats_random_share_counts_strictly_better_runs_and_skips_missing_ones():
    assert beats_random_share(1.0, [0.5, 1.0, 2.0, None, math.nan]) == pytest.approx(1 / 3)
    assert beats_random_share(None, [0.5]) is None
    assert beats_random_share(1.0, []) is None
    assert beats_random_share(math.inf, [0.5]) is None


def test_non_finite_numbers_are_null_in_json():
    assert json_number(math.nan) is None and json_number(-math.inf) is None
    assert json_number(None) is None and json_number(2) == 2.0
    assert json_safe({"calmar": math.nan, "sharpe": 1.5}) == {"calmar": None, "sharpe": 1.5}


def test_the_dvc_metrics_are_flat_keys_named_as_in_mlflow(trained_run):
    """`dvc metrics show` prints a nested key joined with '.': the file holds the MLflow
    names (val/agent/sharpe) flat, every key parses, and the agent's Sharpe is the run's."""
    from qraptor.evaluation.metric_names import parse_metric_key

    summary = read_run(trained_run)
    flat = dvc_metrics(summary)
    assert not any(isinstance(v, dict) for v in flat.values())
    assert flat["objective"] == summary["objective"]
    assert flat["session/timesteps"] == summary["timesteps"]
    rest = [k for k in flat if k not in ("objective", "session/timesteps")]
    assert {parse_metric_key(k)[1] for k in rest} == {
        "agent", "buy_and_hold", "flat", "random", "random_uniform", "ma_crossover", "verdict",
    }  # fmt: skip
    for split in ("val", "test"):
        agent = summary["splits"][split]["agent"]
        assert flat[f"{split}/agent/sharpe"] == agent["sharpe"]
        assert 0.0 <= flat[f"{split}/agent/psr"] <= 1.0
    assert [k for k in flat if "." in k] == []


def test_one_table_reads_the_summary_and_the_dvc_metrics_alike(trained_run):
    """The agent-vs-baselines rows are the same whether built from the run's summary (what
    `qraptor train` and `sessions show` print) or from the DVC metrics (`qraptor evaluate`)."""
    from qraptor.evaluation.policy_table import COLUMNS, policy_rows

    summary = read_run(trained_run)
    from_summary = policy_rows(summary["splits"])
    from_dvc = policy_rows(dvc_sections(dvc_metrics(summary)))
    assert [(r.split, r.policy) for r in from_summary] == [(r.split, r.policy) for r in from_dvc]
    assert [r.cells(COLUMNS) for r in from_summary] == [r.cells(COLUMNS) for r in from_dvc]
    assert from_summary[0].policy == "agent" and len(from_summary) == 2 * 6  # agent + 5 baselines


def test_metrics_are_shown_in_their_units():
    from qraptor.core.formatting import format_metric, format_value

    assert format_metric("total_return", 0.0345) == "+3.45%"
    assert format_metric("max_drawdown", 0.02) == "2.00%"
    assert format_metric("sharpe", 1.234) == "1.23"
    assert format_metric("n_trades", 1234.0) == "1,234"
    assert format_metric("sharpe", math.nan) == "-" and format_metric("calmar", None) == "-"
    assert format_value(123456.0) == "123,456" and format_value(0.012345) == "0.01235"


def test_every_split_of_the_summary_and_the_dvc_metrics_carries_the_verdict(trained_run):
    """Issue 14: the agent's bar returns against buy-and-hold's on the same bars, recomputed
    here from the written equity curves; the DVC metrics keep its numbers, not its text."""
    import pandas as pd
    from scipy import stats

    from qraptor.core import layout
    from qraptor.evaluation.policy_table import verdict_lines

    summary = read_run(trained_run)
    flat = dvc_metrics(summary)
    for split in ("val", "test"):
        verdict = summary["splits"][split]["verdict"]
        folder = layout.eval_dir(trained_run, split)
        agent = pd.read_csv(folder / layout.EQUITY)["equity"].to_numpy()
        bench = pd.read_csv(folder / layout.BASELINES_EQUITY)["buy_and_hold"].to_numpy()
        agent = np.concatenate([agent, np.full(len(bench) - len(agent), agent[-1])])
        excess = np.diff(agent) / agent[:-1] - np.diff(bench) / bench[:-1]
        if excess.std() > 0:
            sr = excess.mean() / excess.std(ddof=1)
            g3, g4 = stats.skew(excess), stats.kurtosis(excess, fisher=False)
            z = sr * math.sqrt(len(excess) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
            assert verdict["psr_vs_benchmark"] == pytest.approx(stats.norm.cdf(z), rel=1e-9)
        assert verdict["benchmark"] == "buy_and_hold" and verdict["n_trials"] == 1
        assert verdict["text"].startswith(("evidence of an edge", "no evidence of an edge"))
        assert verdict["edge"] == verdict["text"].startswith("evidence")
        assert flat[f"{split}/verdict/edge"] is verdict["edge"]
        assert flat[f"{split}/verdict/psr_vs_buy_and_hold"] == verdict["psr_vs_benchmark"]
        assert f"{split}/verdict/text" not in flat
        assert f"{split}/agent/psr" in flat and f"{split}/buy_and_hold/psr" in flat
    # the same lines from the summary (qraptor train) and from the DVC file (qraptor evaluate)
    assert verdict_lines(summary["splits"]) == verdict_lines(dvc_sections(flat))
    assert verdict_lines(dvc_sections(flat))[1].startswith("test: ")


def test_dvc_metrics_show_prints_the_mlflow_names(trained_run, tmp_path: Path):
    """`qraptor evaluate`'s file in a DVC project: `dvc metrics show` lists the keys as
    MLflow names them (no '.'-joined nesting), with the run folder's numbers."""
    import json
    import subprocess
    import sys

    from qraptor.evaluation.report import write_reports

    project = tmp_path / "project"
    project.mkdir()
    metrics_path = project / "evaluate.json"
    write_reports(trained_run, metrics_path, tmp_path / "plots", tmp_path / "figures")
    written = json.loads(metrics_path.read_text())
    (project / "dvc.yaml").write_text("metrics:\n  - evaluate.json\n")
    dvc = str(Path(sys.executable).parent / "dvc")
    env = {"DVC_NO_ANALYTICS": "1", "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    for args in (["git", "init", "-q"], [dvc, "init", "-q"]):
        subprocess.run(args, cwd=project, check=True, env=env, capture_output=True)
    done = subprocess.run([dvc, "metrics", "show", "--json"], cwd=project, env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    shown = json.loads(done.stdout)[""]["data"]["evaluate.json"]["data"]
    assert shown == {k: v for k, v in written.items() if v is not None}  # DVC skips nulls
    on_disk = json.loads((trained_run / "eval" / "val" / "metrics.json").read_text())
    assert shown["val/agent/sharpe"] == on_disk["agent"]["sharpe"]
    assert shown["val/buy_and_hold/sharpe"] == on_disk["baselines"]["buy_and_hold"]["sharpe"]
    table = subprocess.run([dvc, "metrics", "show"], cwd=project, env=env, capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert "val/agent/sharpe" in table and "val/verdict/psr" in table and ".agent." not in table
