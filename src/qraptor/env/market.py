"""The market an environment trades: one split's bars and features as numpy arrays.

Arrays, not a DataFrame, because the environment indexes one bar per step millions of
times; the frame is converted once here. Arrays are read-only so that no environment can
alter the history it is replaying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qraptor.core.errors import DataError
from qraptor.data.split import load_split, observation_columns

PRICE_COLUMNS = ("open", "high", "low", "close", "vwap")


@dataclass(frozen=True, eq=False)
class Market:
    """Bars of one split in time order: prices float64 [T], features float32 [T, F].

    The arrays are stored as read-only copies: neither the caller nor an environment can
    alter the history once the market exists.
    """

    timestamps: np.ndarray  # int64 ns since the epoch, UTC, strictly increasing
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    vwap: np.ndarray
    features: np.ndarray
    feature_names: tuple[str, ...]

    def __post_init__(self) -> None:
        dtypes = {"timestamps": np.int64, "features": np.float32}
        for name in ("timestamps", *PRICE_COLUMNS, "features"):
            array = np.array(getattr(self, name), dtype=dtypes.get(name, np.float64), order="C")
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        object.__setattr__(self, "feature_names", tuple(self.feature_names))
        n = len(self.timestamps)
        if n < 2:
            raise DataError(None, f"a market needs at least 2 bars, got {n}", rule="market_bars")
        shapes = {c: getattr(self, c).shape for c in PRICE_COLUMNS}
        bad_shape = [c for c, s in shapes.items() if s != (n,)]
        if bad_shape or self.features.shape != (n, len(self.feature_names)):
            raise DataError(
                None,
                f"array shapes disagree with {n} timestamps: {shapes}, features "
                f"{self.features.shape} for {len(self.feature_names)} names",
                rule="market_shapes",
            )
        for name in PRICE_COLUMNS:
            values = getattr(self, name)
            bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
            if len(bad):
                raise DataError(
                    None,
                    f"{len(bad)} bars have a non-positive or undefined {name} price",
                    rule="market_prices",
                    rows=self._where(bad),
                )
        bad = np.flatnonzero(~np.isfinite(self.features).all(axis=1))
        if len(bad):
            raise DataError(
                None,
                f"{len(bad)} bars have undefined features (warm-up rows?); use a split whose "
                "observations are all defined (train/val/test, not 'all')",
                rule="market_features",
                rows=self._where(bad),
            )
        if np.any(np.diff(self.timestamps) <= 0):
            raise DataError(None, "timestamps are not strictly increasing", rule="market_time")

    def _where(self, bars: np.ndarray) -> list[str]:
        return [f"bar {i} at {pd.Timestamp(self.timestamps[i], tz='UTC')}" for i in bars[:5]]

    def __len__(self) -> int:
        return len(self.timestamps)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, feature_columns: Sequence[str]) -> Market:
        """Bars of `frame` (columns timestamp, open, high, low, close, vwap, features)."""
        columns = list(feature_columns)
        missing = [c for c in ("timestamp", *PRICE_COLUMNS, *columns) if c not in frame.columns]
        if missing:
            raise DataError(None, f"bars lack column(s) {missing}", rule="market_columns")
        stamps = pd.DatetimeIndex(frame["timestamp"])
        if stamps.tz is not None:
            stamps = stamps.tz_convert("UTC").tz_localize(None)
        return cls(
            timestamps=np.array(stamps.as_unit("ns").asi8, dtype=np.int64),
            **{c: frame[c].to_numpy(dtype=np.float64) for c in PRICE_COLUMNS},
            features=frame[columns].to_numpy(dtype=np.float32).reshape(len(frame), -1),
            feature_names=tuple(columns),
        )

    def select(self, names: Sequence[str]) -> Market:
        """The same bars with only the features `names` (``z_x`` or ``x``), in that order."""
        index = [_feature_index(self.feature_names, name) for name in names]
        return Market(
            timestamps=self.timestamps,
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            vwap=self.vwap,
            features=np.ascontiguousarray(self.features[:, index]),
            feature_names=tuple(self.feature_names[i] for i in index),
        )


def _feature_index(available: Sequence[str], name: str) -> int:
    for candidate in (name, f"z_{name}"):
        if candidate in available:
            return list(available).index(candidate)
    raise DataError(
        None,
        f"no feature '{name}'; available: {', '.join(available)}",
        rule="market_features",
    )


def load_market(
    dataset_dir: Path,
    split: str = "train",
    fold: int | None = None,
    features: Sequence[str] | None = None,
) -> Market:
    """The bars of `split` (of walk-forward fold `fold`) in the dataset folder.

    `features` are normalised feature names (``z_rsi_14`` or ``rsi_14``); None = every
    observation column of the dataset (splits.json), in its order.
    """
    available = observation_columns(dataset_dir)
    if features is None:
        names = available
    else:
        names = [available[_feature_index(available, name)] for name in features]
    frame = load_split(dataset_dir, split, fold)
    if len(frame) < 2:
        where = f"fold {fold} " if fold is not None else ""
        problem = f"{where}split '{split}' has {len(frame)} bars; an episode needs 2 or more"
        raise DataError(dataset_dir, problem, rule="market_bars")
    return Market.from_frame(frame, names)
