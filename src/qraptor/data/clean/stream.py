"""Stage `clean` on a part folder larger than memory, in bounded memory and atomically.

1. Arrival pass: stream only timestamp and lineage; count rows in and rows that arrive
   after a later timestamp, and measure how late the latest one is (refuse parts that are
   not ticks/bars at all, by name, before any work).
2. Cleaning pass: stream the rows batch by batch through the row rules, put them in time
   order if needed (`clean_order`: in the stream when the disorder is local, else a duckdb
   external sort), then through `SortedCleaner` (which carries the trailing windows and the
   last timestamp group across batches). Each output chunk is validated with the pandera
   schema and written with `PartWriter` inside `atomic_dir`: a failure anywhere leaves no
   output, neither half a new one nor a damaged old one.

Memory: about `batch_rows` rows of input, as many held back for reordering and as many of
output buffer (~0.6 GiB at 500k rows, flat in the input size), or duckdb's `memory_limit`
while it sorts. The result equals `clean_frame` on the whole input, for any batch size.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from qraptor.core.atomic import atomic_dir, write_json_atomic
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger, human_count, track
from qraptor.data.clean.adjust import FactorAdjuster, check_columns
from qraptor.data.clean.config import CleanConfig
from qraptor.data.clean.order import ReorderOverflow, external_sort, reorder
from qraptor.data.clean.report import CleanReport
from qraptor.data.clean.rules import conform, conform_order_columns, drop_bad_rows
from qraptor.data.clean.schemas import last_timestamp_ns, validate_frame
from qraptor.data.clean.sequence import ArrivalOrder, SortedCleaner, median_spacing_seconds
from qraptor.data.columns import LINEAGE_COLUMNS
from qraptor.data.parts import (
    PartWriter,
    part_paths,
    read_batches,
    read_manifest,
    readable,
    write_manifest,
)

log = get_logger(__name__)

REPORT_NAME = "clean_report.json"  # full report (with examples) written beside the parts


def new_report(
    data_kind: str,
    cfg: CleanConfig,
    files: Sequence[str],
    source: str | Path | None = None,
    audit: bool = False,
) -> CleanReport:
    """An empty report whose actions follow `cfg`."""
    actions = {
        "missing_value": "dropped", "nonpositive_price": "dropped", "negative_size": "dropped",
        "negative_volume": "dropped", "ohlc_rounding": "repaired",
        "ohlc_violation": "refused" if cfg.bars.ohlc_violation == "refuse" else "dropped",
        "out_of_order": "sorted", "duplicate": "dropped", "timestamp_conflict": "refused",
        "outside_trading_hours": "filtered",
        "outlier": {"drop": "dropped", "clip": "clipped", "flag": "flagged"}[cfg.outliers.action],
        "gap": "flagged",
    }  # fmt: skip
    return CleanReport(data_kind, actions, files=files, strict=cfg.strict,
                       max_examples=cfg.examples, source=source, audit=audit,
                       adjust_method=cfg.adjust.method)  # fmt: skip


def output_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The stage's output columns: the input's contract columns, lineage dropped."""
    return frame.drop([c for c in LINEAGE_COLUMNS if c in frame.columns])


def adjuster(data_kind: str, cfg: CleanConfig, report: CleanReport) -> FactorAdjuster | None:
    """The forward adjustment of `clean.adjust.method: factors` (None otherwise)."""
    if data_kind == "bars" and cfg.adjust.method == "factors":
        return FactorAdjuster(report.adjustment, report.files)
    return None


def clean_folder(
    in_dir: Path, out_dir: Path, data_kind: str, cfg: CleanConfig, work_dir: Path
) -> CleanReport:
    """Clean the part folder `in_dir` into `out_dir` (parts, manifest, report) atomically.

    `work_dir` holds the external sort's scratch files, removed when done. The report's
    `ordering` says how rows were put in order: "arrival" (they were), "stream" or "duckdb".
    """
    started = time.perf_counter()
    in_dir, out_dir = Path(in_dir), Path(out_dir)
    manifest = read_manifest(in_dir)
    if manifest.get("kind") not in (None, data_kind):
        raise DataError(in_dir, f"holds {manifest['kind']}, but the stage was asked to clean "
                        f"{data_kind}", rule="schema")  # fmt: skip
    paths = part_paths(in_dir)
    if not paths:
        raise DataError(in_dir, "the folder holds no part-*.parquet files", rule="empty_input")
    files = [str(f) for f in manifest.get("files", [])]
    report = new_report(data_kind, cfg, files, source=in_dir)
    order = _arrival_pass(paths, data_kind, cfg, report)
    lateness = order.lateness_ns if report.rules["out_of_order"].count else None
    spacing = order.spacing_seconds
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="clean-", dir=work_dir))
    try:
        after_arrival = copy.deepcopy(report)
        try:
            if order.rows_within_lateness(report.rows_in) > cfg.batch_rows:
                raise ReorderOverflow("rows arrive too late to reorder in the stream")
            _write_cleaned(paths, out_dir, data_kind, cfg, report, lateness, spacing)
        except ReorderOverflow as exc:  # disorder too spread out: sort out of core
            log.info("clean: %s; sorting out of core instead", exc)
            report = after_arrival
            sorted_file = external_sort(paths, scratch, cfg.external_sort,
                                        min(cfg.batch_rows, 1_000_000))  # fmt: skip
            _write_cleaned([sorted_file], out_dir, data_kind, cfg, report, None, spacing)
            report.ordering = "duckdb"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    log.info("%s in %.1f s (%s rows/s, order: %s)", report.summary(), seconds,
             human_count(report.rows_in / max(seconds, 1e-9)), report.ordering)  # fmt: skip
    return report


def _arrival_pass(
    paths: Sequence[Path], data_kind: str, cfg: CleanConfig, report: CleanReport
) -> ArrivalOrder:
    """Refuse parts that are not `data_kind`; count rows in and out of order."""
    for path in paths:
        with readable(path):
            schema = pq.read_schema(path)
        conform(pl.from_arrow(schema.empty_table()), data_kind, source=path)  # type: ignore[arg-type]
        check_columns(schema.names, data_kind, cfg.adjust.method, path)
    order = ArrivalOrder()
    columns = ["timestamp", *LINEAGE_COLUMNS]
    stamps: list[pl.Series] = []  # bars only: their usual spacing sets the gap threshold
    for frame, path, offset in read_batches(paths, cfg.batch_rows, columns):
        rows = conform_order_columns(frame, source=path, row_offset=offset)
        report.rows_in += rows.height
        order.observe(rows, report)
        if data_kind == "bars" and cfg.gaps.bars_spacings is not None:
            stamps.append(rows["timestamp"])
    if stamps:
        order.spacing_seconds = median_spacing_seconds(pl.concat(stamps))
    return order


def _write_cleaned(
    paths: Sequence[Path],
    out_dir: Path,
    data_kind: str,
    cfg: CleanConfig,
    report: CleanReport,
    lateness: int | None,
    spacing: float | None = None,
) -> None:
    """The cleaning pass into a fresh `out_dir`, swapped in only when all went well."""
    with atomic_dir(out_dir) as tmp:
        writer = PartWriter(tmp)
        total = max(1, -(-report.rows_in // cfg.batch_rows))
        batches = track(read_batches(paths, cfg.batch_rows), f"clean {data_kind}", total=total)
        rows: Iterator[pl.DataFrame] = (
            drop_bad_rows(
                conform(frame, data_kind, source=path, row_offset=offset), data_kind, cfg, report
            )
            for frame, path, offset in batches
        )
        if lateness is not None:
            rows = reorder(rows, lateness, limit=cfg.batch_rows)
            report.ordering = "stream"
        _clean_sorted(rows, data_kind, cfg, report, writer, spacing)
        if report.rows_out == 0:
            raise report.empty_error()
        write_manifest(tmp, {"kind": data_kind, "files": report.files, "rows": report.rows_out,
                             "parts": writer.parts, "rows_in": report.rows_in})  # fmt: skip
        write_json_atomic(tmp / REPORT_NAME, report.to_dict())


def _clean_sorted(
    frames: Iterable[pl.DataFrame],
    data_kind: str,
    cfg: CleanConfig,
    report: CleanReport,
    writer: PartWriter,
    spacing: float | None = None,
) -> None:
    """Sequence rules with carry on time-sorted frames; write validated output chunks."""
    cleaner = SortedCleaner(data_kind, cfg, report, spacing)
    factors = adjuster(data_kind, cfg, report)
    buffer: list[pl.DataFrame] = []
    buffered = 0
    last: int | None = None
    empty = None
    for frame in frames:
        empty = frame.head(0)
        kept = cleaner.push(frame, final=False)
        if factors is not None:
            kept = factors.push(kept)
        buffer.append(kept)
        buffered += kept.height
        if buffered >= cfg.batch_rows:
            last = _flush(buffer, data_kind, report, writer, last)
            buffer, buffered = [], 0
    if empty is not None:
        last_rows = cleaner.push(empty, final=True)
        buffer.append(last_rows if factors is None else factors.push(last_rows))
    _flush(buffer, data_kind, report, writer, last)


def _flush(
    buffer: list[pl.DataFrame],
    data_kind: str,
    report: CleanReport,
    writer: PartWriter,
    last: int | None,
) -> int | None:
    frames = [f for f in buffer if f.height]
    if not frames:
        return last
    chunk = output_frame(pl.concat(frames, how="vertical_relaxed"))
    validate_frame(chunk, data_kind, files=report.files, after=last)
    writer.write(chunk)
    report.rows_out += chunk.height
    return last_timestamp_ns(chunk)
