"""Every instrument of a panel cleaned as a single instrument's bars are (issue 16): the
`clean` stage's in-memory core (qraptor.data.clean.frame.clean_frame) with the pipeline's
conf/clean settings, one symbol at a time, each with its own cleaning report.

The rules see the bars contract (timestamp, open, high, low, close, volume). Close-only
data (the S&P 500 sample) has open, high and low equal to the close and an unknown volume
(0): the OHLC and volume rules then check nothing, the rest apply as to any bars (missing
values and non-positive prices dropped, exact duplicates dropped, two different bars at one
time refused, gaps flagged, trading hours and strict mode as configured). A refusal names
the file and the symbol with the rule's own message.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from qraptor.core.errors import DataError
from qraptor.core.log import get_logger
from qraptor.data.clean.config import CleanConfig
from qraptor.data.clean.frame import clean_frame

log = get_logger(__name__)
CONTRACT = ("open", "high", "low", "close", "volume")


def clean_panel(
    frames: Mapping[str, pd.DataFrame], cfg: CleanConfig, path: Path
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """The cleaned frame of every symbol (its own columns only) and its cleaning report
    (`CleanReport.to_dict`); `path` is the file (or folder) they came from, for messages."""
    cleaned: dict[str, pd.DataFrame] = {}
    reports: dict[str, dict[str, Any]] = {}
    for symbol, frame in frames.items():
        own = [c for c in CONTRACT if c in frame.columns]
        utc = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").tz_localize(None)
        bars = {"timestamp": pl.Series(utc.as_unit("ns").to_numpy()).dt.replace_time_zone("UTC")}
        for column in CONTRACT:
            source = frame[column] if column in frame.columns else frame["close"]
            values = 0.0 if column == "volume" and column not in frame.columns else source
            bars[column] = pl.Series(pd.Series(values, index=frame.index).to_numpy(dtype=float))
        try:
            out, report = clean_frame(pl.DataFrame(bars), "bars", cfg)
        except DataError as exc:
            raise DataError(path, f"{symbol}: {exc.problem}", rule=exc.rule,
                            rows=exc.rows) from None  # fmt: skip
        reports[symbol] = report.to_dict()
        if report.rows_out < report.rows_in or report.violations:
            log.info("panel %s: %s", symbol, report.summary())
        result = out.select("timestamp", *own).to_pandas()
        result["timestamp"] = pd.to_datetime(result["timestamp"], utc=True)
        cleaned[symbol] = result
    return cleaned, reports


def cleaning_summary(reports: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What `dvc metrics show` needs of the reports: rows in and out, per rule totals, and
    the symbols that lost rows."""
    rules: dict[str, int] = {}
    for report in reports.values():
        for name, count in report["rules"].items():
            rules[name] = rules.get(name, 0) + int(count)
    return {
        "rows_in": sum(int(r["rows_in"]) for r in reports.values()),
        "rows_out": sum(int(r["rows_out"]) for r in reports.values()),
        "rules": rules,
        "symbols_with_dropped_rows": sorted(s for s, r in reports.items() if r["rows_dropped"]),
    }
