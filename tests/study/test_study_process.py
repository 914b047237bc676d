"""A 4-fold x 3-seed study of the EUR/USD sample through the process runner (tiny sessions).

One good configuration and one with a bad hyperparameter value: 12 fold sessions for the
first, one failed session for the second, then the held-out test once, for the first.
What is checked comes from the files the sessions and the study wrote, not from the
study's own account of them: each session's config.yaml, its evaluated equity's
timestamps, splits.json, study.json and the parquet files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from study_helpers import WINDOW, splits

from qraptor.evaluation.statistics import minimum_track_record_length

BAD_LEARNING_RATE = -1.0

# 16 sessions (~30 s): the module's one study, shared by its tests
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def result(sample_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    from qraptor.cli.study import run

    out = tmp_path_factory.mktemp("study") / "out"
    summary = run(
        [
            "experiment=tiny",
            "tracking.enabled=false",
            f"session.dataset={sample_dataset}",
            f"out_dir={out}",
            "search=grid",
            "n_trials=2",
            f"grid=[{{algo.n_epochs: 2}}, {{algo.learning_rate: {BAD_LEARNING_RATE}}}]",
        ],
        progress=False,
    )
    return summary, out


def _session_dirs(out: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((out / "sessions").iterdir())}


def test_twelve_fold_sessions_of_the_good_trial(result) -> None:
    summary, out = result
    fold_sessions = [s for s in summary["sessions"] if s["trial"] == 0 and s["fold"] is not None]
    assert len(fold_sessions) == 12
    assert {(s["fold"], s["seed"]) for s in fold_sessions} == {
        (k, seed) for k in range(4) for seed in range(3)
    }
    assert all(s["status"] == "succeeded" for s in fold_sessions)
    trained = [d for d in _session_dirs(out).values() if "fold" in d.name and "trial000" in d.name]
    assert len(trained) == 12  # a run folder each, with its own config
    for folder in trained:
        session = yaml.safe_load((folder / "config.yaml").read_text())["session"]
        assert session["fold"] is not None and session["eval"]["splits"] == ["test"]
        assert session["train_split"] == "train"
        card = (folder / "model_card.md").read_text()  # the model card of each session
        assert f"of walk-forward fold {session['fold']} " in card
        assert "- `algo.n_epochs: 2 (default " in card  # the trial's grid point, diffed


def test_every_oos_window_is_disjoint_from_the_test_span_with_embargoes(
    result, sample_dataset: Path
) -> None:
    _, out = result
    meta = splits(sample_dataset)
    chrono = meta["chrono"]["spans"]
    embargo_start = pd.Timestamp(chrono["embargo_before_test"]["first"])
    test_first = pd.Timestamp(chrono["test"]["first"])
    assert chrono["embargo_before_test"]["rows"] == meta["embargo_bars"] > 0
    for folder in _session_dirs(out).values():
        if "fold" not in folder.name:
            continue
        fold = int(folder.name.split("fold")[1].split("-")[0])
        spans = meta["walk_forward"]["folds"][fold]["spans"]
        equity = pd.read_csv(folder / "eval/test/equity.csv", parse_dates=["timestamp"])
        stamps = pd.to_datetime(equity["timestamp"], utc=True)
        assert stamps.max() < embargo_start < test_first  # the embargo before the test span
        assert stamps.min() >= pd.Timestamp(spans["test"]["first"])
        assert stamps.max() <= pd.Timestamp(spans["test"]["last"])
        # between the fold's training span and its test window: the embargo's bars
        assert spans["test"]["start_row"] - spans["train"]["stop_row"] == meta["embargo_bars"]
        assert pd.Timestamp(spans["train"]["last"]) < pd.Timestamp(spans["embargo"]["first"])


def test_stitched_series_cover_the_fold_test_windows(result, sample_dataset: Path) -> None:
    summary, out = result
    folds = splits(sample_dataset)["walk_forward"]["folds"]
    expected = sum(f["spans"]["test"]["rows"] - WINDOW for f in folds)
    per_seed = pd.read_parquet(out / "oos_seed_returns.parquet")
    for seed in range(3):
        column = per_seed[f"trial_000.seed_{seed}"]
        assert column.notna().sum() == expected
        assert column.index.is_monotonic_increasing and not column.index.has_duplicates
    trial = summary["trials"][0]
    assert trial["oos_bars"] == expected
    seed_sharpes = list(trial["seed_sharpe_per_bar"].values())
    assert trial["score"] == pytest.approx(float(np.median(seed_sharpes)))  # not the best seed


def test_the_test_span_is_evaluated_once_for_the_selected_configuration(result) -> None:
    summary, out = result
    assert summary["selection"]["trial"] == 0
    held = [s for s in summary["sessions"] if s["fold"] is None]
    assert [(s["trial"], s["seed"]) for s in held] == [(0, 0), (0, 1), (0, 2)]
    touching = []
    for folder in _session_dirs(out).values():
        session = yaml.safe_load((folder / "config.yaml").read_text())["session"]
        if session["fold"] is None:  # the chronological split: its test is the held-out span
            touching.append(folder.name)
    assert touching == ["trial000-test-seed0", "trial000-test-seed1", "trial000-test-seed2"]
    verdict = summary["held_out"]["verdict"]
    assert verdict["split"] == "test" and verdict["benchmark"] == "buy_and_hold"
    assert "over buy-and-hold after costs" in verdict["text"]
    assert "chronological train split" in summary["held_out"]["retrained_on"]


def test_a_failed_trial_keeps_its_status_and_series(result) -> None:
    summary, out = result
    failed = summary["trials"][1]
    assert failed["status"] == "failed" and failed["score"] is None
    assert "learning_rate" in failed["error"]
    assert failed["params"] == {"algo.learning_rate": BAD_LEARNING_RATE}
    returns = pd.read_parquet(out / "oos_returns.parquet")
    assert list(returns.columns) == ["trial_000", "trial_001"]  # failed trials included
    assert returns["trial_001"].isna().all()  # no fold completed before the failure
    assert returns["trial_000"].notna().all()


def test_track_record_and_report_files(result) -> None:
    summary, out = result
    returns = pd.read_parquet(out / "oos_returns.parquet")["trial_000"].to_numpy()
    record = summary["statistics"]["track_record"]
    bars = minimum_track_record_length(returns)
    assert record["bars_observed"] == len(returns)
    if np.isfinite(bars):
        assert record["bars_still_needed"] == max(0, int(np.ceil(bars - len(returns))))
    else:
        assert record["bars_still_needed"] is None
    assert summary["statistics"]["pbo"]["pbo"] is None  # one finished trial: nothing to compare
    assert summary["statistics"]["dsr"]["n_trials"] == 2  # the failed trial counts
    on_disk = json.loads((out / "study.json").read_text())
    assert on_disk["selection"]["trial"] == 0
    assert (out / "oos_equity.png").stat().st_size > 10_000
    equity = pd.read_parquet(out / "oos_equity.parquet")  # what the figure draws
    assert {"seed_0", "seed_1", "seed_2", "median", "buy_and_hold", "flat"} <= set(equity.columns)
    assert (equity["flat"] == 1.0).all() and len(equity) == summary["trials"][0]["oos_bars"]
    seed0 = pd.read_parquet(out / "oos_seed_returns.parquet")["trial_000.seed_0"]
    assert equity["seed_0"].iloc[-1] == pytest.approx(float((1 + seed0).prod()))
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
