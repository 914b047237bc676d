"""N instruments on one calendar, as the portfolio environment reads them (issue 16).

A panel is built from one frame per symbol (or a long frame with a ``symbol`` column),
aligned on the union of their timestamps:

- a missing bar means *not tradable at that bar* (`tradable` False); for valuation only,
  the last price is carried forward (never filled from another instrument, never
  back-filled: before an instrument's first bar it has no price, holds nothing and cannot
  be traded);
- an instrument that stops (its last bar before the panel's end: a delisting) is sold at
  its last price at the first step after its last bar (`exit_bar`), with the sale's costs:
  the account holds no position in something that no longer trades.

Features are [T, N, F] (NaN where an instrument has no bar; the environment shows 0 there,
next to the tradable flag).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qraptor.core.errors import DataError

NO_EXIT = -1


@dataclass(frozen=True)
class Panel:
    """Aligned bars of N instruments (module docstring)."""

    timestamps: np.ndarray  # [T] int64 ns, UTC
    symbols: tuple[str, ...]
    close: np.ndarray  # [T, N] carried forward; NaN before the first bar
    fill: np.ndarray  # [T, N] the fill price (open or close), carried forward likewise
    tradable: np.ndarray  # [T, N] bool: the instrument has a bar
    features: np.ndarray  # [T, N, F] float32, NaN without a bar
    feature_names: tuple[str, ...]
    exit_bar: np.ndarray  # [N] the bar whose step sells a delisted instrument; NO_EXIT

    def __post_init__(self) -> None:
        t, n = self.close.shape
        if self.fill.shape != (t, n) or self.tradable.shape != (t, n):
            raise DataError(None, "panel arrays disagree on [bars, instruments]")
        if self.features.shape[:2] != (t, n) or self.features.shape[2] != len(self.feature_names):
            raise DataError(None, "panel features are not [bars, instruments, features]")
        if len(self.symbols) != n or len(self.timestamps) != t:
            raise DataError(None, "panel symbols or timestamps do not match its prices")

    def __len__(self) -> int:
        return len(self.timestamps)

    @property
    def n_instruments(self) -> int:
        return len(self.symbols)

    def span(self, start: int, stop: int) -> Panel:
        """Bars [start, stop) (a split), exits re-indexed."""
        exits = np.where(
            (self.exit_bar >= start) & (self.exit_bar < stop), self.exit_bar - start, NO_EXIT
        )
        return Panel(
            self.timestamps[start:stop], self.symbols, self.close[start:stop],
            self.fill[start:stop], self.tradable[start:stop], self.features[start:stop],
            self.feature_names, exits,
        )  # fmt: skip

    @classmethod
    def from_frames(
        cls,
        frames: Mapping[str, pd.DataFrame],
        features: Sequence[str] = (),
        fill: str = "close",
        calendar: np.ndarray | None = None,
    ) -> Panel:
        """A panel of one frame per symbol (timestamp, close, `fill` and `features`
        columns), aligned on the union of their timestamps (module docstring), or on
        `calendar` (int ns; bars off it are dropped, its bars without one are missing)."""
        if not frames:
            raise DataError(None, "a panel needs at least one instrument")
        symbols = tuple(frames)
        stamps: pd.DatetimeIndex | None = None
        cleaned: dict[str, pd.DataFrame] = {}
        for symbol, frame in frames.items():
            needed = ["timestamp", "close", fill, *features]
            missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
            if missing:
                raise DataError(symbol, f"no column(s) {missing}", rule="panel_columns")
            index = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
            if index.has_duplicates or not index.is_monotonic_increasing:
                raise DataError(symbol, "timestamps must increase strictly", rule="panel_order")
            cleaned[symbol] = frame.set_index(index)
            stamps = index if stamps is None else stamps.union(index)
        assert stamps is not None
        if calendar is not None:
            ns = np.asarray(calendar, dtype=np.int64)
            stamps = pd.DatetimeIndex(pd.to_datetime(ns, utc=True))
        t, n = len(stamps), len(symbols)
        close, fills = np.full((t, n), np.nan), np.full((t, n), np.nan)
        tradable = np.zeros((t, n), dtype=bool)
        values = np.full((t, n, len(features)), np.nan, dtype=np.float32)
        exits = np.full(n, NO_EXIT, dtype=np.int64)
        for j, symbol in enumerate(symbols):
            frame = cleaned[symbol].reindex(stamps)
            present = frame["close"].notna().to_numpy()
            tradable[:, j] = present
            close[:, j] = frame["close"].ffill().to_numpy()  # valuation only; no bfill
            fills[:, j] = frame[fill].ffill().to_numpy()
            if features:
                values[:, j, :] = frame[list(features)].to_numpy(dtype=np.float32)
            last = int(np.flatnonzero(present)[-1]) if present.any() else -1
            if 0 <= last < t - 1:
                exits[j] = last + 1  # the step from bar `last` sells at the carried price
        return cls(
            np.asarray(stamps.as_unit("ns").asi8, dtype=np.int64), symbols, close, fills,
            tradable, values, tuple(features), exits,
        )  # fmt: skip
