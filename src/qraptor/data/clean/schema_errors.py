"""Messages for bad rows: where a row came from, and pandera failures as DataErrors.

Every message names the original file and row (from the ``src_file``/``src_row`` lineage
columns and the folder manifest's `files` list) or, for frames without lineage, the row
number, plus the timestamp with its nanoseconds and the row's values.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import polars as pl
from pandera.errors import SchemaError, SchemaErrors

from qraptor.core.errors import DataError
from qraptor.data.columns import LINEAGE_COLUMNS

TIMESTAMP_DTYPE = pl.Datetime("ns", "UTC")
ISO_NS = "%Y-%m-%dT%H:%M:%S%.fZ"
MAX_EXAMPLES = 5
_ROW = "_row"  # 1-based row number of frames without lineage, for messages
_STRUCTURE = {
    "column_in_schema": "unexpected column '{case}'",
    "column_in_dataframe": "missing column '{case}'",
}


def epoch_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch of a (tz-aware) datetime."""
    return int(pl.Series([moment]).cast(TIMESTAMP_DTYPE).to_physical()[0])


def last_timestamp_ns(frame: pl.DataFrame) -> int:
    """The last row's timestamp in nanoseconds (exact, unlike `frame["timestamp"][-1]`)."""
    return int(frame["timestamp"].tail(1).to_physical()[0])


def iso_ns(ns: int) -> str:
    """ISO 8601 UTC text of nanoseconds since the epoch."""
    series = pl.Series([ns], dtype=pl.Int64).cast(TIMESTAMP_DTYPE)
    return str(series.dt.to_string(ISO_NS)[0])


def describe_rows(
    frame: pl.DataFrame,
    files: Sequence[str] = (),
    row_offset: int = 0,
    columns: Sequence[str] | None = None,
) -> list[str]:
    """One readable line per row: where it came from, when, and its values."""
    hidden = (*LINEAGE_COLUMNS, "timestamp", _ROW)
    shown = [c for c in (columns or frame.columns) if c not in hidden]
    where = _where(frame, files, row_offset)
    when = (
        frame["timestamp"].dt.to_string(ISO_NS).fill_null("null").to_list()
        if "timestamp" in frame.columns and frame.schema["timestamp"] == TIMESTAMP_DTYPE
        else [None] * frame.height
    )
    lines = []
    for i, row in enumerate(frame.select(shown).iter_rows()):
        values = ", ".join(f"{name}={value}" for name, value in zip(shown, row, strict=True))
        stamp = f" at {when[i]}" if when[i] else ""
        lines.append(f"{where[i]}{stamp}: {values}")
    return lines


def file_name(index: int | None, files: Sequence[str]) -> str | None:
    """The source file of lineage index `index` (None when unknown, e.g. -1)."""
    if index is None or index < 0:
        return None
    return files[index] if 0 <= index < len(files) else f"file #{index}"


def _where(frame: pl.DataFrame, files: Sequence[str], row_offset: int) -> list[str]:
    if _ROW in frame.columns:
        return [f"row {row}" for row in frame[_ROW].to_list()]
    if "src_row" not in frame.columns:
        return [f"row {row_offset + i + 1}" for i in range(frame.height)]
    src_files = frame["src_file"].to_list() if "src_file" in frame.columns else [None] * len(frame)
    out = []
    for index, row in zip(src_files, frame["src_row"].to_list(), strict=True):
        name = file_name(index, files)
        out.append(f"{name} row {row}" if name else f"row {row}")
    return out


def path_of(
    rows: pl.DataFrame, files: Sequence[str], source: str | Path | None
) -> str | Path | None:
    if "src_file" in rows.columns and rows.height:
        return file_name(rows["src_file"][0], files) or source
    return source


def to_data_error(
    exc: SchemaErrors | SchemaError,
    frame: pl.DataFrame,
    data_kind: str,
    source: str | Path | None,
    files: Sequence[str],
    row_offset: int,
) -> DataError:
    """Turn pandera's failure cases into one DataError a user can act on."""
    if isinstance(exc, SchemaError):  # non-lazy path: a single error without row indexes
        return DataError(source, str(exc).splitlines()[0], rule="schema")
    cases = exc.failure_cases
    structural = cases.filter(pl.col("index").is_null())
    if structural.height:
        problems = [_structure_message(row, frame) for row in structural.iter_rows(named=True)]
        return DataError(source, f"not valid {data_kind}: " + "; ".join(problems), rule="schema")
    counts = cases.group_by(["column", "check"], maintain_order=True).agg(
        pl.len().alias("n"), pl.col("index").sort().head(MAX_EXAMPLES)
    )
    first = counts.row(0, named=True)
    numbered = frame if "src_row" in frame.columns else frame.with_row_index(_ROW, row_offset + 1)
    examples = numbered[first["index"]]
    rule = "missing_value" if first["check"] == "not_nullable" else first["check"]
    summary = "; ".join(
        f"{row['n']} row(s) fail {row['check']}"
        + (f" on {row['column']}" if row["column"] in frame.columns else "")
        for row in counts.iter_rows(named=True)
    )
    return DataError(
        path_of(examples, files, source),
        f"not valid {data_kind}: {summary}",
        rule=rule,
        rows=describe_rows(examples, files, row_offset),
    )


def _structure_message(case: dict, frame: pl.DataFrame) -> str:
    check, value, column = case["check"], case["failure_case"], case["column"]
    if check in _STRUCTURE:
        return _STRUCTURE[check].format(case=value)
    if column and column in frame.columns:
        expected = check.removeprefix("dtype('").removesuffix("')")
        return f"column '{column}' has type {frame.schema[column]}, expected {expected}"
    return f"{column or 'frame'}: {check} ({value})"
