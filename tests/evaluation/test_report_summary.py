"""The agent-vs-baselines table `qraptor evaluate` prints (and `make demo` shows)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from qraptor.cli.main import main
from qraptor.evaluation.report import summary_table

METRICS = {
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


def test_every_policy_of_every_split_is_a_row_that_fits_80_columns():
    text = _text(summary_table(METRICS))
    rows = [line for line in text.splitlines() if line.split()[:1] == ["test"]]
    assert len(rows) == 2
    assert "agent" in rows[0] and "+3.45%" in rows[0] and "1.23" in rows[0] and "7" in rows[0]
    assert "buy_and_hold" in rows[1] and "-1.00%" in rows[1] and "5.00%" in rows[1]
    assert "test 75%" in text  # share of random runs the agent's Sharpe beats
    assert "…" not in text  # nothing cut at 80 columns


def test_show_prints_an_existing_metrics_file_and_names_a_missing_one(tmp_path: Path, capsys):
    path = tmp_path / "evaluate.json"
    path.write_text(json.dumps(METRICS))
    assert main(["evaluate", "--metrics", str(path), "--show"]) == 0
    assert "+3.45%" in capsys.readouterr().out
    assert main(["evaluate", "--metrics", str(tmp_path / "none.json"), "--show"]) == 2
    err = capsys.readouterr().err
    assert "none.json" in err and "dvc repro evaluate" in err
