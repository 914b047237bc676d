"""A panel dataset's split as the `Panel` the portfolio environment trades (issue 16).

The whole calendar is aligned first and then cut to the span, so a span's first bars carry
the last earlier price for valuation only (never a later one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.data.panel_dataset import (
    INDEX_FILE,
    PANEL_FILE,
    dataset_timestamps,
    read_panel_metadata,
    span_rows,
)
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
    return load_span(folder, split, fold)[0]


def load_span(
    folder: str | Path, split: str, fold: int | None = None, history: int = 0
) -> tuple[Panel, Panel | None]:
    """The split's `Panel` and the up to `history` bars before it (None when there are
    none): the past a baseline that looks back (momentum, the optimisers) may use from the
    span's first bar on, as it would have had it live."""
    return cut_span(load_full_panel(folder), read_panel_metadata(folder), split, fold, history)


def cut_span(
    full: Panel, metadata: dict[str, Any], split: str, fold: int | None = None, history: int = 0
) -> tuple[Panel, Panel | None]:
    """`load_span` of a panel already loaded whole (`load_full_panel`) with its metadata:
    what a session that steps through several spans reads once."""
    start, stop = span_rows(metadata, split, fold)
    before = full.span(max(0, start - history), start) if history > 0 and start > 0 else None
    return full.span(start, stop), before


def load_index_panel(folder: str | Path, split: str, fold: int | None = None) -> Panel | None:
    """The benchmark index on the split's bars as a one-instrument panel (None without
    one), aligned on the whole calendar first and then cut, as `load_panel` is: held by
    the ``index`` baseline through the same accounting."""
    folder = Path(folder)
    metadata = read_panel_metadata(folder)
    symbol = metadata.get("index_symbol")
    if not symbol or not (folder / INDEX_FILE).is_file():
        return None
    calendar = pd.DatetimeIndex(dataset_timestamps(folder))
    bars = pd.read_parquet(folder / INDEX_FILE)
    start, stop = span_rows(metadata, split, fold)
    ns = calendar.as_unit("ns").asi8
    return Panel.from_frames({str(symbol): bars}, calendar=ns).span(start, stop)
