"""Stage `clean`: validate, repair what is safe, refuse the rest, report every rule.

Rules, in the order they run (each counted in the `CleanReport`):

====================  =====  ===================================================  ===========
rule                  kinds  finds                                                action
====================  =====  ===================================================  ===========
missing_value         both   null, NaN or infinite timestamp/value                drop
nonpositive_price     both   price, bid, ask or open/high/low/close/vwap <= 0     drop
negative_size         ticks  size < 0                                             drop
negative_volume       bars   volume or trades < 0                                 drop
ohlc_rounding         bars   high/low off within `bars.ohlc_tolerance`            repair
adjust (not a rule)   bars   adjusted close: O/H/L scaled alike (clean.adjust)    adjust
ohlc_violation        bars   high < max(open, close), low > min(open, close)      refuse|drop
out_of_order          both   row arrived after a later timestamp                  sort (stable)
duplicate             both   exact copy of an earlier row (all columns)           drop
timestamp_conflict    bars   two different bars with the same start               refuse
outside_trading_hours both   local time outside `trading_hours` (if enabled)      drop
outlier               ticks  robust z-score of the return, past ticks only        drop|clip|flag
gap                   both   no row for longer than `gaps.<kind>` (bars: and than  flag only
                             `gaps.bars_spacings` x their median spacing)
====================  =====  ===================================================  ===========

Every rule except `outside_trading_hours` and `gap` is a *violation*: `strict: true` turns
the first one found into a DataError naming file, row, timestamp and rule. Ties in time
are legal for ticks (several trades per timestamp; they keep arrival order) and refused for
bars. Duplicates are dropped only when every column is equal, which two genuine trades at
the same nanosecond with the same price and size would also be: the report counts them.

Modules: `clean_config` (the config schema), `clean_rules` (row rules), `clean_sequence`
(rules on time-sorted rows, with carry across batches), `clean_outliers` (the score),
`clean_order` (out-of-core ordering), `clean_stream` (the folder pass), `clean_report`.
`clean_frame` is the in-memory core; `clean_folder` streams a part folder of any size in
bounded memory and gives the same result for any batch size (a property test checks it).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from qraptor.data.clean.adjust import check_columns
from qraptor.data.clean.config import (
    AdjustConfig,
    BarRulesConfig,
    CleanConfig,
    ExternalSortConfig,
    GapsConfig,
    OutlierConfig,
    TradingHoursConfig,
)
from qraptor.data.clean.report import CleanReport
from qraptor.data.clean.rules import conform, drop_bad_rows
from qraptor.data.clean.schemas import validate_frame
from qraptor.data.clean.sequence import (
    ArrivalOrder,
    SortedCleaner,
    median_spacing_seconds,
    sort_by_time,
)
from qraptor.data.clean.stream import adjuster, clean_folder, new_report, output_frame

__all__ = [
    "AdjustConfig",
    "BarRulesConfig",
    "CleanConfig",
    "CleanReport",
    "ExternalSortConfig",
    "GapsConfig",
    "OutlierConfig",
    "TradingHoursConfig",
    "clean_folder",
    "clean_frame",
]


def clean_frame(
    frame: pl.DataFrame,
    data_kind: str,
    cfg: CleanConfig,
    files: Sequence[str] = (),
    *,
    audit: bool = False,
) -> tuple[pl.DataFrame, CleanReport]:
    """Clean `frame` (ticks or bars, rows in arrival order) in memory.

    `files` names the lineage indexes in ``src_file`` (the input folder's manifest list).
    Returns the cleaned rows (contract columns, no lineage, sorted by time) and the report.
    Raises DataError for refused rows, for any violation in strict mode, or if no row is left.
    With `audit`, `report.flagged` lists every row each rule found (for checks and audits).
    """
    report = new_report(data_kind, cfg, files, audit=audit)
    frame = conform(frame, data_kind)
    check_columns(frame.columns, data_kind, cfg.adjust.method, "the frame")
    report.rows_in = frame.height
    order = ArrivalOrder()
    order.observe(frame.select("timestamp", "src_file", "src_row"), report)
    frame = drop_bad_rows(frame, data_kind, cfg, report)
    if report.rules["out_of_order"].count:
        frame = sort_by_time(frame)
        report.ordering = "memory"
    spacing = median_spacing_seconds(frame["timestamp"]) if data_kind == "bars" else None
    cleaned = SortedCleaner(data_kind, cfg, report, spacing).push(frame, final=True)
    factors = adjuster(data_kind, cfg, report)
    cleaned = output_frame(cleaned if factors is None else factors.push(cleaned))
    report.rows_out = cleaned.height
    report.raise_if_strict()
    if cleaned.height == 0:
        raise report.empty_error()
    return validate_frame(cleaned, data_kind, files=files), report
