"""Putting a part folder in time order without holding it in memory.

Rows are read in arrival order (parts by name, rows in file order). When the arrival pass
found rows out of order, one of two exact methods puts them in (timestamp, arrival) order,
the same order as the stable in-memory sort:

* `reorder` (in the stream): if no row arrived more than D behind the latest timestamp seen
  before it (D, the lateness, is measured by the arrival pass), then once the stream has
  reached time M every row earlier than M - D is final. Holding back only the rows after
  M - D sorts locally delayed ticks (the usual kind of disorder) at no extra pass. If the
  held rows would exceed `limit` (disorder spread over long spans, e.g. files given in the
  wrong order), it raises `ReorderOverflow` and the caller falls back to:
* `external_sort`: duckdb sorts the whole folder into one Parquet file under `memory_limit`,
  spilling to a scratch folder, with `threads` threads.

"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq

from qraptor.core.errors import DataError
from qraptor.core.log import get_logger, human_count
from qraptor.data.clean.config import ExternalSortConfig

log = get_logger(__name__)


class ReorderOverflow(Exception):
    """The in-stream reorder would hold more rows than allowed: sort externally instead."""


def reorder(frames: Iterable[pl.DataFrame], lateness_ns: int, limit: int) -> Iterator[pl.DataFrame]:
    """Yield `frames` (arrival order) as time-sorted chunks, holding back at most `limit` rows.

    Exact when no row arrives more than `lateness_ns` behind the latest earlier timestamp;
    ties keep arrival order (held rows arrived before the new ones and stay ahead of them).
    """
    held: pl.DataFrame | None = None
    latest: int | None = None
    for frame in frames:
        merged = frame if held is None else pl.concat([held, frame], how="vertical_relaxed")
        merged = merged.sort("timestamp", maintain_order=True)
        if frame.height:
            top = int(frame["timestamp"].to_physical().max())  # type: ignore[arg-type]
            latest = top if latest is None else max(latest, top)
        if latest is None:
            held = merged
            continue
        cut = int(merged["timestamp"].to_physical().search_sorted(latest - lateness_ns, "left"))
        if cut:
            yield merged[:cut]
        held = merged[cut:]
        if held.height > limit:
            raise ReorderOverflow(f"{held.height} rows within the lateness of {lateness_ns} ns")
    if held is not None and held.height:
        yield held


def external_sort(paths: Sequence[Path], scratch: Path, cfg: ExternalSortConfig,
                  row_group_rows: int) -> Path:  # fmt: skip
    """Sort all parts by (timestamp, arrival) into `scratch/sorted.parquet`, out of core.

    Parts without lineage columns get ``src_row`` = arrival number so reports still point
    at a row.
    """
    target = scratch / "sorted.parquet"
    offsets, total = [], 0
    for path in paths:
        offsets.append(total)
        total += pq.ParquetFile(path).metadata.num_rows
    has_lineage = "src_row" in pq.read_schema(paths[0]).names
    arrival = f"list_extract({offsets}::BIGINT[], file_index::BIGINT + 1) + file_row_number + 1"
    row_number = "" if has_lineage else f", {arrival} AS src_row"
    sources = ", ".join(_sql_string(str(p)) for p in paths)
    query = f"""
        COPY (
            SELECT * EXCLUDE (file_row_number){row_number}
            FROM read_parquet([{sources}], file_row_number = true)
            ORDER BY timestamp NULLS LAST, file_index, file_row_number
        ) TO {_sql_string(str(target))} (FORMAT parquet, ROW_GROUP_SIZE {row_group_rows})
    """
    config: dict[str, str | bool | int | float | list[str]] = {  # duckdb.connect's type
        "memory_limit": cfg.memory_limit,
        "threads": cfg.threads,
        "temp_directory": str(scratch / "spill"),
        "preserve_insertion_order": True,
    }
    started = time.perf_counter()
    con = duckdb.connect(config=config)
    try:
        con.execute(query)
    except duckdb.Error as exc:
        problem = f"external sort failed: {exc}"
        raise DataError(paths[0].parent, problem, rule="out_of_order") from None
    finally:
        con.close()
    log.info("clean: sorted %s rows out of core (duckdb) in %.1f s",
             human_count(total), time.perf_counter() - started)  # fmt: skip
    return target


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
