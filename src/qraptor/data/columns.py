"""Column contracts between the data stages (see the package docstring of qraptor.data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

TICK_COLUMNS = ("timestamp", "price", "size")
QUOTE_COLUMNS = ("bid", "ask")
BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume", "vwap", "trades")
INPUT_BAR_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
LINEAGE_COLUMNS = ("src_file", "src_row")
# Optional bar inputs of `clean.adjust` (consumed by clean, never in its output): the vendor's
# adjusted close, and corporate actions per bar (split ratio, cash dividend per share).
ADJUSTMENT_COLUMNS = ("adj_close", "split", "dividend")
MANIFEST_NAME = "_manifest.json"


def columns_after_bars(features: pd.DataFrame) -> list[str]:
    """Feature columns are every column that is not part of the bar contract."""
    return [c for c in features.columns if c not in BAR_COLUMNS]
