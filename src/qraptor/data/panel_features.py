"""Causal features of a panel (issue 16): per instrument, and across instruments.

Per instrument, from its own closes up to bar t: the log return, momentum (sums of log
returns) over `momentum` bars, volatility (their standard deviation) over `volatility`
bars. Across instruments: the percentile rank of the longest momentum among the instruments
that have a bar at t (0 lowest, 1 highest): only bar t's values, so nothing later enters.
Each feature is then z-scored with its own expanding mean and standard deviation up to bar t
(at least `min_periods` values; earlier bars are NaN: no score yet), clipped to +-`clip`.
Nothing at bar t uses a value after t (tested: perturbing the future changes nothing up to
t).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

XS_RANK = "xs_rank_mom"


def panel_features(
    frames: Mapping[str, pd.DataFrame],
    *,
    momentum: Sequence[int] = (5, 21),
    volatility: int = 21,
    min_periods: int = 63,
    clip: float = 5.0,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """`frames` with the feature columns added (module docstring), and their names."""
    raw: dict[str, pd.DataFrame] = {}
    for symbol, frame in frames.items():
        r = np.log(frame["close"]).diff()
        columns = {"log_return": r}
        for window in momentum:
            columns[f"mom_{window}"] = r.rolling(window).sum()
        columns[f"vol_{volatility}"] = r.rolling(volatility).std()
        values = pd.DataFrame(columns)  # on the frame's own rows
        values.index = pd.DatetimeIndex(frame["timestamp"])
        raw[symbol] = values
    longest = f"mom_{max(momentum)}"
    wide = pd.DataFrame({s: f[longest] for s, f in raw.items()})  # union calendar
    ranks = wide.rank(axis=1, pct=True)  # per bar, over the instruments with a value there
    names = [*raw[next(iter(raw))].columns, XS_RANK]
    out = {}
    for symbol, frame in frames.items():
        values = raw[symbol].assign(**{XS_RANK: ranks[symbol].reindex(raw[symbol].index)})
        mean = values.expanding(min_periods=min_periods).mean()
        std = values.expanding(min_periods=min_periods).std()
        z = ((values - mean) / std.where(std > 0)).clip(-clip, clip)
        out[symbol] = pd.concat([frame.reset_index(drop=True), z.reset_index(drop=True)], axis=1)
    return out, names
