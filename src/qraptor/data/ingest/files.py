"""Stage `ingest`: read users' CSV/Parquet files into qraptor's canonical Parquet parts.

Raw market data arrives in every shape: other column names, local or epoch timestamps, a
folder of daily files. Ingest maps columns, parses time to UTC, and writes a part folder
(see `data/__init__.py` for the contract) so every later stage reads one format, fast.
Files are streamed (bounded memory), and a file that is not data at all (empty, binary,
wrong columns, unparseable values, mixed timezones or epoch units) is refused by name, with
the option that would read it when one would. CSV may be headerless (columns by position),
carry pandas' unnamed index column, or come as .csv.gz or a .zip holding one CSV (see
`csvshape`). Parsing is strict on the fast path; only when it fails does a diagnostic pass
run to find the offending rows, so good files pay nothing for good error messages.
"""

from __future__ import annotations

import dataclasses
import time
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

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
from qraptor.data.ingest.csvshape import (
    CsvConfig,
    CsvShape,
    compression_of,
    csv_shape,
    looks_numeric,
    open_binary,
    plain_text,
    read_head,
)
from qraptor.data.ingest.epochs import UNIT_HINT, detect_unit
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
# names the raw-file listing and format detection accept (compressed CSV included)
CSV_SUFFIXES = (".csv", ".txt", ".csv.gz", ".txt.gz", ".zip")
PARQUET_SUFFIXES = (".parquet", ".pq")
_SNIFF_BYTES = 64 * 1024
_PART_ROW_GROUP = 512 * 512  # polars' default: what the later stages were measured with
# CSV is cut into chunks of whole lines, each parsed by pyarrow's multi-threaded reader.
# Its streaming reader parses on one core (0.77 s wall for 0.80 s CPU per 5 M ticks, where
# read_csv takes 0.56 s wall on 2 cores): chunks give the parallel parse in bounded memory.
_CSV_CHUNK_BYTES = 64 * 1024 * 1024
_CSV_BLOCK_BYTES = 4 * 1024 * 1024  # pyarrow's unit of parallel work inside a chunk


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
    csv: CsvConfig | None = None,
) -> dict[str, Any]:
    """Convert `files` (in the given order) into the part folder `out_dir`, atomically.

    `csv` describes CSV files (a header row or none).
    Returns the manifest: kind, source files, rows per file, total rows, skipped files.
    """
    spec = IngestSpec(
        kind=kind, columns={k: str(v) for k, v in columns.items()}, timestamp=timestamp
    )
    csv_cfg = csv or CsvConfig()
    if not files:
        raise DataError(None, "no input files: check the data source's glob")
    started = time.perf_counter()
    rows_per_file: list[int] = []
    skipped: list[str] = []
    with atomic_dir(out_dir) as tmp:
        writer = _IngestPartWriter(tmp)
        for file_index, path in enumerate(track(files, "ingest", total=len(files))):
            rows = _ingest_one(
                Path(path),
                file_index,
                spec,
                _format_of(Path(path), fmt),
                writer,
                batch_rows,
                csv_cfg,
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


class _IngestPartWriter(PartWriter):
    """Ingest's parts, with the Parquet encodings that suit market data.

    Floats byte-stream-split, integers and timestamps delta-encoded, no dictionaries, zstd:
    writing 4 M ticks took 0.33 s of CPU instead of polars' 0.80 s (dictionary attempts on
    every column); the parts are ~20% larger (47 vs 39 MB for 5 M ticks) and `reduce` reads
    them as fast. Their columns, types and rows are the same; only the bytes differ.
    """

    def write(self, frame: pl.DataFrame | pa.Table) -> None:
        table = frame if isinstance(frame, pa.Table) else frame.to_arrow()
        if table.num_rows == 0:
            return
        encoding = {}
        for field in table.schema:
            if pa.types.is_floating(field.type):
                encoding[field.name] = "BYTE_STREAM_SPLIT"
            elif pa.types.is_int64(field.type) or pa.types.is_timestamp(field.type):
                encoding[field.name] = "DELTA_BINARY_PACKED"
            else:
                encoding[field.name] = "PLAIN"
        pq.write_table(
            table,
            self.folder / f"part-{self.parts:05d}.parquet",
            compression="zstd",
            use_dictionary=False,
            column_encoding=encoding,
            row_group_size=_PART_ROW_GROUP,
        )
        self.parts += 1
        self.rows += table.num_rows


def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    raise DataError(
        path,
        "cannot tell the format from the extension (.csv, .csv.gz, .zip, .parquet are known); "
        "set data.files.format: csv or parquet",
    )


def is_data_file(path: Path) -> bool:
    """True for names ingest reads by extension: CSV (plain, gzip, zip) and Parquet."""
    return path.name.lower().endswith(CSV_SUFFIXES + PARQUET_SUFFIXES)


def _ingest_one(
    path: Path,
    file_index: int,
    spec: IngestSpec,
    fmt: str,
    writer: PartWriter,
    batch_rows: int,
    csv_cfg: CsvConfig,
) -> int:
    """Stream one source file into `writer` in parts of about `batch_rows` rows."""
    compression = compression_of(path) if fmt == "csv" and path.is_file() else "none"
    _refuse_non_data(path, fmt, compression)
    shape = csv_shape(path, spec.columns, csv_cfg, compression) if fmt == "csv" else None
    try:
        batches = _read_batches(path, fmt, spec, shape, batch_rows)
        return _write_batches(path, batches, spec, shape, file_index, writer, batch_rows)
    except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
        raise _explain_failure(path, fmt, spec, shape, exc, writer.folder) from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        what = f"{compression} file is damaged or cut short" if compression != "none" else "file"
        raise DataError(path, f"cannot read this {what} ({exc})", rule="unreadable") from None


def _write_batches(
    path: Path,
    batches: Iterator[pl.DataFrame],
    spec: IngestSpec,
    shape: CsvShape | None,
    file_index: int,
    writer: PartWriter,
    batch_rows: int,
) -> int:
    """Canonicalise and write `batches` as parts of about `batch_rows` rows; rows read."""
    source = {c: shape.field(c) if shape else spec.columns[c] for c in spec.columns}
    rows = 0
    pending: list[pl.DataFrame] = []
    pending_rows = 0
    unit = spec.timestamp.unit
    # Parquet encoding of one part overlaps parsing of the next (both release the GIL);
    # at most one part is in flight, so memory stays about two parts.
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight: Future[None] | None = None
        for raw in batches:
            stamps = raw.get_column(source["timestamp"])
            stamp_cfg = spec.timestamp
            if stamps.dtype.is_numeric() and spec.timestamp.unit is None:
                label = _label(shape, "timestamp", source)
                unit = detect_unit(stamps, path, label, rows + 1, unit)
                stamp_cfg = dataclasses.replace(spec.timestamp, unit=unit)
            frame = _canonical(raw, spec, source, stamp_cfg, file_index, first_row=rows + 1)
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
    return rows


def _label(shape: CsvShape | None, ours: str, source: Mapping[str, str]) -> str:
    """How an error names the file's column that `ours` is mapped to."""
    return f"column '{source[ours]}'" if shape is None or shape.header else source[ours]


def _refuse_non_data(path: Path, fmt: str, compression: str) -> None:
    """Refuse, by name, files that are not data at all before any parser sees them.

    The text checks apply to the decompressed text of a .csv.gz or a zip's CSV.
    """
    if not path.is_file():
        raise DataError(path, "no such file")
    if path.stat().st_size == 0:
        raise DataError(path, "the file is empty (0 bytes)", rule="empty_file")
    if fmt == "parquet":
        with path.open("rb") as handle:
            if not handle.read(4).startswith(b"PAR1"):
                raise DataError(
                    path,
                    "not a Parquet file (no PAR1 magic bytes); if it is CSV, set "
                    "data.files.format: csv",
                    rule="not_data",
                )
        return
    head = read_head(path, compression, _SNIFF_BYTES)
    packed = "" if compression == "none" else f" (after {compression} decompression)"
    if head.startswith(b"PAR1"):
        raise DataError(
            path, "is a Parquet file, not CSV: set data.files.format: parquet", rule="not_data"
        )
    if b"\x00" in head:
        raise DataError(
            path,
            f"binary data, not CSV text (NUL bytes){packed}. CSV as .csv.gz or in a .zip is "
            "read directly; this file is neither, nor Parquet (data.files.format)",
            rule="not_data",
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # a multi-byte char cut at the sniff boundary is fine
            raise DataError(path, f"not UTF-8 text{packed}", rule="not_data") from None
    if not head.strip():
        raise DataError(path, f"the file holds only whitespace{packed}", rule="empty_file")


def _read_batches(
    path: Path, fmt: str, spec: IngestSpec, shape: CsvShape | None, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The mapped columns of a file, batch by batch (CSV columns named as `shape.fields`).

    CSV goes through pyarrow's streaming reader (multi-threaded, several times faster than
    row-wise parsers) on the decompressed stream; ISO 8601 timestamps are parsed natively
    there, other shapes as text.
    """
    if fmt == "parquet":
        wanted = list(dict.fromkeys(spec.columns.values()))
        metadata = pq.ParquetFile(path).metadata
        _check_columns(path, spec, metadata.schema.to_arrow_schema().names)
        source = pl.scan_parquet(path).select(wanted)
        # polars' parallel reader on row slices: ~1.6x pyarrow's iter_batches here
        for offset in range(0, metadata.num_rows, batch_rows):
            yield source.slice(offset, batch_rows).collect()
        return
    assert shape is not None
    types: dict[str, pa.DataType] = {
        shape.field(c): pa.int64() if c == "trades" else pa.float64()
        for c in spec.columns
        if c != "timestamp"
    }
    types[shape.field("timestamp")] = _csv_timestamp_type(
        spec.timestamp, shape.first_row.get("timestamp")
    )
    convert = pacsv.ConvertOptions(column_types=types, include_columns=list(dict.fromkeys(types)))
    with open_binary(path, shape.compression) as stream:
        for index, chunk in enumerate(_line_chunks(stream, _CSV_CHUNK_BYTES)):
            read = pacsv.ReadOptions(
                block_size=_CSV_BLOCK_BYTES,
                use_threads=True,
                column_names=shape.fields,
                skip_rows=1 if shape.header and index == 0 else 0,
            )
            table = pacsv.read_csv(pa.py_buffer(chunk), read_options=read, convert_options=convert)
            if table.num_rows:
                yield pl.from_arrow(table)  # type: ignore[misc]


def _line_chunks(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """The stream in pieces of about `size` bytes, each ending at a line break.

    Cutting at any newline is what pyarrow's reader does too: it reads CSV without
    newlines inside quoted values (`newlines_in_values=False`), so a newline ends a row.
    """
    rest = b""
    while True:
        block = stream.read(size)
        if not block:
            if rest:
                yield rest
            return
        block = rest + block if rest else block
        cut = block.rfind(b"\n") + 1
        if cut == 0:  # one line longer than `size`: keep reading
            rest = block
            continue
        rest = block[cut:]
        yield block[:cut]


def _csv_timestamp_type(cfg: TimestampConfig, first_value: str | None) -> pa.DataType:
    """How pyarrow should read the timestamp column of a CSV file."""
    if cfg.format is not None or first_value is None:
        return pa.string()  # parsed by polars with the configured (chrono) format
    if looks_numeric(first_value):  # epochs: integers stay exact (ns need all 64 bits)
        return pa.int64() if first_value.strip().lstrip("+-").isdigit() else pa.float64()
    if cfg.unit is not None:
        return pa.float64()  # fails on this text; the diagnosis names the rows
    if is_date_text(first_value):
        return pa.date32()  # calendar dates, labelled D 00:00 UTC (timestamps.calendar_dates)
    if looks_like_offset(first_value):
        return pa.timestamp("ns", tz="UTC")
    return pa.timestamp("ns")  # local time in cfg.timezone, localised by polars


def _canonical(
    raw: pl.DataFrame,
    spec: IngestSpec,
    source: Mapping[str, str],
    stamp_cfg: TimestampConfig,
    file_index: int,
    first_row: int,
) -> pl.DataFrame:
    """qraptor's column names and types, UTC timestamps and lineage for one batch."""
    timestamp = raw.get_column(source["timestamp"])
    first_value = None
    if timestamp.dtype == pl.String and stamp_cfg.format is None:
        non_null = timestamp.drop_nulls()
        first_value = non_null[0] if len(non_null) else None
    return raw.select(
        parse_timestamps(
            pl.col(source["timestamp"]), timestamp.dtype, stamp_cfg, first_value
        ).alias("timestamp"),
        *[
            pl.col(source[c]).cast(pl.Int64 if c == "trades" else pl.Float64).alias(c)
            for c in spec.columns
            if c != "timestamp"
        ],
        pl.lit(file_index, pl.Int32).alias("src_file"),
        pl.int_range(first_row, first_row + raw.height, dtype=pl.Int64).alias("src_row"),
    )


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


OPTIONS_HINT = (
    "If the file is of another shape, these options read it: data.csv.header (false for "
    "no header, with data.columns as positions), data.timestamp.format / .unit, "
    "data.files.format; .csv.gz and .zip are read directly."
)


def _explain_failure(
    path: Path,
    fmt: str,
    spec: IngestSpec,
    shape: CsvShape | None,
    exc: Exception,
    scratch: Path,
) -> DataError:
    """Turn a parser failure into a DataError that names the rows; re-reads as text."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if fmt != "csv" or shape is None:
        return DataError(path, f"cannot be read: {reason}", rule="unreadable")
    try:
        with plain_text(path, shape.compression, scratch) as plain:
            found = _diagnose(plain, spec, shape)
        if found is not None:
            problem = found.problem
            if not shape.header and found.rows and found.rows[0].startswith("row 1:"):
                problem += " Row 1 looks like a header: set data.csv.header: true."
            return DataError(path, problem, rule=found.rule, rows=found.rows)
    except pl.exceptions.PolarsError:
        pass  # the text re-read failed too: the parser's own reason is the best we have
    return DataError(path, f"cannot be read as CSV: {reason}. {OPTIONS_HINT}", rule="unreadable")


def _diagnose(plain: Path, spec: IngestSpec, shape: CsvShape) -> DataError | None:
    """The first rule the file's text breaks, as an error without a path (or None)."""
    text = pl.scan_csv(
        plain,
        has_header=shape.header,
        new_columns=shape.fields,
        infer_schema=False,
        row_index_name="src_row",
        row_index_offset=1,
        truncate_ragged_lines=False,
    )
    stamp = shape.field("timestamp")
    first = shape.first_row.get("timestamp")
    if spec.timestamp.format is None and looks_numeric(first):
        raw = pl.col(stamp).str.strip_chars()
        as_number = raw.cast(pl.Float64, strict=False)
        integral = first is not None and first.strip().lstrip("+-").isdigit()
        wrong = raw.is_not_null() & (
            as_number.is_null() | (~raw.str.contains(r"^[+-]?\d+$") if integral else pl.lit(False))
        )
        found = _rows(text.filter(wrong), stamp)
        if found:
            shape_word = "integer epochs" if integral else "numeric epochs"
            return DataError(
                None,
                f"timestamps in {stamp} are not all {shape_word} like the first row's {first!r}; "
                f"{UNIT_HINT}, or data.timestamp.format for text",
                rule="bad_timestamp",
                rows=found,
            )
    else:
        bad_ts = diagnose_timestamps(text, stamp, spec.timestamp)
        if bad_ts is not None:
            hint = (
                " Set data.timestamp.format (strftime-style) or data.timestamp.unit "
                "(numeric epochs) to read other shapes."
                if bad_ts[1] == "bad_timestamp"
                else ""
            )
            return DataError(None, bad_ts[0] + hint, rule=bad_ts[1], rows=bad_ts[2])
    for ours in spec.columns:
        if ours == "timestamp":
            continue
        theirs = shape.field(ours)
        target = pl.Int64 if ours == "trades" else pl.Float64
        bad = (
            text.filter(
                pl.col(theirs).is_not_null() & pl.col(theirs).cast(target, strict=False).is_null()
            )
            .select("src_row", theirs)
            .head(5)
            .collect()
        )
        if bad.height:
            rows = [f"row {r}: {theirs}={v!r}" for r, v in bad.iter_rows()]
            return DataError(
                None,
                f"column '{theirs}' ({ours}) holds values that are not numbers.",
                rule="not_numeric",
                rows=rows,
            )
    return None


def _rows(bad: pl.LazyFrame, column: str) -> list[str]:
    examples = bad.select("src_row", column).head(5).collect()
    return [f"row {r}: {column}={v!r}" for r, v in examples.iter_rows()]
