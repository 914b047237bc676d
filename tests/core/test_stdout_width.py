"""A command's tables fit the terminal they are printed to: 80 columns off a terminal,
the content's own width with --wide (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from qraptor.analysis.metrics_view import flat_figures, metrics_table
from qraptor.core.log import PIPED_WIDTH, console_for_stdout


def test_piped_output_is_80_columns_and_wide_is_unbounded(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert console_for_stdout().width == PIPED_WIDTH == 80  # pytest's stdout is no terminal
    assert console_for_stdout(wide=True).width >= 1000
    # where a command has no --wide (train's, backtest's and study's tables), COLUMNS says
    monkeypatch.setenv("COLUMNS", "160")
    assert console_for_stdout().width == 160
    monkeypatch.setenv("COLUMNS", "wide")  # not a number: ignored
    assert console_for_stdout().width == PIPED_WIDTH


def test_metrics_are_compact_and_fit_80_columns(tmp_path: Path):
    (tmp_path / "clean.json").write_text(json.dumps({
        "rows_in": 6225, "rows_out": 6200, "gap_longest_seconds": 3600.0,
        "rules": {"missing_value": 0, "duplicate": 0},
    }))  # fmt: skip
    (tmp_path / "split.json").write_text(json.dumps({
        "row_convention": "spans are [start_row, stop_row) positions in dataset.parquet " * 2,
        "chrono": {"counts": {"train": 4126, "val": 868},
                   "spans": {"train": {"start_row": 0}, "val": {"start_row": 4273}},
                   "fitted": {"mean": {"a": 1e-5, "b": 2.0}}},
        "feature_columns": ["a", "b", "c", "d"], "windows": [12, 26, 9],
    }))  # fmt: skip
    (tmp_path / "evaluate.json").write_text(json.dumps({"val/agent/sharpe": 1.0}))
    figures = dict(flat_figures(json.loads((tmp_path / "split.json").read_text())))
    assert figures["chrono.counts.train"] == "4,126"  # two levels deep, thousands
    assert figures["chrono.spans"] == "[2]" and figures["chrono.fitted.mean"] == "[2]"
    assert figures["feature_columns"] == "[4]" and figures["windows"] == "12,26,9"
    assert "row_convention" not in figures  # prose stays in the file
    clean = dict(flat_figures(json.loads((tmp_path / "clean.json").read_text())))
    assert clean["rules"] == "all 0 (2)" and clean["gap_longest_seconds"] == "3,600"
    console = Console(width=80, record=True)
    console.print(metrics_table(tmp_path))
    shown = console.export_text()
    assert max(len(line) for line in shown.splitlines()) <= 80
    assert "clean" in shown and "split" in shown and "evaluate" not in shown
    assert shown.index("clean") < shown.index("split")  # pipeline order
