"""The fast path for good CSV files: duckdb's CSV reader, streamed as Arrow batches.

duckdb parses CSV ~2x faster than pyarrow's streaming reader on 2 cores, and streams its
result in bounded memory (`memory_limit`). It runs only where its result is provably the one
the strict reader would give: ISO 8601 timestamps with 'Z' (microseconds at most) or local
ones with a time of day, numeric epochs, numeric columns; plain or gzip text. Every timestamp
must have the first one's exact shape (a strptime format applied inside the reader, which
costs nothing: SQL guards on the text doubled the read's CPU time), and any failure, shape or
parse, means `FastPathRefused`: the caller discards this file's parts and
reads it again with the strict reader, which either reads it or names the bad rows. So the
fast path never decides that a file is bad, and never lets a doubtful value through.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import polars as pl

from qraptor.data.ingest.csvshape import CsvShape, looks_numeric
from qraptor.data.ingest.timestamps import TimestampConfig

_ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_ISO_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?$")
MEMORY_LIMIT = "1GB"
READER_ROWS = 1 << 20  # Arrow batches from duckdb; the caller gathers them into parts


class FastPathRefused(Exception):
    """The fast reader cannot vouch for this file; the strict reader decides."""


def timestamp_mode(cfg: TimestampConfig, first_value: str | None) -> str | None:
    """How the fast path reads the timestamp column, None when it must not read it."""
    if cfg.format is not None or first_value is None:
        return None
    value = first_value.strip()
    if looks_numeric(value):
        return "epoch_int" if value.lstrip("+-").isdigit() else "epoch_float"
    if cfg.unit is not None:
        return None
    if _ISO_Z.match(value):
        return "utc"
    if _ISO_NAIVE.match(value):
        return "naive"
    return None


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def timestamp_format(first_value: str, mode: str) -> str:
    """The strptime format of every timestamp, taken from the first one's shape.

    duckdb's CSV reader applies it to each row: a row of another shape (no 'Z' where the
    first had one, an offset, nanoseconds: `%f` takes at most 6 digits) fails the read, and
    the strict reader takes over. So a naive row is never read as UTC, nor a value truncated.
    """
    value = first_value.strip()
    fmt = "%Y-%m-%d" + value[10] + "%H:%M:%S"
    if "." in value[19:]:
        fmt += ".%f"
    return fmt + ("Z" if mode == "utc" else "")


def duckdb_batches(
    path: Path,
    shape: CsvShape,
    types: Mapping[str, str],
    mode: str,
) -> Iterator[pl.DataFrame]:
    """The mapped columns of `path` (named as `shape.fields`), batch by batch, in order.

    `types` maps qraptor columns other than the timestamp to duckdb types (DOUBLE, BIGINT).
    Timestamps come as Datetime(us, "UTC") ('Z' files), naive Datetime (local files, for
    polars to localise) or numbers (epochs, for the caller's unit detection).
    """
    import duckdb  # imported here: only CSV ingest needs it

    ts_field = shape.field("timestamp")
    read_types = {name: "VARCHAR" for name in shape.fields}  # unmapped: never converted
    for ours, duck_type in types.items():
        read_types[shape.field(ours)] = duck_type
    epoch = {"epoch_int": "BIGINT", "epoch_float": "DOUBLE"}
    read_types[ts_field] = epoch.get(mode, "TIMESTAMP")
    wanted = list(dict.fromkeys([ts_field, *(shape.field(c) for c in types)]))
    struct = ", ".join(f"{_literal(n)}: {_literal(t)}" for n, t in read_types.items())
    options = (
        f"header = {'true' if shape.header else 'false'}, auto_detect = false, "
        "delim = ',', quote = '\"', escape = '\"', strict_mode = true, null_padding = false, "
        f"compression = {_literal('gzip' if shape.compression == 'gzip' else 'none')}, "
        f"columns = {{{struct}}}"
    )
    if mode not in epoch:
        first = shape.first_row["timestamp"]
        options += f", timestampformat = {_literal(timestamp_format(first, mode))}"
    query = (
        f"SELECT {', '.join(_quote(n) for n in wanted)} "
        f"FROM read_csv({_literal(str(path))}, {options})"
    )
    config = {
        "threads": os.cpu_count() or 1,
        "memory_limit": MEMORY_LIMIT,
        "preserve_insertion_order": True,  # rows come in file order: src_row is their index
    }
    try:
        con = duckdb.connect(config=config)  # type: ignore[arg-type]
    except duckdb.Error as exc:
        raise FastPathRefused(str(exc).splitlines()[0]) from None
    try:
        reader = con.sql(query).to_arrow_reader(READER_ROWS)
        for batch in reader:
            if batch.num_rows:
                frame: pl.DataFrame = pl.from_arrow(batch)  # type: ignore[assignment]
                if mode == "utc":  # the format's literal 'Z': these are UTC wall times
                    frame = frame.with_columns(pl.col(ts_field).dt.replace_time_zone("UTC"))
                yield frame
    except duckdb.Error as exc:
        raise FastPathRefused(str(exc).splitlines()[0]) from None
    finally:
        con.close()
