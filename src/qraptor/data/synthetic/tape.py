"""Seeded synthetic tick tapes: test data of any size with known defects and a known signal.

`generate_ticks` streams the tape as polars frames; `write_synthetic` writes it as numbered
CSV or Parquet files, one chunk in memory at a time, so multi-GB inputs for scale tests cost
no more memory than small ones. The same seed gives the same tape whatever the chunking:
the tape is generated in blocks fixed by the calendar and the config (each with its own
seed derived from `seed`, the session and the block), and only re-cut into chunks after.
Cleaning can be checked against the planted bad ticks (`label_bad=True` says which rows they
are), and learning agents against the planted AR(1) signal (see `synthetic_block`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import polars as pl

from qraptor.core.atomic import atomic_dir
from qraptor.core.log import get_logger, human_count, track
from qraptor.data.synthetic.block import BAD_LABELS, Block, Plan, PriceState, simulate_block
from qraptor.data.synthetic.calendar import period_bounds, session_seconds, session_windows
from qraptor.data.synthetic.config import BadTicksConfig, SyntheticConfig

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "CSV_TIMESTAMP_FORMAT",
    "BadTicksConfig",
    "SyntheticConfig",
    "generate_ticks",
    "write_synthetic",
]

log = get_logger(__name__)

CSV_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"  # ticks are on a microsecond clock
FILE_STEM = "ticks"
_CODE = "_bad_code"  # internal column: index into BAD_LABELS
_LABELS = {code: label for code, label in enumerate(BAD_LABELS) if label}


def generate_ticks(cfg: SyntheticConfig, *, label_bad: bool = False) -> Iterator[pl.DataFrame]:
    """The tape in print order, in chunks of `cfg.rows_per_file` rows (the last may be shorter).

    Columns: timestamp (Datetime ns, UTC), price, size, and bid, ask when `with_quotes`
    (Float64). With `label_bad`, also `bad` (Utf8): null for a good tick, else "spike",
    "duplicate", "out_of_order" or "nonpositive".
    """
    for chunk in _labelled_chunks(cfg):
        if label_bad:
            bad = pl.col(_CODE).replace_strict(_LABELS, default=None, return_dtype=pl.Utf8)
            yield chunk.with_columns(bad.alias("bad")).drop(_CODE)
        else:
            yield chunk.drop(_CODE)


def write_synthetic(cfg: SyntheticConfig, out_dir: Path) -> dict[str, Any]:
    """Write the tape to `out_dir/ticks-NNNNN.csv|.parquet`, atomically; return a summary.

    CSV files have the header `timestamp,price,size[,bid,ask]` and ISO 8601 UTC timestamps
    with microseconds and 'Z'. The summary holds `files`, `rows`, `bad_ticks` (planted
    count per kind), `first_timestamp`, `last_timestamp`, `seconds` and `rows_per_second`.
    """
    began = time.perf_counter()
    expected_rows = _expected_rows(cfg)
    expected_files = max(1, math.ceil(expected_rows / cfg.rows_per_file))
    counts = np.zeros(len(BAD_LABELS), dtype=np.int64)
    files = rows = 0
    first: datetime | None = None
    last: datetime | None = None
    with atomic_dir(out_dir) as tmp:
        chunks = track(_labelled_chunks(cfg), "synthetic ticks (files)", total=expected_files)
        for chunk in chunks:
            counts += np.bincount(chunk[_CODE].to_numpy(), minlength=len(BAD_LABELS))
            _write_chunk(chunk.drop(_CODE), tmp / f"{FILE_STEM}-{files:05d}.{cfg.format}", cfg)
            files += 1
            rows += chunk.height
            # chunks are never empty and their Datetime column has no nulls
            earliest = cast("datetime", chunk["timestamp"].min())
            latest = cast("datetime", chunk["timestamp"].max())
            first = earliest if first is None else min(first, earliest)
            last = latest if last is None else max(last, latest)
    seconds = time.perf_counter() - began
    summary = {
        "format": cfg.format,
        "files": files,
        "rows": rows,
        "bad_ticks": {label: int(counts[code]) for code, label in _LABELS.items()},
        "first_timestamp": None if first is None else first.isoformat(),
        "last_timestamp": None if last is None else last.isoformat(),
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds) if seconds > 0 else None,
    }
    if rows == 0:
        log.warning("synthetic: the calendar holds no ticks (raise days or ticks_per_second)")
    log.info(
        "synthetic: %s ticks in %d %s files (%s planted bad) -> %s in %.1f s",
        human_count(rows),
        files,
        cfg.format,
        human_count(int(counts[1:].sum())),
        out_dir,
        seconds,
    )
    return summary


def _labelled_chunks(cfg: SyntheticConfig) -> Iterator[pl.DataFrame]:
    """Blocks re-cut into chunks of exactly `rows_per_file` rows, stopped at `total_ticks`."""
    size, limit = cfg.rows_per_file, cfg.total_ticks
    pending: list[pl.DataFrame] = []
    pending_rows = emitted = 0
    for block in _blocks(cfg):
        frame = _block_frame(block, cfg.with_quotes)
        if limit is not None:
            frame = frame.head(limit - emitted - pending_rows)
        pending.append(frame)
        pending_rows += frame.height
        while pending_rows >= size:
            merged = pl.concat(pending, rechunk=False) if len(pending) > 1 else pending[0]
            yield merged.head(size)  # zero-copy: a view on the blocks' arrays
            emitted += size
            rest = merged.slice(size)
            pending, pending_rows = ([rest], rest.height) if rest.height else ([], 0)
        if limit is not None and emitted + pending_rows >= limit:
            break
    if pending_rows:
        yield pl.concat(pending, rechunk=False)


def _blocks(cfg: SyntheticConfig) -> Iterator[Block]:
    """The tape block by block; block (session i, piece j) draws from seed (seed, i, j)."""
    plan = Plan.from_config(cfg)
    state = PriceState(log_mid=math.log(cfg.start_price), last_return=0.0, regime=0)
    for session, (start_us, end_us) in enumerate(session_windows(cfg)):
        bounds = period_bounds(start_us, end_us, plan.period_us)
        step = plan.periods_per_block
        for piece, lo in enumerate(range(0, len(bounds) - 1, step)):
            seed = np.random.SeedSequence(cfg.seed, spawn_key=(session, piece))
            block, state = simulate_block(
                bounds[lo : lo + step + 1], state, cfg, plan, np.random.default_rng(seed)
            )
            if len(block.time_us):
                yield block


def _block_frame(block: Block, with_quotes: bool) -> pl.DataFrame:
    columns = {
        "timestamp": pl.Series(block.time_us * 1000).cast(pl.Datetime("ns", "UTC")),
        "price": block.price,
        "size": block.size,
    }
    if with_quotes:
        columns |= {"bid": block.bid, "ask": block.ask}
    columns[_CODE] = block.bad
    return pl.DataFrame(columns)


def _write_chunk(chunk: pl.DataFrame, path: Path, cfg: SyntheticConfig) -> None:
    if cfg.format == "csv":
        chunk.write_csv(path, datetime_format=CSV_TIMESTAMP_FORMAT)
    else:
        chunk.write_parquet(path, compression="zstd", compression_level=1)


def _expected_rows(cfg: SyntheticConfig) -> float:
    if cfg.total_ticks is not None:
        return float(cfg.total_ticks)
    return session_seconds(cfg) * cfg.ticks_per_second * (1.0 + cfg.bad_ticks.duplicate_rate)
