"""Market: a split's bars as arrays, loaded from the dataset folder of the split stage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from qraptor.core.errors import DataError
from qraptor.data.split import load_split
from qraptor.env import Market, load_market


def test_load_market_matches_the_split(dataset_dir) -> None:
    market = load_market(dataset_dir, "val")
    frame = load_split(dataset_dir, "val")
    assert market.feature_names == ("z_momentum", "z_carry")
    assert len(market) == len(frame)
    assert market.timestamps[0] == pd.Timestamp(frame["timestamp"].iloc[0]).value
    assert np.array_equal(market.close, frame["close"].to_numpy())
    assert market.features.dtype == np.float32
    assert np.array_equal(market.features[:, 1], frame["z_carry"].to_numpy(np.float32))
    assert not market.close.flags.writeable  # the history cannot be altered


def test_feature_selection_and_folds(dataset_dir) -> None:
    market = load_market(dataset_dir, "train", features=["carry"])  # z_ prefix optional
    assert market.feature_names == ("z_carry",)
    assert market.features.shape == (len(market), 1)
    fold = load_market(dataset_dir, "test", fold=1)
    assert len(fold) == len(load_split(dataset_dir, "test", fold=1))
    assert fold.timestamps[0] > load_market(dataset_dir, "test", fold=0).timestamps[-1]
    with pytest.raises(DataError, match="no feature 'volume'"):
        load_market(dataset_dir, "train", features=["volume"])
    with pytest.raises(DataError, match="no fold 9"):
        load_market(dataset_dir, "test", fold=9)


def test_bad_bars_are_refused(make_bars) -> None:
    market = make_bars(close=[100.0, 101.0, 102.0])
    with pytest.raises(DataError, match="non-positive or undefined close"):
        dataclasses.replace(market, close=np.array([100.0, np.nan, 102.0]))
    with pytest.raises(DataError, match="undefined features"):
        dataclasses.replace(market, features=np.array([[0.0], [np.inf], [1.0]], np.float32))
    with pytest.raises(DataError, match="strictly increasing"):
        dataclasses.replace(market, timestamps=market.timestamps[::-1].copy())
    with pytest.raises(DataError, match="at least 2 bars"):
        make_bars(close=[100.0])
    frame = pd.DataFrame({"timestamp": pd.to_datetime([1, 2], unit="h", utc=True), "close": [1, 2]})
    with pytest.raises(DataError, match="lack column"):
        Market.from_frame(frame, [])
