"""Sequence rules of stage `clean`: order, duplicates, trading hours, outliers, gaps.

These rules look at neighbours, so they run on time-sorted rows and carry state from one
batch to the next, which makes their result exact for any batch size:

* `ArrivalOrder` counts rows that arrive after a later timestamp (running maximum).
* `SortedCleaner.push` holds back the trailing group of rows sharing the last timestamp
  (duplicates and bar conflicts always share a timestamp, so they are found whole), keeps
  the last W + k log prices as the trailing windows of the next batch, and the
  last kept row for the next gap.

Outliers (ticks only, past data only) are scored in `clean_outliers.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import polars as pl

from qraptor.data.clean.config import WEEKDAYS, CleanConfig
from qraptor.data.clean.outliers import history_length, outlier_scores
from qraptor.data.clean.report import CleanReport
from qraptor.data.clean.rules import text, value_columns, values_detail
from qraptor.data.clean.schema_errors import ISO_NS, TIMESTAMP_DTYPE


class ArrivalOrder:
    """Count rows whose timestamp is earlier than one that arrived before them.

    Also measures the largest lateness (how far behind the latest earlier timestamp a row
    arrived), which tells the streaming pass how long to hold rows back to reorder them.
    """

    def __init__(self) -> None:
        self.latest_ns: int | None = None
        self.earliest_ns: int | None = None
        self.lateness_ns = 0
        self.spacing_seconds: float | None = None  # bars: median spacing (set by the caller)

    def observe(self, frame: pl.DataFrame, report: CleanReport) -> None:
        """`frame`: timestamp and lineage, in arrival order; nulls are ignored here."""
        ns = pl.col("timestamp").to_physical()
        seen = ns.cum_max().forward_fill().shift(1)
        if self.latest_ns is not None:
            seen = pl.max_horizontal(seen, pl.lit(self.latest_ns, pl.Int64))
        marked = frame.with_columns(_seen=seen)
        late = marked.filter(ns < pl.col("_seen")).with_columns(_late=pl.col("_seen") - ns)
        seen_at = pl.col("_seen").cast(TIMESTAMP_DTYPE).dt.to_string(ISO_NS)
        report.add("out_of_order", late, text("arrived after ", seen_at))
        if late.height:
            self.lateness_ns = max(self.lateness_ns, int(late["_late"].max()))  # type: ignore[arg-type]
        earliest, latest = frame.select(ns.min().alias("min"), ns.max().alias("max")).row(0)
        if latest is not None and (self.latest_ns is None or latest > self.latest_ns):
            self.latest_ns = int(latest)
        if earliest is not None and (self.earliest_ns is None or earliest < self.earliest_ns):
            self.earliest_ns = int(earliest)

    def rows_within_lateness(self, rows: int) -> float:
        """Rows an in-stream reorder would hold back, at the folder's average density."""
        if self.latest_ns is None or self.earliest_ns is None:
            return 0.0
        span = max(self.latest_ns - self.earliest_ns, 1)
        return rows * min(1.0, self.lateness_ns / span)


def median_spacing_seconds(timestamps: pl.Series) -> float | None:
    """The median time between consecutive distinct timestamps (any order), in seconds."""
    ns = timestamps.drop_nulls().to_physical().unique().sort().diff().drop_nulls()
    if ns.len() == 0:
        return None
    unit = {"ns": 1e9, "us": 1e6, "ms": 1e3}[timestamps.dtype.time_unit or "ns"]  # type: ignore[attr-defined]
    return float(ns.median()) / unit  # type: ignore[arg-type]


def sort_by_time(frame: pl.DataFrame) -> pl.DataFrame:
    """Stable sort: rows with equal timestamps keep their arrival order."""
    return frame.sort("timestamp", maintain_order=True, nulls_last=True)


def _tied() -> pl.Expr:
    """Rows of sorted data whose timestamp equals the previous or the next row's."""
    ts = pl.col("timestamp")
    return ((ts == ts.shift(1)) | (ts == ts.shift(-1))).fill_null(False)


class SortedCleaner:
    """Apply the sequence rules to time-sorted batches, carrying state across batches."""

    def __init__(
        self,
        data_kind: str,
        cfg: CleanConfig,
        report: CleanReport,
        spacing_seconds: float | None = None,
    ) -> None:
        self.data_kind = data_kind
        self.cfg = cfg
        self.report = report
        self.pending: pl.DataFrame | None = None  # rows of the last timestamp, held back
        self.history = pl.Series("logp", [], pl.Float64)  # trailing log prices (outliers)
        self.last_kept: pl.DataFrame | None = None  # last emitted row, for gaps
        hours = cfg.trading_hours
        self.session_offset = (
            timedelta(hours=hours.start_time.hour, minutes=hours.start_time.minute,
                      seconds=hours.start_time.second) if hours.enabled else None
        )  # fmt: skip
        # bars: judged against their usual spacing too (`median_spacing_seconds`)
        self.gap_seconds = cfg.gaps.seconds(data_kind, spacing_seconds)
        report.gap_threshold_seconds = self.gap_seconds

    def push(self, frame: pl.DataFrame, final: bool) -> pl.DataFrame:
        """Clean the next sorted batch; return the rows that are final (with lineage)."""
        if self.pending is not None:
            frame = pl.concat([self.pending, frame], how="vertical_relaxed")
            self.pending = None
        if not final and frame.height:
            cut = int(frame["timestamp"].search_sorted(frame["timestamp"].tail(1), "left")[0])
            self.pending, frame = frame[cut:], frame[:cut]
        if frame.height == 0:
            return frame
        frame = self._duplicates(frame)
        frame = self._trading_hours(frame)
        if self.data_kind == "ticks":
            frame = self._outliers(frame)
        if self.gap_seconds is not None and frame.height:
            self._gaps(frame)
        if frame.height:
            self.last_kept = frame.tail(1)
        return frame

    def _duplicates(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Drop exact copies; refuse bars that share a start but differ.

        Rows are sorted, so copies are neighbours in time: only rows whose timestamp equals
        a neighbour's are compared column by column (cheap when ties are rare).
        """
        data = ["timestamp", *value_columns(frame)]
        tied = frame.with_row_index("_i").filter(_tied())
        copies = tied.filter(~pl.struct(data).is_first_distinct())
        self.report.add("duplicate", copies, values_detail(data[1:]))
        if copies.height:
            frame = frame.with_row_index("_i").filter(~pl.col("_i").is_in(copies["_i"].implode()))
            frame = frame.drop("_i")
        if self.data_kind == "bars" and tied.height:
            clash = frame.filter(_tied())
            if clash.height:
                self.report.add("timestamp_conflict", clash, values_detail(data[1:]))
                raise self.report.error(
                    "timestamp_conflict",
                    "bars that share a start but differ cannot both be right; fix the source",
                )
        return frame

    def _local(self) -> pl.Expr:
        zone = self.cfg.trading_hours.timezone
        return pl.col("timestamp").dt.convert_time_zone(zone).dt.replace_time_zone(None)

    def _trading_hours(self, frame: pl.DataFrame) -> pl.DataFrame:
        hours = self.cfg.trading_hours
        if not hours.enabled:
            return frame
        local = self._local()
        clock = local.dt.time()
        start, end = hours.start_time, hours.end_time
        if start < end:
            in_time = (clock >= start) & (clock < end)
        elif start > end:  # a session across midnight
            in_time = (clock >= start) | (clock < end)
        else:
            in_time = pl.lit(True)
        days = [WEEKDAYS.index(day) + 1 for day in hours.weekdays]  # polars: Monday = 1
        keep = in_time & local.dt.weekday().is_in(days)
        marked = frame.with_columns(_keep=keep)
        detail = text("local time ", local.dt.strftime("%a %H:%M:%S"))
        self.report.add("outside_trading_hours", marked.filter(~pl.col("_keep")), detail)
        return marked.filter("_keep").drop("_keep")

    def _outliers(self, frame: pl.DataFrame) -> pl.DataFrame:
        out = self.cfg.outliers
        logp = pl.concat([self.history, frame["price"].log().alias("logp")])
        self.history = logp.tail(history_length(out))
        scores = outlier_scores(logp, out).tail(frame.height)
        marked = frame.with_columns(
            _z=scores["z"], _band=scores["band"], _reference=scores["reference"]
        )
        outlier = pl.col("_z").abs() > out.z_max
        detail = text("price=", pl.col("price"), ", z=", pl.col("_z").round(1),
                      ", recent median=", pl.col("_reference").round_sig_figs(8))  # fmt: skip
        self.report.add("outlier", marked.filter(outlier), detail)
        if out.action == "drop":
            marked = marked.filter(~outlier)
        elif out.action == "clip":
            marked = marked.with_columns(
                pl.when(outlier).then("_band").otherwise("price").alias("price")
            )
        return marked.drop("_z", "_band", "_reference")

    def _gaps(self, frame: pl.DataFrame) -> None:
        rows = frame.select("timestamp", "src_file", "src_row")
        if self.last_kept is not None:
            rows = pl.concat([self.last_kept.select(rows.columns), rows])
        marked = rows.with_columns(
            _prev=pl.col("timestamp").shift(1),
            _seconds=pl.col("timestamp").diff().dt.total_nanoseconds() / 1e9,
        )
        gap = pl.col("_seconds") > self.gap_seconds
        if self.session_offset is not None:  # a night or weekend between sessions is no gap
            session = (self._local() - self.session_offset).dt.date()
            gap = gap & (session == session.shift(1))
        found = marked.filter(gap.fill_null(False))
        detail = text("no data for ", pl.col("_seconds").round(3), " s since ",
                      pl.col("_prev").dt.to_string(ISO_NS))  # fmt: skip
        self.report.add("gap", found, detail)
        if found.height:
            longest = cast(float, found["_seconds"].max())  # a gap's seconds are a float
            self.report.gap_longest_seconds = max(self.report.gap_longest_seconds, longest)
