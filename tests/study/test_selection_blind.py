"""Selection never sees the held-out test span: change the test span's bars and the trials'
scores and the selection stay exactly the same, while the held-out result changes (proof
that the change reached what the test span is evaluated on)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

GRID = "grid=[{algo.learning_rate: 0.0003}, {algo.learning_rate: 0.002}]"
SMALL = ("search=grid", "n_trials=2", GRID, "folds=[2,3]", "seeds=1")
PRICES = ["open", "high", "low", "close", "vwap"]


def _with_other_test_span(dataset: Path, out: Path) -> Path:
    """A copy of `dataset` whose test rows carry other prices and features (time order kept)."""
    shutil.copytree(dataset, out)
    frame = pd.read_parquet(out / "dataset.parquet")
    test = frame.index[frame["split"] == "test"]
    changed = [c for c in frame.columns if c not in ("timestamp", "split")]
    frame.loc[test, changed] = frame.loc[test[::-1], changed].to_numpy()  # the bars reversed
    rng = np.random.default_rng(7)
    frame.loc[test, PRICES] = frame.loc[test, PRICES].to_numpy() * rng.uniform(0.98, 1.02)
    frame.to_parquet(out / "dataset.parquet", index=False)
    return out


def test_changing_the_test_span_changes_nothing_the_selection_saw(
    sample_dataset: Path, study, tmp_path: Path
) -> None:
    other = _with_other_test_span(sample_dataset, tmp_path / "other")
    before = pd.read_parquet(sample_dataset / "dataset.parquet")
    after = pd.read_parquet(other / "dataset.parquet")
    test = before["split"] == "test"
    assert not before.loc[test, "close"].equals(after.loc[test, "close"])  # the change is real
    assert before.loc[~test].equals(after.loc[~test])

    first = study(sample_dataset, *SMALL, out=tmp_path / "a")
    second = study(other, *SMALL, out=tmp_path / "b")

    for a, b in zip(first["trials"], second["trials"], strict=True):
        assert a["score"] == b["score"] and a["fold_sharpe_per_bar"] == b["fold_sharpe_per_bar"]
    assert first["selection"]["trial"] == second["selection"]["trial"]
    held_a, held_b = first["held_out"], second["held_out"]
    assert held_a["seed_sharpe_per_bar"] != held_b["seed_sharpe_per_bar"]
    # the held-out sessions: the selected trial's, one per seed, and nobody else's
    for summary in (first, second):
        held = [(s["trial"], s["seed"]) for s in summary["sessions"] if s["fold"] is None]
        assert held == [(summary["selection"]["trial"], 0)]
        folds = {s["fold"] for s in summary["sessions"] if s["fold"] is not None}
        assert folds == {2, 3}
