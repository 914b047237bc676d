"""Outlier ticks: a robust z-score of each tick's return, from earlier ticks only.

For tick t with log price x_t (no look-ahead: only ticks before t are used):

    reference_t = median(x_{t-k} .. x_{t-1})              k = `reference_ticks` (e.g. 5)
    r_t         = x_t - reference_t                       return vs the recent price
    z_t         = (r_t - median(r over the previous W))
                  / (IQR(r over the previous W) / 1.349 + floor)     W = `window`

Why this shape:

* A single spike flags the spike, not the good tick after it: the next tick's reference is
  a median of k prices of which one is the spike, so it is unmoved (a return against the
  previous tick would flag the next tick too). Runs of up to (k-1)/2 bad ticks in a row
  are caught the same way.
* The scale is the robust spread of the same returns in the trailing window, so the score
  adapts to volatility regimes and the bid-ask bounce; one spike in the window hardly moves
  a median or an IQR (up to ~W/4 bad ticks are shrugged off). `floor` (log units) keeps z
  finite when prices do not move at all; raise it to about one price tick (relative) for
  coarse tick sizes.
* A genuine jump in price is flagged for only about (k+1)/2 ticks, until the reference has
  moved: a short reference window keeps that cost small. A median of price *levels* over a
  long window (tried first) lags in trends: on the synthetic tapes it missed 10-50% of 0.5-2%
  spikes at volatilities where this score missed none.
* The inputs are the ticks as they arrived (a dropped spike stays in the windows), which
  keeps the rule non-recursive, vectorised (rolling median/quantiles in polars), and exact
  across batches with a carry of the last W + k log prices.
"""

from __future__ import annotations

import polars as pl

from qraptor.data.clean.config import OutlierConfig

IQR_TO_SIGMA = 1.349  # the IQR of a normal distribution, in standard deviations


def history_length(cfg: OutlierConfig) -> int:
    """Log prices a batch needs from before it so that its scores are exact."""
    return cfg.window + cfg.reference_ticks


def outlier_scores(logp: pl.Series, cfg: OutlierConfig) -> pl.DataFrame:
    """Per tick: `z` (0 while warming up), and `band` (the price clipped to |z| = z_max).

    `logp` are log prices in time order; the first rows may be history from an earlier
    batch (drop them from the result). Returns a frame of the same length.
    """
    window, warm = cfg.window, cfg.min_periods
    r = pl.col("r")
    frame = (
        pl.DataFrame({"x": logp})
        .with_columns(
            reference=pl.col("x").rolling_median(cfg.reference_ticks, min_samples=1).shift(1)
        )
        # The first tick has no return: 0 (a null would push polars' rolling kernels onto a
        # ~5x slower null-aware path). In a later batch that row is history nobody reads.
        .with_columns(r=(pl.col("x") - pl.col("reference")).fill_null(0.0))
        .with_columns(
            center=r.rolling_median(window, min_samples=warm).shift(1),
            scale=(
                r.rolling_quantile(0.75, "linear", window, min_samples=warm)
                - r.rolling_quantile(0.25, "linear", window, min_samples=warm)
            ).shift(1)
            / IQR_TO_SIGMA
            + cfg.scale_floor,
        )
        .with_columns(z=((r - pl.col("center")) / pl.col("scale")).fill_null(0.0).fill_nan(0.0))
    )
    band = pl.col("reference") + pl.col("center") + pl.col("z").sign() * cfg.z_max * pl.col("scale")
    return frame.select(
        pl.col("z"), band.exp().alias("band"), pl.col("reference").exp().alias("reference")
    )
