"""Figures of the data overview: the price with its splits and gaps, the shape of the
returns, the correlation of the features.

Each function takes the frames of `qraptor.analysis.data_overview` and returns a matplotlib
Figure (never shows it), so a notebook displays it and the dashboard can render it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from qraptor.data.plots import SPLIT_COLOURS, thin

GAP_COLOUR = "#d62728"


def price_overview(
    bars: pd.DataFrame,
    title: str,
    spans: pd.DataFrame | None = None,
    gaps: pd.DataFrame | None = None,
) -> Figure:
    """Close price with the split spans shaded and weekday gaps marked, and the time between
    bars below it (log scale) so every gap, weekend or not, shows as a spike."""
    fig, (price_ax, spacing_ax) = plt.subplots(
        2, 1, figsize=(11, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}
    )
    view = thin(bars, 4000)
    price_ax.plot(view["timestamp"], view["close"], color="#1f4e79", linewidth=0.8, label="close")
    for span in [] if spans is None else spans.itertuples():
        price_ax.axvspan(
            span.first,
            span.last,
            color=SPLIT_COLOURS.get(span.label, "#eeeeee"),
            alpha=0.18,
            linewidth=0,
            label=f"{span.span} ({span.rows:,} bars)",
        )
    if gaps is not None:
        weekday = gaps[~gaps["over_weekend"]]
        for index, gap in enumerate(weekday.itertuples()):
            price_ax.axvline(
                gap.first_after,
                color=GAP_COLOUR,
                linewidth=0.8,
                linestyle=":",
                label="weekday gap" if index == 0 else None,
            )
    price_ax.set_ylabel("close")
    price_ax.set_title(title)
    price_ax.legend(loc="upper left", frameon=False, fontsize=8, ncol=3)
    hours = bars["timestamp"].diff().dt.total_seconds() / 3600.0
    spacing_ax.plot(bars["timestamp"], hours, color="#6b6b6b", linewidth=0.7)
    spacing_ax.set_yscale("log")
    spacing_ax.set_ylabel("hours since\nprevious bar")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def return_distribution(returns: pd.Series, title: str) -> Figure:
    """Histogram of the returns against the normal of the same mean and spread (log density,
    so the tails are visible), and a normal QQ plot: points off the line are fat tails."""
    r = returns.dropna().to_numpy(dtype=np.float64)
    fig, (hist_ax, qq_ax) = plt.subplots(1, 2, figsize=(11, 4))
    density, _, _ = hist_ax.hist(
        r, bins=100, density=True, color="#4c78a8", alpha=0.75, label="returns"
    )
    grid = np.linspace(r.min(), r.max(), 400)
    hist_ax.plot(
        grid,
        stats.norm.pdf(grid, r.mean(), r.std(ddof=1)),
        color="#e45756",
        linewidth=1.2,
        label="normal, same mean and std",
    )
    hist_ax.set_yscale("log")
    seen = density[density > 0]
    if len(seen):  # the normal's tails would take the axis down to 1e-60: stop at the data's
        hist_ax.set_ylim(bottom=float(seen.min()) / 2)
    hist_ax.set_xlabel(returns.name or "return")
    hist_ax.set_ylabel("density (log)")
    hist_ax.legend(frameon=False, fontsize=8)
    (theoretical, ordered), (slope, intercept, _) = stats.probplot(r, dist="norm")
    qq_ax.scatter(theoretical, ordered, s=4, color="#4c78a8", alpha=0.6)
    qq_ax.plot(theoretical, slope * theoretical + intercept, color="#e45756", linewidth=1.0)
    qq_ax.set_xlabel("normal quantile")
    qq_ax.set_ylabel("return quantile")
    qq_ax.set_title("QQ plot against the normal", fontsize=10)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def correlation_heatmap(correlations: pd.DataFrame, title: str) -> Figure:
    """The feature correlation matrix, -1 blue to +1 red, values written in small matrices."""
    size = len(correlations)
    fig, ax = plt.subplots(figsize=(1.5 + 0.55 * size, 1.0 + 0.5 * size))
    image = ax.imshow(correlations.to_numpy(), cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    ax.set_xticks(range(size))
    ax.set_xticklabels(correlations.columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(size))
    ax.set_yticklabels(correlations.index, fontsize=8)
    if size <= 16:
        for (i, j), value in np.ndenumerate(correlations.to_numpy()):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if abs(value) > 0.6 else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="correlation")
    ax.set_title(title)
    fig.tight_layout()
    return fig
