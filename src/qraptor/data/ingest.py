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

import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from qraptor.common.atomic import atomic_dir
from qraptor.common.log import get_logger, human_count, track
from qraptor.config import check
from qraptor.data import INPUT_BAR_COLUMNS, QUOTE_COLUMNS, TICK_COLUMNS
from qraptor.data.parts import write_manifest
from qraptor.data.timestamps import TimestampConfig, diagnose_timestamps, parse_timestamps
from qraptor.errors import DataError

log = get_logger(__name__)

OPTIONAL_COLUMNS = {"ticks": QUOTE_COLUMNS, "bars": ("vwap", "trades")}
REQUIRED_COLUMNS = {"ticks": TICK_COLUMNS, "bars": INPUT_BAR_COLUMNS}
FORMATS = ("csv", "parquet")
_SNIFF_BYTES = 64 * 1024


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
        part_index = 0
        for file_index, path in enumerate(track(files, "ingest", total=len(files))):
            rows, part_index = _ingest_one(
                Path(path),
                file_index,
                spec,
                _format_of(Path(path), fmt),
                tmp,
                part_index,
                batch_rows,
            )
            rows_per_file.append(rows)
            if rows == 0:
                skipped.append(str(path))
                log.warning("%s has a header but no data rows: skipped", path)
        manifest = {
            "kind": kind,
            "files": [str(p) for p in files],
            "rows_per_file": rows_per_file,
            "rows": sum(rows_per_file),
            "parts": part_index,
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
    out_dir: Path,
    part_index: int,
    batch_rows: int,
) -> tuple[int, int]:
    """Write one source file's rows as parts; return (rows, next part index)."""
    _refuse_non_data(path, fmt)
    frame = _scan(path, fmt, spec, file_index)
    staging = out_dir / f".file-{file_index:05d}"
    try:
        frame.sink_parquet(
            pl.PartitionBy(staging, max_rows_per_file=batch_rows),
            mkdir=True,
            maintain_order=True,
        )
    except pl.exceptions.PolarsError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise _explain_failure(path, fmt, spec, exc) from None
    rows = 0
    for written in sorted(staging.glob("*.parquet")):
        count = pl.scan_parquet(written).select(pl.len()).collect().item()
        if count == 0:
            continue
        written.rename(out_dir / f"part-{part_index:05d}.parquet")
        part_index += 1
        rows += count
    shutil.rmtree(staging, ignore_errors=True)
    return rows, part_index


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


def _scan(path: Path, fmt: str, spec: IngestSpec, file_index: int) -> pl.LazyFrame:
    """A lazy frame of the file with qraptor's column names, types and UTC timestamps."""
    float_columns = [c for c in spec.columns if c not in ("timestamp", "trades")]
    if fmt == "csv":
        header = _csv_header(path)
        _check_columns(path, spec, header)
        overrides: dict[str, Any] = {spec.columns[c]: pl.Float64 for c in float_columns}
        if "trades" in spec.columns:
            overrides[spec.columns["trades"]] = pl.Int64
        overrides[spec.columns["timestamp"]] = pl.Float64 if spec.timestamp.unit else pl.String
        lazy = pl.scan_csv(
            path,
            schema_overrides=overrides,
            row_index_name="src_row",
            row_index_offset=1,
            infer_schema=False,
            raise_if_empty=False,
        )
    else:
        lazy = pl.scan_parquet(path, row_index_name="src_row", row_index_offset=1)
        _check_columns(path, spec, list(lazy.collect_schema().names()))
    renamed = lazy.select(
        pl.col(spec.columns["timestamp"]).alias("timestamp"),
        *[pl.col(spec.columns[c]).cast(pl.Float64).alias(c) for c in float_columns],
        *(
            [pl.col(spec.columns["trades"]).cast(pl.Int64).alias("trades")]
            if "trades" in spec.columns
            else []
        ),
        pl.lit(file_index, pl.Int32).alias("src_file"),
        pl.col("src_row").cast(pl.Int64),
    )
    source_dtype = renamed.collect_schema()["timestamp"]
    first_value = None
    if source_dtype == pl.String and spec.timestamp.format is None:
        first = renamed.select("timestamp").drop_nulls().head(1).collect()
        first_value = first.item() if first.height else None
    return renamed.with_columns(
        parse_timestamps(pl.col("timestamp"), source_dtype, spec.timestamp, first_value)
    )


def _csv_header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        first = handle.readline().rstrip("\r\n")
    return [name.strip().strip('"') for name in first.split(",")]


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


def _explain_failure(
    path: Path, fmt: str, spec: IngestSpec, exc: pl.exceptions.PolarsError
) -> DataError:
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
    except pl.exceptions.PolarsError as inner:
        reason = str(inner).strip().splitlines()[0]
    return DataError(path, f"cannot be read as CSV: {reason}", rule="unreadable")
