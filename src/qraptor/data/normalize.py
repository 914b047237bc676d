"""Causal normalisation of feature columns: z-scores that never use data after t.

Two requirements meet here: statistics may be fitted on the training span only, and a
normalised value at bar t may not use any bar after t. A single scaler fitted on the whole
training span satisfies the first but not the second: the first training bar would be
scaled with the mean and spread of bars months ahead of it, so the agent trains on
observations that quietly encode the future of the training span (e.g. "prices are below
where they will end up"). It is therefore not offered. The two modes are:

* ``expanding``: the mean/std over the training span from its first bar up to t. After the
  last training bar the statistics are frozen, so validation, test and embargo bars are
  scaled with training statistics only (the frozen values are recorded in splits.json for
  use at deployment). The first ``min_periods - 1`` training bars have no value (warm-up).
* ``rolling``: the mean/std of the trailing ``window`` bars (at least ``min_periods``). No
  statistic is fitted at all; each bar is scaled by its own past, which is also available
  when trading live, so the training-span rule holds trivially. Warm-up: the first
  ``min_periods - 1`` bars of the data.

Either way ``z = (x - mean) / std`` (sample std), 0 where the std is 0 (a constant feature
sits at its mean), optionally clipped to ``[-clip, clip]`` as RL observation scalers do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qraptor.core.config import check

Z_PREFIX = "z_"
NORMALIZE_METHODS = ("expanding", "rolling")


@dataclass
class NormalizeConfig:
    """Schema of split.normalize (keys in errors are relative to `split`)."""

    method: str  # expanding | rolling (see module docstring)
    window: int  # trailing bars for `rolling`; unused by `expanding`
    min_periods: int  # bars needed before a value is defined (>= 2 for a std)
    clip: float | None  # clip z to [-clip, clip]; null = no clipping

    def __post_init__(self) -> None:
        check(
            self.method in NORMALIZE_METHODS,
            "normalize.method",
            f"unknown method '{self.method}'; valid: {', '.join(NORMALIZE_METHODS)}",
        )
        check(self.window > 0, "normalize.window", "must be > 0")
        check(self.min_periods >= 2, "normalize.min_periods", "must be >= 2 (a std needs two bars)")
        if self.method == "rolling":
            check(self.min_periods <= self.window, "normalize.min_periods", "must be <= window")
        check(self.clip is None or self.clip > 0, "normalize.clip", "must be > 0 or null")


def z_columns(columns: Sequence[str]) -> list[str]:
    """Names of the normalised columns for raw feature `columns`."""
    return [f"{Z_PREFIX}{c}" for c in columns]


def normalize(
    frame: pd.DataFrame,
    columns: Sequence[str],
    cfg: NormalizeConfig,
    train_start: int,
    train_stop: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Z-scored `columns` of `frame` (row-aligned, named z_<col>) and the fitted statistics.

    `[train_start, train_stop)` is the training span in row positions. Rows before it get
    no value in `expanding` mode; `rolling` mode ignores the span (nothing is fitted) and
    scales every row by its trailing window, so callers slice the result for a fold.
    Column by column, so temporaries stay a few column-sized arrays at 1e6+ rows.
    """
    z = np.empty((len(frame), len(columns)))
    fitted: dict[str, Any] = {"mean": {}, "std": {}} if cfg.method == "expanding" else {}
    for j, column in enumerate(columns):
        x = frame[column].to_numpy(dtype="float64")
        if cfg.method == "expanding":
            mean, std = _expanding_stats(x, cfg.min_periods, train_start, train_stop)
            fitted["mean"][column], fitted["std"][column] = float(mean[-1]), float(std[-1])
        else:
            rolling = pd.Series(x).rolling(cfg.window, min_periods=cfg.min_periods)
            mean, std = rolling.mean().to_numpy(), rolling.std().to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            z[:, j] = (x - mean) / std
        z[std == 0, j] = 0.0  # NaN std (warm-up) stays NaN
    if cfg.clip is not None:
        np.clip(z, -cfg.clip, cfg.clip, out=z)
    if cfg.method == "expanding":
        fitted["fitted_rows"] = train_stop - train_start
    return pd.DataFrame(z, columns=z_columns(columns), index=frame.index), fitted


def _expanding_stats(
    x: np.ndarray, min_periods: int, train_start: int, train_stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Expanding mean/std inside the training span, frozen after it, undefined before it."""
    train = pd.Series(x[train_start:train_stop]).expanding(min_periods=min_periods)
    mean, std = np.full(len(x), np.nan), np.full(len(x), np.nan)
    mean[train_start:train_stop], std[train_start:train_stop] = train.mean(), train.std()
    mean[train_stop:], std[train_stop:] = mean[train_stop - 1], std[train_stop - 1]
    return mean, std
