"""Pictures of the data that people would rather look at than read.

Each function returns a matplotlib Figure (notebooks and the dashboard reuse them) and the
stage entry points save them as PNG for `dvc plots show`. The CSV written for DVC's vega
plots is thinned to a few thousand points so the offline HTML stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib.pyplot as plt  # falls back to the Agg backend where there is no display
import pandas as pd
from matplotlib.figure import Figure

from qraptor.core.atomic import atomic_path

SPLIT_COLOURS = {
    "warmup": "#d8d8d8",
    "train": "#4c78a8",
    "val": "#f58518",
    "test": "#54a24b",
    "embargo": "#bab0ac",
}


def bars_overview(bars: pd.DataFrame, title: str) -> Figure:
    """Close price with the high-low range, and volume below it."""
    fig, (price_ax, volume_ax) = plt.subplots(
        2, 1, figsize=(11, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    thinned = thin(bars, 4000)
    price_ax.fill_between(
        thinned["timestamp"],
        thinned["low"],
        thinned["high"],
        color="#9ecae9",
        alpha=0.6,
        linewidth=0,
        label="high-low",
    )
    price_ax.plot(
        thinned["timestamp"], thinned["close"], color="#1f4e79", linewidth=0.8, label="close"
    )
    price_ax.set_ylabel("price")
    price_ax.legend(loc="upper left", frameon=False)
    price_ax.set_title(title)
    volume_ax.bar(
        thinned["timestamp"], thinned["volume"], width=_bar_width(thinned), color="#6b6b6b"
    )
    volume_ax.set_ylabel("volume")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def split_overview(dataset: pd.DataFrame, title: str) -> Figure:
    """Close price coloured by split, so the chronology of train/val/test is visible."""
    fig, ax = plt.subplots(figsize=(11, 4))
    for split, colour in SPLIT_COLOURS.items():
        part = dataset[dataset["split"] == split]
        if len(part):
            thinned = thin(part, 3000)
            ax.plot(
                thinned["timestamp"],
                thinned["close"],
                ".",
                markersize=1.5,
                color=colour,
                label=f"{split} ({len(part):,} bars)",
            )
    ax.set_ylabel("close")
    ax.set_title(title)
    ax.legend(loc="upper left", frameon=False, markerscale=6)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path) -> None:
    """Save a figure as PNG atomically, then free it.

    Without matplotlib's "Software" text chunk (its version): the PNG is a DVC output, and
    its hash should follow the picture, not the installed matplotlib's version string.
    """
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)


def write_plot_csv(
    frame: pd.DataFrame, path: str | Path, columns: Mapping[str, str], max_points: int = 3000
) -> None:
    """Write a thinned CSV of `columns` (source -> name in the CSV) for DVC's vega plots."""
    thinned = thin(frame, max_points)
    out = pd.DataFrame({name: thinned[source] for source, name in columns.items()})
    if "timestamp" in out:
        out["timestamp"] = out["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False)


def thin(frame: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """Every k-th row so that at most `max_points` remain (first and last kept)."""
    if len(frame) <= max_points:
        return frame
    step = -(-len(frame) // max_points)
    picked = frame.iloc[::step]
    if picked.index[-1] != frame.index[-1]:
        picked = pd.concat([picked, frame.iloc[[-1]]])
    return picked


def _bar_width(bars: pd.DataFrame) -> float:
    if len(bars) < 2:
        return 0.01
    span_days = (bars["timestamp"].iloc[-1] - bars["timestamp"].iloc[0]).total_seconds() / 86400
    return max(span_days / len(bars), 1e-6)
