"""Stage `split`: config validation, span layout, normalisation values, the output folder."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qraptor.core.errors import ConfigError, DataError
from qraptor.data.features import FeaturesConfig, compute_features
from qraptor.data.pipeline_config import load_pipeline_section
from qraptor.data.split import (
    SplitConfig,
    chrono_spans,
    load_split,
    make_dataset,
    observation_columns,
    read_metadata,
)


def group_config(group: str, schema: type, *overrides: str):
    return load_pipeline_section(group, schema, overrides)


def split_config(*overrides: str) -> SplitConfig:
    return group_config("split", SplitConfig, *overrides)


@pytest.fixture(scope="module")
def features() -> pd.DataFrame:
    """Features of 2,000 hourly EUR/USD sample bars (1,880 rows after warm-up)."""
    path = resources.files("gym_anytrading") / "datasets/data/FOREX_EURUSD_1H_ASK.csv"
    bars = pd.read_csv(str(path), nrows=2000).rename(columns=str.lower)
    bars = bars.rename(columns={"time": "timestamp"})
    bars["timestamp"] = pd.to_datetime(bars["timestamp"], format="%d.%m.%Y %H:%M:%S.%f", utc=True)
    return compute_features(bars, group_config("features", FeaturesConfig))


@pytest.fixture(scope="module")
def columns(features: pd.DataFrame) -> list[str]:
    return features.attrs["features"]["columns"]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("chrono.val_fraction=0.3", "split.chrono.val_fraction"),  # 0.7 + 0.3 leaves no test
        ("chrono.train_fraction=0", "split.chrono.train_fraction"),
        ("embargo=-1", "split.embargo"),
        ("embargo=2days", "split.embargo"),
        ("lost_share_warning=2", "split.lost_share_warning"),
        ("walk_forward.n_folds=0", "split.walk_forward.n_folds"),
        ("walk_forward.scheme=anchored", "split.walk_forward.scheme"),
        ("normalize.method=global", "split.normalize.method"),
        ("normalize.min_periods=1", "split.normalize.min_periods"),
        ("chrono.by=dates", "split.chrono.val_start"),
        ("normalize.clip=-1", "split.normalize.clip"),
    ],
)
def test_bad_split_config_names_its_dotted_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        split_config(override)
    assert info.value.key == key


def test_rolling_normalisation_needs_min_periods_within_the_window() -> None:
    with pytest.raises(ConfigError) as info:
        split_config("normalize.method=rolling", "normalize.window=50", "normalize.min_periods=60")
    assert info.value.key == "split.normalize.min_periods"


def test_dates_must_be_in_order() -> None:
    with pytest.raises(ConfigError) as info:
        split_config(
            "chrono.by=dates", "chrono.val_start=2017-03-01", "chrono.test_start=2017-02-01"
        )
    assert info.value.key == "split.chrono.test_start"


def test_chrono_fractions_cut_embargo_from_the_earlier_span(features: pd.DataFrame) -> None:
    cfg = split_config("embargo=10")
    spans = {s.name: s for s in chrono_spans(features["timestamp"], cfg)}
    n = len(features)
    assert spans["val"].start == int(n * 0.70)  # validation starts where configured
    assert spans["test"].start == int(n * 0.85)
    assert spans["train"].stop == spans["val"].start - 10
    assert spans["val"].stop == spans["test"].start - 10
    assert spans["test"].stop == n


def test_chrono_dates_start_val_and_test_at_the_first_bar_on_or_after(
    features: pd.DataFrame,
) -> None:
    cfg = split_config(
        "chrono.by=dates", "chrono.val_start=2017-03-01", "chrono.test_start=2017-03-15T12:30"
    )
    spans = {s.name: s for s in chrono_spans(features["timestamp"], cfg)}
    ts = features["timestamp"]
    assert ts.iloc[spans["val"].start] == pd.Timestamp("2017-03-01", tz="UTC")
    assert ts.iloc[spans["test"].start] >= pd.Timestamp("2017-03-15T12:30", tz="UTC")
    assert ts.iloc[spans["test"].start - 1] < pd.Timestamp("2017-03-15T12:30", tz="UTC")


def test_an_empty_span_is_a_data_error_that_shows_the_layout(features: pd.DataFrame) -> None:
    cfg = split_config("embargo=400")  # the validation span (282 bars) vanishes
    with pytest.raises(DataError, match="val span is empty") as info:
        chrono_spans(features["timestamp"], cfg)
    assert "train [0," in str(info.value)


def test_dataset_folder_round_trips_through_load_split(
    features: pd.DataFrame, columns: list[str], tmp_path: Path
) -> None:
    cfg = split_config()
    meta = make_dataset(features, columns, cfg, tmp_path / "dataset")
    folder = tmp_path / "dataset"
    assert read_metadata(folder) == json.loads(json.dumps(meta))
    obs = observation_columns(folder)
    assert obs == [f"z_{c}" for c in columns]

    spans = meta["chrono"]["spans"]
    parts = {name: load_split(folder, name) for name in ("train", "val", "test", "embargo")}
    assert len(parts["val"]) == spans["val"]["rows"]
    assert parts["test"]["timestamp"].iloc[0].isoformat() == spans["test"]["first"]
    assert len(parts["embargo"]) == 2 * meta["embargo_bars"] == 2 * 48
    assert len(load_split(folder, "warmup")) == cfg.normalize.min_periods - 1
    for part in parts.values():  # the agent never sees an undefined observation
        assert np.isfinite(part[obs].to_numpy()).all()
    everything = load_split(folder, "all")
    assert len(everything) == len(features)
    assert everything["timestamp"].is_monotonic_increasing
    pd.testing.assert_frame_equal(everything[columns], features[columns])

    folds = meta["walk_forward"]["folds"]
    assert len(folds) == cfg.walk_forward.n_folds
    for k, fold in enumerate(folds):
        test = load_split(folder, "test", fold=k)
        assert len(test) == fold["spans"]["test"]["rows"]
        assert test["timestamp"].iloc[-1].isoformat() == fold["spans"]["test"]["last"]
    # folds keep clear of the chronological test span and its embargo
    assert folds[-1]["spans"]["test"]["stop_row"] == spans["embargo_before_test"]["start_row"]


def test_expanding_normalisation_uses_train_up_to_t_then_freezes(
    features: pd.DataFrame, columns: list[str], tmp_path: Path
) -> None:
    cfg = split_config("normalize.clip=null", "walk_forward.enabled=false")
    meta = make_dataset(features, columns, cfg, tmp_path / "d")
    data = load_split(tmp_path / "d", "all")
    train_stop = meta["chrono"]["spans"]["train"]["stop_row"]
    x = features["rsi_14"].to_numpy()
    t = 500  # inside the training span
    expected = (x[t] - x[: t + 1].mean()) / x[: t + 1].std(ddof=1)
    assert data["z_rsi_14"].iloc[t] == pytest.approx(expected, rel=1e-9)
    frozen_mean, frozen_std = x[:train_stop].mean(), x[:train_stop].std(ddof=1)
    assert meta["chrono"]["fitted"]["mean"]["rsi_14"] == pytest.approx(frozen_mean, rel=1e-9)
    after = data.iloc[train_stop:]
    np.testing.assert_allclose(
        after["z_rsi_14"], (after["rsi_14"] - frozen_mean) / frozen_std, rtol=1e-9
    )


def test_rolling_normalisation_uses_the_trailing_window(
    features: pd.DataFrame, columns: list[str], tmp_path: Path
) -> None:
    cfg = split_config(
        "normalize.method=rolling", "normalize.window=50", "normalize.min_periods=20",
        "normalize.clip=3.0", "walk_forward.scheme=rolling",
    )  # fmt: skip
    meta = make_dataset(features, columns, cfg, tmp_path / "d")
    data = load_split(tmp_path / "d", "all")
    assert meta["chrono"]["counts"]["warmup"] == 19
    x = features["log_return_1"].to_numpy()
    for t in (19, 30, 1500):
        window = x[max(0, t - 49) : t + 1]
        expected = np.clip((x[t] - window.mean()) / window.std(ddof=1), -3, 3)
        assert data["z_log_return_1"].iloc[t] == pytest.approx(expected, rel=1e-9)
    assert data[[f"z_{c}" for c in columns]].abs().max().max() <= 3.0
    # rolling folds train on windows of equal length
    lengths = {f["spans"]["train"]["rows"] for f in meta["walk_forward"]["folds"]}
    assert len(lengths) == 1


def test_a_failed_split_leaves_the_previous_output_untouched(
    features: pd.DataFrame, columns: list[str], tmp_path: Path
) -> None:
    folder = tmp_path / "d"
    make_dataset(features, columns, split_config(), folder)
    before = sorted(p.name for p in folder.rglob("*"))
    with pytest.raises(DataError):
        make_dataset(features.iloc[:150], columns, split_config(), folder)
    assert sorted(p.name for p in folder.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no debris


def test_bad_inputs_and_requests_are_data_errors(
    features: pd.DataFrame, columns: list[str], tmp_path: Path
) -> None:
    holes = features.copy()
    holes.loc[7, "rsi_14"] = np.nan
    with pytest.raises(DataError, match="undefined"):
        make_dataset(holes, columns, split_config(), tmp_path / "d")
    with pytest.raises(DataError, match="nope"):
        make_dataset(features, [*columns, "nope"], split_config(), tmp_path / "d")
    make_dataset(features, columns, split_config(), tmp_path / "d")
    with pytest.raises(DataError, match="unknown split"):
        load_split(tmp_path / "d", "training")
    with pytest.raises(DataError, match="no fold 9"):
        load_split(tmp_path / "d", "train", fold=9)
    with pytest.raises(DataError, match=r"splits\.json"):
        load_split(tmp_path, "train")
