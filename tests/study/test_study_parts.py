"""The study's parts without training: scores across seeds, stitching, Optuna's ask/tell and
pruning, and a report that is written atomically."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from optuna.trial import TrialState

from qraptor.study.config import compose_study, study_config_from
from qraptor.study.folds import Fold, Layout, Window
from qraptor.study.report import OOS_RETURNS, STUDY_JSON, write_report
from qraptor.study.run import StudyResult, TrialRecord, select
from qraptor.study.search import FAILED, FINISHED, PRUNED, OptunaSearch
from qraptor.study.stitch import seed_score, stitch


def _series(values, start: str) -> pd.Series:
    index = pd.date_range(start, periods=len(values), freq="h", tz="UTC", name="timestamp")
    return pd.Series(values, index=index, dtype=float)


def test_scores_across_seeds_are_median_or_a_lower_bound_never_the_best() -> None:
    sharpes = [0.30, -0.10, 0.05]
    assert seed_score(sharpes, "median", 0.95) == pytest.approx(0.05)
    mean, std = np.mean(sharpes), np.std(sharpes, ddof=1)
    lcb = mean - 2.919985580355516 * std / math.sqrt(3)  # t(0.95, 2 dof)
    assert seed_score(sharpes, "lcb", 0.95) == pytest.approx(lcb)
    assert seed_score(sharpes, "median", 0.95) < max(sharpes)
    assert math.isnan(seed_score([0.1, math.nan], "median", 0.95))  # a seed without a score


def test_stitching_concatenates_disjoint_windows_and_refuses_overlaps() -> None:
    first = _series([0.01, -0.02], "2024-01-01").to_frame("agent")
    second = _series([0.03], "2024-01-02").to_frame("agent")
    stitched = stitch([second, first])
    assert list(stitched["agent"]) == [0.01, -0.02, 0.03]  # time order
    with pytest.raises(ValueError, match="overlap"):
        stitch([first, _series([0.5], "2024-01-01 01:00").to_frame("agent")])


def test_select_takes_the_best_finished_score_only() -> None:
    trials = [
        TrialRecord(0, {}, FINISHED, score=0.1),
        TrialRecord(1, {}, FAILED),
        TrialRecord(2, {}, PRUNED, running_score=9.0),
        TrialRecord(3, {}, FINISHED, score=0.2),
    ]
    chosen = select(trials)
    assert chosen is not None and chosen.number == 3
    assert select([TrialRecord(0, {}, FAILED)]) is None


SPACE = (
    "space={algo.gamma: {type: float, low: 0.9, high: 0.999},"
    " algo.n_steps: {type: int, low: 32, high: 128, step: 32}}"
)


def _optuna_config(*extra: str):
    overrides = ["search=optuna", "n_trials=4", "n_startup_trials=1", SPACE, *extra]
    return study_config_from(compose_study(overrides))


def test_optuna_search_asks_and_is_told_every_outcome() -> None:
    search = OptunaSearch(_optuna_config())
    outcomes = [(FINISHED, 0.2), (FAILED, math.nan), (PRUNED, math.nan), (FINISHED, -0.1)]
    proposals = []
    for status, score in outcomes:
        proposal = search.ask()
        assert 0.9 <= proposal.params["algo.gamma"] <= 0.999
        assert proposal.params["algo.n_steps"] in (32, 64, 96, 128)
        search.tell(proposal, status, score)
        proposals.append(proposal)
    states = [t.state for t in search.study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED, TrialState.COMPLETE]
    again = OptunaSearch(_optuna_config())  # the seeded sampler proposes the same trial first
    assert again.ask().params == proposals[0].params


def test_median_pruning_after_a_fold() -> None:
    search = OptunaSearch(_optuna_config("prune=true", "prune_startup_trials=1"))
    good = search.ask()
    assert not search.report(good, 0, 0.5)
    search.tell(good, FINISHED, 0.5)
    bad = search.ask()
    assert search.report(bad, 0, -0.5)  # below the median of earlier trials at fold 0


def _small_result() -> StudyResult:
    rng = np.random.default_rng(0)
    trials = []
    for number in range(2):
        record = TrialRecord(number, {"algo.gamma": 0.9 + number / 100})
        for fold, start in ((0, "2024-01-01"), (1, "2024-02-01")):
            record.folds_done.append(fold)
            record.fold_returns[fold] = {0: _series(rng.normal(0, 0.01, 64), start)}
            record.fold_sharpes[fold] = {0: 0.0}
            record.baseline_returns[fold] = pd.DataFrame(
                {"buy_and_hold": _series(rng.normal(0, 0.01, 64), start), "flat": 0.0}
            )
        record.score = float(number)
        trials.append(record)
    folds = (Fold(0, Window(0, 10), Window(10, 12), Window(12, 76)),
             Fold(1, Window(0, 76), Window(76, 78), Window(78, 142)))  # fmt: skip
    layout = Layout(Path("x"), folds, Window(0, 100), Window(142, 144), Window(144, 200), 2)
    cfg = study_config_from(compose_study(["seeds=1"]))
    return StudyResult("study-x", cfg, layout, trials, trials[1], None, [])


def test_the_report_is_written_atomically(tmp_path: Path, monkeypatch) -> None:
    result = _small_result()
    summary = write_report(result, tmp_path, periods_per_year=8760.0)
    assert summary["selection"]["trial"] == 1 and summary["statistics"]["pbo"]["n_trials"] == 2
    old_json = (tmp_path / STUDY_JSON).read_bytes()
    old_parquet = (tmp_path / OOS_RETURNS).read_bytes()

    def broken(self, path, *args, **kwargs):  # half a file, then the disk fills up
        Path(path).write_bytes(b"PAR1 half")
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError):
        write_report(result, tmp_path, periods_per_year=8760.0)
    assert (tmp_path / OOS_RETURNS).read_bytes() == old_parquet  # the old file, whole
    assert (tmp_path / STUDY_JSON).read_bytes() == old_json
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = ["oos_baselines.parquet", "oos_equity.parquet", "oos_equity.png",
                "oos_returns.parquet", "oos_seed_returns.parquet", "study.json"]  # fmt: skip
    assert names == sorted(expected)
