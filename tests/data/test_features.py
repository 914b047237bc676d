"""Stage `features`: config validation, indicator values, warm-up, bad input."""

from __future__ import annotations

import io
from importlib import resources

import numpy as np
import pandas as pd
import polars as pl
import pytest
import ta

from qraptor.core.errors import ConfigError, DataError
from qraptor.data.features import FEATURES, FeaturesConfig, compute_features, feature_columns
from qraptor.data.pipeline_config import load_pipeline_section


def features_config(*overrides: str) -> FeaturesConfig:
    """conf/features/default.yaml with dotlist overrides, validated like the stage does."""
    return load_pipeline_section("features", FeaturesConfig, overrides)


@pytest.fixture(scope="module")
def sample_bars() -> pd.DataFrame:
    """The first 1,500 hourly EUR/USD bars of the shipped sample, in the bar contract."""
    path = resources.files("gym_anytrading") / "datasets/data/FOREX_EURUSD_1H_ASK.csv"
    raw = pd.read_csv(str(path), nrows=1500)
    bars = raw.rename(columns=str.lower).rename(columns={"time": "timestamp"})
    bars["timestamp"] = pd.to_datetime(bars["timestamp"], format="%d.%m.%Y %H:%M:%S.%f", utc=True)
    bars["vwap"] = (bars["high"] + bars["low"] + bars["close"]) / 3
    bars["trades"] = np.arange(len(bars), dtype="int64") % 7 + 1
    return bars


def test_default_config_selects_every_feature_with_stable_column_names(
    sample_bars: pd.DataFrame,
) -> None:
    cfg = features_config()
    assert set(cfg.include) == set(FEATURES)
    assert feature_columns(cfg, sample_bars["timestamp"]) == [
        "log_return_1", "log_return_6", "log_return_24", "volatility_24", "volatility_120",
        "rsi_14", "macd_12_26", "macd_hist_12_26_9", "bb_pctb_20", "bb_width_20", "atr_14",
        "volume_z_24",
    ]  # fmt: skip


def test_typo_in_a_feature_name_names_the_key_and_lists_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        features_config("include=[log_return,rsii]")
    assert info.value.key == "features.include.1"
    assert "'rsii'" in info.value.problem
    for name in FEATURES:
        assert name in info.value.problem


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("rsi.windows=[0]", "features.rsi.windows.0"),
        ("rsi.windows=[14,2weeks]", "features.rsi.windows.1"),
        ("log_return.horizons=[]", "features.log_return.horizons"),
        ("volatility.windows=[1]", "features.volatility.windows.0"),
        ("atr.windows=[14,14]", "features.atr.windows"),
        ("macd.fast=30", "features.macd.fast"),
        ("bollinger.num_std=0", "features.bollinger.num_std"),
        ("include=[]", "features.include"),
        ("include=[rsi,rsi]", "features.include"),
    ],
)
def test_out_of_range_values_are_refused_with_their_dotted_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        features_config(override)
    assert info.value.key == key


def test_warmup_rows_are_dropped_counted_and_the_rest_fully_defined(
    sample_bars: pd.DataFrame,
) -> None:
    cfg = features_config()
    out = compute_features(sample_bars, cfg)
    columns = feature_columns(cfg, sample_bars["timestamp"])
    # volatility_120 is the longest: 120 one-bar returns need 121 closes.
    assert out.attrs["features"]["warmup_rows"] == 120
    assert len(out) == len(sample_bars) - 120
    assert out["timestamp"].iloc[0] == sample_bars["timestamp"].iloc[120]
    assert np.isfinite(out[columns].to_numpy()).all()
    # the bar columns are carried through unchanged
    pd.testing.assert_frame_equal(
        out[sample_bars.columns], sample_bars.iloc[120:].reset_index(drop=True)
    )


def test_feature_values_match_their_definitions(sample_bars: pd.DataFrame) -> None:
    out = compute_features(sample_bars, features_config())
    bars = sample_bars.iloc[120:].reset_index(drop=True)
    close = sample_bars["close"]
    np.testing.assert_allclose(
        out["log_return_6"], np.log(close / close.shift(6)).iloc[120:], atol=1e-15
    )
    returns = np.log(close).diff()
    np.testing.assert_allclose(
        out["volatility_24"], returns.rolling(24).std().iloc[120:], rtol=1e-9
    )
    rsi = ta.momentum.RSIIndicator(close, window=14).rsi().iloc[120:]
    np.testing.assert_allclose(out["rsi_14"], rsi, rtol=1e-12)
    bb = ta.volatility.BollingerBands(close, window=20, window_dev=2)
    np.testing.assert_allclose(out["bb_pctb_20"], bb.bollinger_pband().iloc[120:], rtol=1e-9)
    assert out["macd_12_26"].abs().max() < 0.05  # relative to close: a few percent at most
    assert (bars["close"] > 0).all()


def test_vectorised_atr_equals_the_ta_library(sample_bars: pd.DataFrame) -> None:
    bars = sample_bars.iloc[:400]
    out = compute_features(bars, features_config("include=[atr]"))
    expected = ta.volatility.AverageTrueRange(
        bars["high"], bars["low"], bars["close"], window=14
    ).average_true_range()
    assert out.attrs["features"]["warmup_rows"] == 13  # ta reports 0 there, we drop them
    np.testing.assert_allclose(
        out["atr_14"] * out["close"], expected.iloc[13:].to_numpy(), rtol=1e-10
    )


def test_polars_input_gives_the_same_features(sample_bars: pd.DataFrame) -> None:
    cfg = features_config("include=[log_return,rsi,volume_z]")
    from_pandas = compute_features(sample_bars, cfg)
    # via Parquet, as the stage reads bars (pl.from_pandas trips a pandas 3 deprecation)
    buffer = io.BytesIO()
    sample_bars.to_parquet(buffer, index=False)
    bars = pl.read_parquet(buffer.getvalue())
    from_polars = compute_features(bars, cfg)
    pd.testing.assert_frame_equal(from_polars, from_pandas, check_dtype=False)


def test_flat_prices_and_constant_volume_stay_defined(sample_bars: pd.DataFrame) -> None:
    bars = sample_bars.iloc[:300].copy()
    bars.loc[200:260, ["open", "high", "low", "close"]] = 1.1  # a frozen quote feed
    bars["volume"] = 5.0
    out = compute_features(bars, features_config("include=[bollinger,volume_z,atr]"))
    assert np.isfinite(out[["bb_pctb_20", "bb_width_20", "volume_z_24", "atr_14"]]).all().all()
    assert (out["volume_z_24"] == 0).all()
    flat = out[out["timestamp"] == bars["timestamp"].iloc[250]]
    assert flat["bb_pctb_20"].item() == 0.5


def test_bad_bars_raise_a_data_error_naming_rule_and_rows(sample_bars: pd.DataFrame) -> None:
    cfg = features_config()
    with pytest.raises(DataError, match="volume") as info:
        compute_features(sample_bars.drop(columns=["volume"]), cfg)
    assert info.value.rule == "bar_columns"

    shuffled = sample_bars.copy()
    shuffled.loc[[10, 11], "timestamp"] = shuffled.loc[[11, 10], "timestamp"].to_numpy()
    with pytest.raises(DataError) as info:
        compute_features(shuffled, cfg)
    assert info.value.rule == "timestamps_increasing"
    assert info.value.rows and info.value.rows[0].startswith("row 11")

    negative = sample_bars.copy()
    negative.loc[42, "close"] = -1.0
    with pytest.raises(DataError) as info:
        compute_features(negative, cfg)
    assert info.value.rule == "positive_prices"
    assert info.value.rows[0].startswith("row 42")

    with pytest.raises(DataError, match=r"features\.volatility\.windows needs about 121"):
        compute_features(sample_bars.iloc[:100], cfg)
