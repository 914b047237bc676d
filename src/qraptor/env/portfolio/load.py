"""A panel dataset's split as the `Panel` the portfolio environment trades (issue 16).

The whole calendar is aligned first and then cut to the span, so a span's first bars carry
the last earlier price for valuation only (never a later one).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from qraptor.data.panel_dataset import INDEX_FILE, PANEL_FILE, read_panel_metadata, span_rows
from qraptor.env.portfolio.panel import Panel


def load_full_panel(folder: str | Path) -> Panel:
    """Every bar of the panel dataset, aligned on its calendar."""
    folder = Path(folder)
    metadata = read_panel_metadata(folder)
    long = pd.read_parquet(folder / PANEL_FILE)
    names = list(metadata["columns"]["features"])
    frames = {
        symbol: long.loc[long["symbol"] == symbol].drop(columns="symbol").reset_index(drop=True)
        for symbol in metadata["symbols"]
    }
    return Panel.from_frames(frames, names, fill=metadata.get("fill", "close"))


def load_panel(folder: str | Path, split: str, fold: int | None = None) -> Panel:
    """The bars of one split (or of a fold's span) as a `Panel` (module docstring)."""
    metadata = read_panel_metadata(folder)
    start, stop = span_rows(metadata, split, fold)
    return load_full_panel(folder).span(start, stop)


def load_index_panel(folder: str | Path, panel: Panel) -> Panel | None:
    """The benchmark index on `panel`'s bars as a one-instrument panel (None without one):
    held by the ``index`` baseline through the same accounting."""
    folder = Path(folder)
    metadata = read_panel_metadata(folder)
    symbol = metadata.get("index_symbol")
    if not symbol or not (folder / INDEX_FILE).is_file():
        return None
    bars = pd.read_parquet(folder / INDEX_FILE)
    return Panel.from_frames({str(symbol): bars}, calendar=panel.timestamps)
