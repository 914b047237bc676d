"""pandera schemas for ticks and bars, usable batch by batch on polars frames.

The schemas state the contract of `qraptor.data` (see its docstring) as data rules, each
named so that an error says which rule broke:

* Ticks: ``timestamp`` timestamp[ns, UTC]; ``price`` > 0; ``size`` >= 0; optional
  ``bid``/``ask`` > 0; every value non-null and finite. Timestamps are **non-decreasing**:
  several trades can share a timestamp (exchanges stamp in ms or us), and merging them would
  destroy trade counts and volume, so ties are legal and keep their arrival order.
* Bars: ``timestamp`` timestamp[ns, UTC]; ``open``/``high``/``low``/``close`` > 0;
  ``high >= max(open, close)``; ``low <= min(open, close)``; ``volume`` >= 0; optional
  ``vwap`` within [low, high] (relative slack `VWAP_SLACK` for float rounding of sum(p·v)/
  sum(v)) and ``trades`` >= 0. Timestamps are **strictly increasing**: a bar is identified
  by its start, two bars with one start are a contradiction.
* ``src_file``/``src_row`` lineage columns are allowed (optional) so that ingested data can
  be validated and errors name the original file and row. Any other column is refused.

Cost: validation never needs more than one batch in memory. `validate_batches` and
`validate_folder` stream a part folder and carry the last timestamp across batches so the
ordering rule holds over the whole folder, not only inside each batch. pandera's polars
backend runs each check as a lazy query over the batch: ~25 ms per million ticks and ~50 ms
per million bars here (2 busy cores); `validate_folder` checked 100M cleaned ticks in 7 s at
a 375 MiB peak.

The dtype is exact: timestamp[us, UTC] (pandas 3's default) fails as a wrong type, since
qraptor keeps nanoseconds; `clean_rules.conform` converts any tz-aware unit or zone losslessly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaError, SchemaErrors

from qraptor.core.errors import DataError
from qraptor.data.clean.schema_errors import (
    TIMESTAMP_DTYPE,
    describe_rows,
    epoch_ns,
    file_name,
    iso_ns,
    last_timestamp_ns,
    path_of,
    to_data_error,
)
from qraptor.data.columns import MANIFEST_NAME
from qraptor.data.parts import iter_batches, read_manifest

__all__ = [
    "BAR_SCHEMA",
    "TICK_SCHEMA",
    "TIMESTAMP_DTYPE",
    "describe_rows",
    "file_name",
    "last_timestamp_ns",
    "schema_for",
    "validate_bars",
    "validate_batches",
    "validate_folder",
    "validate_frame",
    "validate_ticks",
]

VWAP_SLACK = 1e-9  # relative: sum(p·v)/sum(v) may land an ulp or two outside [low, high]
DATA_KINDS = ("ticks", "bars")


@dataclass(frozen=True)
class Rule:
    """A named data rule: `valid` is a polars expression that is True on good rows."""

    name: str
    valid: pl.Expr
    description: str


def _finite_positive(column: str) -> list[Rule]:
    return [
        Rule("non_finite", pl.col(column).is_finite(), f"{column} is NaN or infinite"),
        Rule("nonpositive_price", pl.col(column) > 0, f"{column} <= 0"),
    ]


def _finite_nonnegative(column: str, rule: str) -> list[Rule]:
    return [
        Rule("non_finite", pl.col(column).is_finite(), f"{column} is NaN or infinite"),
        Rule(rule, pl.col(column) >= 0, f"{column} < 0"),
    ]


TICK_ORDER = Rule(
    "timestamp_order",
    (pl.col("timestamp") >= pl.col("timestamp").shift(1)).fill_null(True),
    "timestamp earlier than the row before (ticks must be non-decreasing)",
)
BAR_ORDER = Rule(
    "timestamp_order",
    (pl.col("timestamp") > pl.col("timestamp").shift(1)).fill_null(True),
    "timestamp not after the row before (bars must be strictly increasing)",
)
HIGH_RULE = Rule(
    "ohlc_high", pl.col("high") >= pl.max_horizontal("open", "close"), "high < max(open, close)"
)
LOW_RULE = Rule(
    "ohlc_low", pl.col("low") <= pl.min_horizontal("open", "close"), "low > min(open, close)"
)
VWAP_RULE = Rule(
    "vwap_range",
    pl.col("vwap").is_between(pl.col("low") * (1 - VWAP_SLACK), pl.col("high") * (1 + VWAP_SLACK)),
    "vwap outside [low, high]",
)


def _check(rule: Rule) -> pa.Check:
    # Null-safe: nulls are reported once, by the column's nullable rule.
    return pa.Check(
        lambda data, expr=rule.valid: data.lazyframe.select(expr.fill_null(True)),
        name=rule.name,
    )


def _column(dtype: pl.DataType, rules: Sequence[Rule] = (), required: bool = True) -> pa.Column:
    return pa.Column(dtype, checks=[_check(r) for r in rules], nullable=False, required=required)


def _lineage_columns() -> dict[str, pa.Column]:
    return {
        "src_file": _column(pl.Int32(), required=False),
        "src_row": _column(pl.Int64(), required=False),
    }


TICK_SCHEMA = pa.DataFrameSchema(
    {
        "timestamp": _column(TIMESTAMP_DTYPE),
        "price": _column(pl.Float64(), _finite_positive("price")),
        "size": _column(pl.Float64(), _finite_nonnegative("size", "negative_size")),
        "bid": _column(pl.Float64(), _finite_positive("bid"), required=False),
        "ask": _column(pl.Float64(), _finite_positive("ask"), required=False),
        **_lineage_columns(),
    },
    checks=[_check(TICK_ORDER)],
    strict=True,
    name="ticks",
)

BAR_SCHEMA = pa.DataFrameSchema(
    {
        "timestamp": _column(TIMESTAMP_DTYPE),
        **{c: _column(pl.Float64(), _finite_positive(c)) for c in ("open", "high", "low", "close")},
        "volume": _column(pl.Float64(), _finite_nonnegative("volume", "negative_volume")),
        "vwap": _column(pl.Float64(), _finite_positive("vwap"), required=False),
        "trades": _column(
            pl.Int64(), [Rule("negative_trades", pl.col("trades") >= 0, "< 0")], required=False
        ),
        **_lineage_columns(),
    },
    checks=[_check(HIGH_RULE), _check(LOW_RULE), _check(BAR_ORDER)],
    strict=True,
    name="bars",
)
# Bars that carry the optional vwap column get one more frame-level rule.
_BAR_SCHEMA_VWAP = pa.DataFrameSchema(
    BAR_SCHEMA.columns,
    checks=[_check(HIGH_RULE), _check(LOW_RULE), _check(VWAP_RULE), _check(BAR_ORDER)],
    strict=True,
    name="bars",
)


def schema_for(data_kind: str, frame: pl.DataFrame | None = None) -> pa.DataFrameSchema:
    """The schema of `data_kind` ("ticks" or "bars") fitting the columns of `frame`."""
    if data_kind == "ticks":
        return TICK_SCHEMA
    if data_kind != "bars":
        raise ValueError(f"data_kind must be one of {DATA_KINDS}, not {data_kind!r}")
    has_vwap = frame is not None and "vwap" in frame.columns
    return _BAR_SCHEMA_VWAP if has_vwap else BAR_SCHEMA


def validate_ticks(
    frame: pl.DataFrame,
    *,
    source: str | Path | None = None,
    files: Sequence[str] = (),
    after: datetime | int | None = None,
) -> pl.DataFrame:
    """Validate ticks against TICK_SCHEMA; raise DataError naming file, rows and rule.

    `after` is the last timestamp of the previous batch when validating a stream.
    """
    return validate_frame(frame, "ticks", source=source, files=files, after=after)


def validate_bars(
    frame: pl.DataFrame,
    *,
    source: str | Path | None = None,
    files: Sequence[str] = (),
    after: datetime | int | None = None,
) -> pl.DataFrame:
    """Validate bars against BAR_SCHEMA; raise DataError naming file, rows and rule."""
    return validate_frame(frame, "bars", source=source, files=files, after=after)


def validate_frame(
    frame: pl.DataFrame,
    data_kind: str,
    *,
    source: str | Path | None = None,
    files: Sequence[str] = (),
    after: datetime | int | None = None,
    row_offset: int = 0,
) -> pl.DataFrame:
    """Validate one frame (or one batch of a stream) of `data_kind`.

    `after`: the previous batch's last timestamp (a datetime, or int nanoseconds since the
    epoch, which keeps the nanoseconds a Python datetime would drop). `row_offset` numbers
    rows of a stream without lineage columns (row = offset + i + 1).
    """
    try:
        schema_for(data_kind, frame).validate(frame, lazy=True)
    except (SchemaErrors, SchemaError) as exc:
        raise to_data_error(exc, frame, data_kind, source, files, row_offset) from None
    if after is not None and frame.height:
        first = int(frame["timestamp"].head(1).to_physical()[0])
        before = after if isinstance(after, int) else epoch_ns(after)
        broken = first < before if data_kind == "ticks" else first <= before
        if broken:
            rule = TICK_ORDER if data_kind == "ticks" else BAR_ORDER
            rows = describe_rows(frame.head(1), files, row_offset)  # the batch's first row
            path = path_of(frame.head(1), files, source)
            problem = f"{rule.description}: it follows {iso_ns(before)} of the previous batch"
            raise DataError(path, problem, rule=rule.name, rows=rows)
    return frame


def validate_batches(
    batches: Iterable[pl.DataFrame],
    data_kind: str,
    *,
    source: str | Path | None = None,
    files: Sequence[str] = (),
) -> Iterator[pl.DataFrame]:
    """Validate a stream batch by batch, ordering included across batch boundaries."""
    last: int | None = None
    offset = 0
    for batch in batches:
        validate_frame(batch, data_kind, source=source, files=files, after=last, row_offset=offset)
        if batch.height:
            last = last_timestamp_ns(batch)
        offset += batch.height
        yield batch


def validate_folder(folder: str | Path, data_kind: str, batch_rows: int = 1_000_000) -> int:
    """Validate a part folder in bounded memory; return its row count."""
    folder = Path(folder)
    files = read_manifest(folder).get("files", []) if (folder / MANIFEST_NAME).is_file() else []
    rows = 0
    for batch in validate_batches(
        iter_batches(folder, batch_rows), data_kind, source=folder, files=files
    ):
        rows += batch.height
    return rows
