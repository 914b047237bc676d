"""Data overview: gaps, cleaning report, returns, splits and feature correlations, on planted
inputs and on the real sample pipeline outputs; missing outputs name the command to run."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qraptor.analysis import data_overview as overview
from qraptor.analysis.project import ProjectPaths, find_project_root, project_paths
from qraptor.core.errors import DataError, QraptorError

ROOT = Path(__file__).resolve().parents[2]


def hourly_weekdays(start: str, days: int) -> pd.Series:
    """Hourly bars on weekdays only (an FX-like calendar)."""
    stamps = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
    return pd.Series(stamps[stamps.day_of_week < 5])


def test_find_gaps_separates_weekends_from_a_planted_weekday_hole():
    stamps = hourly_weekdays("2024-01-01", 14)  # two weeks from a Monday
    hole = (stamps >= "2024-01-03 10:00") & (stamps < "2024-01-03 15:00")  # 5 bars missing
    gaps = overview.find_gaps(stamps[~hole])
    weekday = gaps[~gaps["over_weekend"]]
    assert len(weekday) == 1
    assert weekday["last_before"].iloc[0] == pd.Timestamp("2024-01-03 09:00", tz="UTC")
    assert weekday["first_after"].iloc[0] == pd.Timestamp("2024-01-03 15:00", tz="UTC")
    assert weekday["missing_bars"].iloc[0] == 5
    assert gaps["over_weekend"].sum() == 1  # the one weekend inside two weeks
    summary = overview.gap_summary(gaps)
    assert summary.loc["weekday", "count"] == 1 and summary.loc["weekend", "count"] == 1
    assert summary.loc["weekend", "longest"] == pd.Timedelta(hours=49)


def test_no_gap_in_regular_bars_and_an_explicit_threshold():
    stamps = pd.Series(pd.date_range("2024-01-01", periods=50, freq="min", tz="UTC"))
    assert overview.find_gaps(stamps).empty
    assert overview.bar_spacing(stamps) == pd.Timedelta(minutes=1)
    thinned = stamps.drop(index=[10, 11])
    assert len(overview.find_gaps(thinned, min_gap="5min")) == 0
    assert len(overview.find_gaps(thinned, min_gap="2min")) == 1


def test_log_returns_and_their_statistics():
    bars = pd.DataFrame(
        {
            "timestamp": pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"),
            "close": [100.0, 110.0, 99.0, 99.0],
        }
    )
    returns = overview.log_returns(bars)
    np.testing.assert_allclose(returns.to_numpy(), np.log([1.1, 0.9, 1.0]))
    assert returns.index[0] == bars["timestamp"].iloc[1]
    assert overview.return_statistics(returns)["count"] == 3


def test_tail_frequencies_see_fat_tails_that_a_normal_does_not_have():
    rng = np.random.default_rng(0)
    normal = overview.tail_frequencies(pd.Series(rng.normal(size=200_000)))
    fat = overview.tail_frequencies(pd.Series(rng.standard_t(3, size=200_000)))
    assert normal.set_index("sigmas").loc[3, "ratio"] == pytest.approx(1.0, abs=0.15)
    assert fat.set_index("sigmas").loc[4, "ratio"] > 3.0
    stats = overview.return_statistics(pd.Series(rng.standard_t(3, size=200_000)))
    assert stats["excess_kurtosis"] > 3 and stats["jarque_bera_p"] < 1e-6


def test_correlated_pairs_find_a_planted_duplicate_first():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=500), rng.normal(size=500)
    frame = pd.DataFrame(
        {
            "timestamp": np.arange(500),
            "close": 1.0,
            "x": x,
            "twice_x": 2 * x + 1,
            "y": y,
            "minus_y": -y + 0.1 * rng.normal(size=500),
        }
    )
    correlations = overview.feature_correlations(frame)
    assert list(correlations.columns) == ["x", "twice_x", "y", "minus_y"]  # bar columns left out
    pairs = overview.correlated_pairs(correlations, threshold=0.8)
    assert {pairs["feature_a"].iloc[0], pairs["feature_b"].iloc[0]} == {"x", "twice_x"}
    assert pairs["correlation"].iloc[0] == pytest.approx(1.0)
    assert set(map(frozenset, zip(pairs["feature_a"], pairs["feature_b"], strict=True))) == {
        frozenset({"x", "twice_x"}),
        frozenset({"y", "minus_y"}),
    }
    assert (pairs["correlation"].iloc[1]) < 0


def test_clean_report_table_puts_rules_that_found_rows_first():
    report = {
        "rules": {"missing_value": 0, "duplicate": 3, "gap": 1},
        "details": {
            "duplicate": {
                "action": "dropped",
                "violation": True,
                "description": "copy",
                "examples": ["a.csv row 7: ...", "a.csv row 9: ..."],
            }
        },
    }
    table = overview.clean_report_table(report)
    assert list(table["rule"]) == ["duplicate", "gap", "missing_value"]
    assert table["first_example"].iloc[0] == "a.csv row 7: ..."
    assert table["action"].iloc[0] == "dropped"


# -- on the real sample pipeline outputs ------------------------------------------------


def test_the_sample_outputs_load_and_summarise(sample_project: ProjectPaths):
    bars = overview.load_bars(sample_project)
    assert len(bars) == 6225 and bars["timestamp"].is_monotonic_increasing
    gaps = overview.find_gaps(bars["timestamp"])
    assert gaps["over_weekend"].sum() >= 50  # one a week in 2017
    assert not gaps.loc[~gaps["over_weekend"], "first_after"].empty  # Christmas 2017
    table = overview.clean_report_table(overview.load_clean_report(sample_project))
    assert "gap" in set(table["rule"]) and (table["rows"] >= 0).all()
    assert table["description"].str.len().gt(0).all()  # the full report, with descriptions


def test_feature_correlations_of_the_sample_are_a_correlation_matrix(sample_project):
    features = overview.load_features(sample_project)
    correlations = overview.feature_correlations(features)
    names = overview.feature_names(features)
    assert list(correlations.columns) == names == list(correlations.index)
    values = correlations.to_numpy()
    np.testing.assert_allclose(values, values.T)
    np.testing.assert_allclose(np.diag(values), 1.0)
    assert np.all(np.abs(values) <= 1.0 + 1e-12)


def test_spans_and_returns_by_split_follow_the_split_metadata(sample_project):
    dataset, metadata = overview.load_dataset(sample_project)
    spans = overview.split_spans(metadata)
    assert list(spans["span"])[::2] == ["train", "val", "test"]
    assert spans["first"].is_monotonic_increasing
    by_split = overview.returns_by_split(dataset)
    assert list(by_split.columns) == ["train", "val", "test"]
    counts = dataset["split"].value_counts()
    for split in ("val", "test"):  # each of these rows has a previous bar
        assert by_split.loc["count", split] == counts[split]
    folds = overview.walk_forward_folds(metadata)
    assert folds["fold"].nunique() == metadata["walk_forward"]["n_folds"]


# -- missing outputs and project discovery ----------------------------------------------


def test_missing_outputs_name_the_file_and_the_command(tmp_path: Path):
    shutil.copy2(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    paths = project_paths(tmp_path)
    with pytest.raises(DataError, match=r"bars\.parquet.*dvc repro reduce"):
        overview.load_bars(paths)
    with pytest.raises(DataError, match=r"splits\.json.*dvc repro split"):
        overview.load_dataset(paths)
    with pytest.raises(DataError, match=r"clean\.json.*dvc repro clean"):
        overview.load_clean_report(paths)


def test_the_project_is_found_from_a_subfolder_and_paths_come_from_dvc_yaml(tmp_path, monkeypatch):
    text = (
        (ROOT / "dvc.yaml")
        .read_text()
        .replace("bars: data/processed/bars.parquet", "bars: elsewhere/bars.parquet")
    )
    (tmp_path / "dvc.yaml").write_text(text)
    (tmp_path / "conf").mkdir()  # what makes a folder a qraptor project (qraptor.core.paths)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert find_project_root() == tmp_path.resolve()
    assert project_paths(find_project_root()).bars == tmp_path.resolve() / "elsewhere/bars.parquet"
    with pytest.raises(QraptorError, match=r"no dvc\.yaml"):
        find_project_root(tmp_path / "notebooks")
