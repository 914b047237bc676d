"""Stage `ingest`: read users' CSV/Parquet files into qraptor's canonical Parquet parts.

Raw market data arrives in every shape: other column names, local or epoch timestamps, a
folder of daily files. Ingest maps columns, parses time to UTC, and writes a part folder
(see `data/__init__.py` for the contract) so every later stage reads one format, fast.
Files are streamed with polars (bounded memory), and a file that is not data at all
(empty, binary, wrong columns, unparseable values, mixed timezones) is refused by name.
Parsing is strict on the fast path; only when it fails does a diagnostic pass run to find
the offending rows, so good files pay nothing for good error messages.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from qraptor.core.atomic import atomic_dir
from qraptor.core.config import check
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger, human_count, track
from qraptor.data.columns import (
    ADJUSTMENT_COLUMNS,
    INPUT_BAR_COLUMNS,
    QUOTE_COLUMNS,
    TICK_COLUMNS,
)
from qraptor.data.ingest.timestamps import (
    TimestampConfig,
    diagnose_timestamps,
    is_date_text,
    looks_like_offset,
    parse_timestamps,
)
from qraptor.data.parts import PartWriter, write_manifest

log = get_logger(__name__)

OPTIONAL_COLUMNS = {"ticks": QUOTE_COLUMNS, "bars": ("vwap", "trades", *ADJUSTMENT_COLUMNS)}
REQUIRED_COLUMNS = {"ticks": TICK_COLUMNS, "bars": INPUT_BAR_COLUMNS}
FORMATS = ("csv", "parquet")
_SNIFF_BYTES = 64 * 1024
_CSV_BLOCK_BYTES = 16 * 1024 * 1024  # pyarrow parses blocks in parallel; 16 MiB measured best


@dataclass
class FilesConfig:
    """Where a user's own files are: a glob relative to the project root."""

    glob: str
    format: str  # csv | parquet | auto

    def __post_init__(self) -> None:
        check(self.format in (*FORMATS, "auto"), "format", "must be csv, parquet or auto")


@dataclass
class IngestSpec:
    """How to read one dataset: which kind, which columns, how time is written."""

    kind: str  # ticks | bars
    columns: dict[str, str]  # qraptor column -> column in the file
    timestamp: TimestampConfig

    def __post_init__(self) -> None:
        check(self.kind in REQUIRED_COLUMNS, "kind", "must be 'ticks' or 'bars'")
        known = set(REQUIRED_COLUMNS[self.kind]) | set(OPTIONAL_COLUMNS[self.kind])
        missing = [c for c in REQUIRED_COLUMNS[self.kind] if c not in self.columns]
        check(not missing, "columns", f"{self.kind} need a mapping for {missing}")
        unknown = sorted(set(self.columns) - known)
        check(not unknown, "columns", f"unknown qraptor columns {unknown}; known: {sorted(known)}")


def ingest_files(
    files: Sequence[Path],
    out_dir: Path,
    *,
    kind: str,
    columns: Mapping[str, str],
    timestamp: TimestampConfig,
    fmt: str = "auto",
    batch_rows: int = 2_000_000,
) -> dict[str, Any]:
    """Convert `files` (in the given order) into the part folder `out_dir`, atomically.

    Returns the manifest: kind, source files, rows per file, total rows, skipped files.
    """
    spec = IngestSpec(kind=kind, columns=dict(columns), timestamp=timestamp)
    if not files:
        raise DataError(None, "no input files: check the data source's glob")
    started = time.perf_counter()
    rows_per_file: list[int] = []
    skipped: list[str] = []
    with atomic_dir(out_dir) as tmp:
        writer = PartWriter(tmp)
        for file_index, path in enumerate(track(files, "ingest", total=len(files))):
            rows = _ingest_one(
                Path(path), file_index, spec, _format_of(Path(path), fmt), writer, batch_rows
            )
            rows_per_file.append(rows)
            if rows == 0:
                skipped.append(str(path))
                log.warning("%s has a header but no data rows: skipped", path)
        manifest: dict[str, Any] = {
            "kind": kind,
            "files": [str(p) for p in files],
            "rows_per_file": rows_per_file,
            "rows": sum(rows_per_file),
            "parts": writer.parts,
            "skipped_empty_files": skipped,
        }
        if manifest["rows"] == 0:
            names = ", ".join(str(p) for p in files[:3]) + (", ..." if len(files) > 3 else "")
            raise DataError(None, f"no data rows in any input file ({names})", rule="empty_file")
        write_manifest(tmp, manifest)
    seconds = time.perf_counter() - started
    log.info(
        "ingest: %d file(s) -> %s %s rows in %.1f s (%s rows/s)",
        len(files),
        human_count(manifest["rows"]),
        kind,
        seconds,
        human_count(manifest["rows"] / max(seconds, 1e-9)),
    )
    return manifest


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes or ".txt" in suffixes:
        return "csv"
    raise DataError(path, "cannot tell the format from the extension; set files.format")


def _ingest_one(
    path: Path,
    file_index: int,
    spec: IngestSpec,
    fmt: str,
    writer: PartWriter,
    batch_rows: int,
) -> int:
    """Stream one source file into `writer` in parts of about `batch_rows` rows."""
    _refuse_non_data(path, fmt)
    rows = 0
    pending: list[pl.DataFrame] = []
    pending_rows = 0
    # Parquet encoding of one part overlaps parsing of the next (both release the GIL);
    # at most one part is in flight, so memory stays about two parts.
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight: Future[None] | None = None
        try:
            for raw in _read_batches(path, fmt, spec, batch_rows):
                frame = _canonical(raw, spec, file_index, first_row=rows + 1)
                rows += frame.height
                pending.append(frame)
                pending_rows += frame.height
                if pending_rows >= batch_rows:
                    if in_flight is not None:
                        in_flight.result()
                    in_flight = pool.submit(writer.write, pl.concat(pending))
                    pending, pending_rows = [], 0
            if in_flight is not None:
                in_flight.result()
            if pending:
                writer.write(pl.concat(pending))
        except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
            raise _explain_failure(path, fmt, spec, exc) from None
    return rows


def _refuse_non_data(path: Path, fmt: str) -> None:
    """Refuse, by name, files that are not data at all before any parser sees them."""
    if not path.is_file():
        raise DataError(path, "no such file")
    if path.stat().st_size == 0:
        raise DataError(path, "the file is empty (0 bytes)", rule="empty_file")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if fmt == "parquet":
        if not head.startswith(b"PAR1"):
            raise DataError(path, "not a Parquet file (no PAR1 magic bytes)", rule="not_data")
        return
    if head.startswith(b"PAR1"):
        raise DataError(path, "is a Parquet file, not CSV: set files.format", rule="not_data")
    if b"\x00" in head:
        raise DataError(path, "binary data, not CSV text (NUL bytes)", rule="not_data")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte char cut at the sniff boundary is fine
            raise DataError(path, "not UTF-8 text", rule="not_data") from None
    if not head.strip():
        raise DataError(path, "the file holds only whitespace", rule="empty_file")


def _read_batches(
    path: Path, fmt: str, spec: IngestSpec, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The mapped columns of a file, batch by batch, as in the file (names and all).

    CSV goes through pyarrow's streaming reader (multi-threaded, several times faster than
    row-wise parsers); ISO 8601 timestamps are parsed natively there, other shapes as text.
    """
    wanted = list(dict.fromkeys(spec.columns.values()))
    if fmt == "parquet":
        metadata = pq.ParquetFile(path).metadata
        _check_columns(path, spec, metadata.schema.to_arrow_schema().names)
        source = pl.scan_parquet(path).select(wanted)
        # polars' parallel reader on row slices: ~1.6x pyarrow's iter_batches here
        for offset in range(0, metadata.num_rows, batch_rows):
            yield source.slice(offset, batch_rows).collect()
        return
    header, first_row = _csv_head(path)
    _check_columns(path, spec, header)
    types: dict[str, pa.DataType] = {
        spec.columns[c]: pa.int64() if c == "trades" else pa.float64()
        for c in spec.columns
        if c != "timestamp"
    }
    types[spec.columns["timestamp"]] = _csv_timestamp_type(
        spec.timestamp, first_row.get(spec.columns["timestamp"])
    )
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK_BYTES, use_threads=True),
        convert_options=pacsv.ConvertOptions(column_types=types, include_columns=wanted),
    )
    for batch in reader:
        if batch.num_rows:
            yield pl.from_arrow(batch)  # type: ignore[misc]


def _csv_timestamp_type(cfg: TimestampConfig, first_value: str | None) -> pa.DataType:
    """How pyarrow should read the timestamp column of a CSV file."""
    if cfg.unit is not None:
        return pa.float64()
    if cfg.format is not None or first_value is None:
        return pa.string()  # parsed by polars with the configured (chrono) format
    if is_date_text(first_value):
        return pa.date32()  # calendar dates, labelled D 00:00 UTC (timestamps.calendar_dates)
    if looks_like_offset(first_value):
        return pa.timestamp("ns", tz="UTC")
    return pa.timestamp("ns")  # local time in cfg.timezone, localised by polars


def _canonical(
    raw: pl.DataFrame, spec: IngestSpec, file_index: int, first_row: int
) -> pl.DataFrame:
    """qraptor's column names and types, UTC timestamps and lineage for one batch."""
    timestamp = raw.get_column(spec.columns["timestamp"])
    first_value = None
    if timestamp.dtype == pl.String and spec.timestamp.format is None:
        non_null = timestamp.drop_nulls()
        first_value = non_null[0] if len(non_null) else None
    return raw.select(
        parse_timestamps(
            pl.col(spec.columns["timestamp"]), timestamp.dtype, spec.timestamp, first_value
        ).alias("timestamp"),
        *[
            pl.col(spec.columns[c]).cast(pl.Int64 if c == "trades" else pl.Float64).alias(c)
            for c in spec.columns
            if c != "timestamp"
        ],
        pl.lit(file_index, pl.Int32).alias("src_file"),
        pl.int_range(first_row, first_row + raw.height, dtype=pl.Int64).alias("src_row"),
    )


def _csv_head(path: Path) -> tuple[list[str], dict[str, str]]:
    """The header and the first data row of a CSV file (for column checks and type choice)."""
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines = csv.reader(handle)
        header = [name.strip() for name in next(lines, [])]
        first = next(lines, [])
    return header, dict(zip(header, first, strict=False))


def _check_columns(path: Path, spec: IngestSpec, available: Sequence[str]) -> None:
    missing = [
        f"{ours} (mapped from '{theirs}')"
        for ours, theirs in spec.columns.items()
        if theirs not in available
    ]
    if missing:
        raise DataError(
            path,
            f"missing column(s) {', '.join(missing)}; the file has {list(available)}. "
            "Fix data.columns in the config or the file.",
            rule="wrong_columns",
        )


def _explain_failure(path: Path, fmt: str, spec: IngestSpec, exc: Exception) -> DataError:
    """Turn a parser failure into a DataError that names the rows; re-reads as text."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if fmt != "csv":
        return DataError(path, f"cannot be read: {reason}", rule="unreadable")
    try:
        text = pl.scan_csv(
            path,
            infer_schema=False,
            row_index_name="src_row",
            row_index_offset=1,
            truncate_ragged_lines=False,
        )
        bad_ts = diagnose_timestamps(text, spec.columns["timestamp"], spec.timestamp)
        if bad_ts is not None:
            return DataError(path, bad_ts[0], rule=bad_ts[1], rows=bad_ts[2])
        for ours, theirs in spec.columns.items():
            if ours == "timestamp":
                continue
            target = pl.Int64 if ours == "trades" else pl.Float64
            bad = (
                text.filter(
                    pl.col(theirs).is_not_null()
                    & pl.col(theirs).cast(target, strict=False).is_null()
                )
                .select("src_row", theirs)
                .head(5)
                .collect()
            )
            if bad.height:
                rows = [f"row {r}: {theirs}={v!r}" for r, v in bad.iter_rows()]
                return DataError(
                    path,
                    f"column '{theirs}' ({ours}) holds values that are not numbers",
                    rule="not_numeric",
                    rows=rows,
                )
    except pl.exceptions.PolarsError:
        pass  # the text re-read failed too: the parser's own reason is the best we have
    return DataError(path, f"cannot be read as CSV: {reason}", rule="unreadable")
