"""The agent-vs-baselines table `qraptor evaluate` prints (and `make demo` shows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from qraptor.cli.main import main
from qraptor.evaluation.metric_names import flat_metrics
from qraptor.evaluation.report import summary_table

METRICS = {  # what `qraptor evaluate` writes: flat keys, MLflow's names
    "objective": 0.5,
    "session/timesteps": 1000,
    "test/agent/total_return": 0.0345,
    "test/agent/sharpe": 1.234,
    "test/agent/max_drawdown": 0.02,
    "test/agent/n_trades": 7.0,
    "test/agent/beats_random_share": 0.75,
    "test/buy_and_hold/total_return": -0.01,
    "test/buy_and_hold/sharpe": -0.5,
    "test/buy_and_hold/max_drawdown": 0.05,
}
# a file of an evaluate stage before the flat names (nested keys) still shows
NESTED = {
    "objective": 0.5,
    "timesteps": 1000,
    "test": {
        "agent": {"total_return": 0.0345, "sharpe": 1.234, "max_drawdown": 0.02, "n_trades": 7.0},
        "buy_and_hold": {"total_return": -0.01, "sharpe": -0.5, "max_drawdown": 0.05},
        "agent_beats_random_share": 0.75,
    },
}


def _text(table) -> str:
    console = Console(width=80, record=True)
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize("metrics", [METRICS, NESTED], ids=["flat", "nested"])
def test_every_policy_of_every_split_is_a_row_that_fits_80_columns(metrics):
    text = _text(summary_table(metrics))
    rows = [line for line in text.splitlines() if line.split()[:1] == ["test"]]
    assert len(rows) == 2
    assert "agent" in rows[0] and "+3.45%" in rows[0] and "1.23" in rows[0] and "7" in rows[0]
    assert "buy_and_hold" in rows[1] and "-1.00%" in rows[1] and "5.00%" in rows[1]
    assert "test 75%" in text  # share of random runs the agent's Sharpe beats
    assert "…" not in text  # nothing cut at 80 columns


VERDICT = {
    "edge": False, "sharpe": 1.9, "t_stat": 0.8, "psr": 0.79, "psr_vs_buy_and_hold": 0.9,
}  # fmt: skip
WIDE = flat_metrics({
    "val": {
        "agent": {"total_return": -0.0378, "sharpe": -4.12, "psr": 0.06, "max_drawdown": 0.0396,
                  "turnover": 101.0, "costs_paid": 2470.0, "n_trades": 57.0},
        **{name: {"total_return": -0.1653, "sharpe": -23.57, "psr": 0.0, "max_drawdown": 0.1663,
                  "turnover": 737.2, "costs_paid": 16815.0, "n_trades": 554.0}
           for name in ("buy_and_hold", "flat", "random", "random_uniform", "ma_crossover")},
        "verdict": VERDICT,
    }
})  # fmt: skip


def test_psr_stands_next_to_each_sharpe_and_the_verdict_under_the_table():
    text = _text(summary_table(WIDE))
    lines = text.splitlines()
    header = next(line for line in lines if "Sharpe" in line).split()
    assert header[header.index("Sharpe") + 1] == "PSR"
    rows = [line.split() for line in lines if line.split()[:1] == ["val"]]
    assert [row[1] for row in rows] == [
        "agent",
        "buy_and_hold",
        "flat",
        "random",
        "random_uniform",
        "ma_crossover",
    ]  # fmt: skip  (the verdict is no row)
    assert rows[0][4] == "0.06"
    assert "…" not in text and max(len(line.rstrip()) for line in lines) <= 80
    verdict = " ".join(text[text.index("val: no evidence") :].split())
    assert verdict == (
        "val: no evidence of an edge over buy-and-hold after costs (PSR 0.90 vs buy-and-hold, "
        "0.79 alone, t 0.8): not ahead of buy-and-hold beyond chance; Sharpe not above 0 "
        "beyond chance"
    )


def test_show_prints_an_existing_metrics_file_and_names_a_missing_one(tmp_path: Path, capsys):
    path = tmp_path / "evaluate.json"
    path.write_text(json.dumps(METRICS))
    assert main(["evaluate", "--metrics", str(path), "--show"]) == 0
    assert "+3.45%" in capsys.readouterr().out
    path.write_text(json.dumps(WIDE))
    assert main(["evaluate", "--metrics", str(path), "--show"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("beyond chance") and "val: no evidence of an edge" in out
    assert main(["evaluate", "--metrics", str(tmp_path / "none.json"), "--show"]) == 2
    err = capsys.readouterr().err
    assert "none.json" in err and "dvc repro evaluate" in err
    path.write_text("{not json")
    assert main(["evaluate", "--metrics", str(path), "--show"]) == 2
    err = capsys.readouterr().err
    assert "evaluate.json" in err and "not valid JSON" in err
