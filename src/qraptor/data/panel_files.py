"""Files of many instruments, read into one frame per symbol (issue 16), and the shipped
multi-asset sample.

Three layouts, told apart by their columns:

- **wide**: a date column and one close column per symbol (skfolio's S&P 500 sample:
  ``Date, AAPL, AMD, ...``): close-only bars;
- **long**: ``timestamp`` (or ``date``), ``symbol`` and the bar columns (``close``; ``open``,
  ``high``, ``low``, ``volume`` when present);
- **a folder** of one file per symbol (CSV or Parquet, the symbol from the file name), each
  with the bar columns.

Every symbol's frame is sorted by time and checked (duplicate times, non-positive or
non-finite closes are refused naming the file, the symbol and the row); a missing value in
a wide file means *no bar* for that symbol at that time, not a price. The sample: skfolio's
wheel carries daily closes of 20 large US stocks, 1990-2022 (8,313 days), and the S&P 500
index beside them; `copy_sp500_sample` copies both at run time, as the single-asset samples
are copied from gym-anytrading's wheel.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from qraptor.core.errors import DataError
from qraptor.core.extras import require

SAMPLE_FILES = {"prices": "sp500_dataset.csv.gz", "index": "sp500_index.csv.gz"}
TIME_NAMES = ("timestamp", "date", "time", "datetime")
BAR_COLUMNS = ("open", "high", "low", "close", "volume")


def copy_sp500_sample(dest: Path) -> dict[str, Path]:
    """skfolio's S&P 500 sample (20 stocks and the index, daily closes) copied into `dest`."""
    require("skfolio", "portfolio")
    folder = resources.files("skfolio.datasets") / "data"
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copied = {}
    for key, name in SAMPLE_FILES.items():
        target = dest / name
        with resources.as_file(folder / name) as source:
            shutil.copyfile(source, target)
        copied[key] = target
    return copied


def read_panel(path: Path, check_values: bool = True) -> dict[str, pd.DataFrame]:
    """One frame per symbol (timestamp UTC, the bar columns present, sorted by time) from a
    wide file, a long file or a folder of per-symbol files (module docstring).
    `check_values=False` leaves duplicate times and non-positive prices to the caller (the
    panel stage cleans every symbol with the `clean` stage's rules and reports them)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".gz", ".parquet"))
        if not files:
            raise DataError(path, "no CSV or Parquet files in the folder", rule="panel_files")
        by_symbol: dict[str, Path] = {}
        for f in files:
            if _symbol(f) in by_symbol:
                first = by_symbol[_symbol(f)].name
                problem = f"{first} and {f.name} are both symbol {_symbol(f)!r}: rename one"
                raise DataError(path, problem, rule="panel_files")
            by_symbol[_symbol(f)] = f
        return {s: _bars(_read(f), f, s, check_values) for s, f in by_symbol.items()}
    frame = _read(path)
    columns = {c.lower(): c for c in frame.columns}
    time_column = next((columns[n] for n in TIME_NAMES if n in columns), None)
    if time_column is None:
        raise DataError(path, f"no time column (one of {TIME_NAMES})", rule="panel_columns")
    if "symbol" in columns:
        frame = frame.rename(columns={time_column: "timestamp", columns["symbol"]: "symbol"})
        return {
            str(symbol): _bars(group.drop(columns="symbol"), path, str(symbol), check_values)
            for symbol, group in frame.groupby("symbol", sort=True)
        }
    symbols = [c for c in frame.columns if c != time_column]
    if not symbols:
        raise DataError(path, "no symbol columns beside the time column", rule="panel_columns")
    out = {}
    for symbol in symbols:
        one = frame[[time_column, symbol]].rename(
            columns={time_column: "timestamp", symbol: "close"}
        )
        out[str(symbol)] = _bars(one.dropna(subset=["close"]), path, str(symbol), check_values)
    return out


def _read(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise DataError(
            path, f"cannot be read as CSV or Parquet: {exc}", rule="panel_files"
        ) from None


def _symbol(path: Path) -> str:
    """The file name without its data suffixes: BRK.B.csv.gz is BRK.B."""
    name = path.name
    for suffix in (".gz", ".csv", ".parquet"):
        name = name.removesuffix(suffix)
    return name


def _bars(frame: pd.DataFrame, path: Path, symbol: str, check_values: bool) -> pd.DataFrame:
    frame = frame.rename(columns=str.lower)
    frame = frame.rename(columns={n: "timestamp" for n in TIME_NAMES if n in frame.columns})
    if "close" not in frame.columns or "timestamp" not in frame.columns:
        raise DataError(path, f"{symbol}: needs timestamp and close columns", rule="panel_columns")
    try:
        stamps = pd.to_datetime(frame["timestamp"], utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(path, f"{symbol}: timestamps: {exc}", rule="panel_values") from None
    columns = [c for c in BAR_COLUMNS if c in frame.columns]
    bars = pd.DataFrame({c: pd.to_numeric(frame[c], errors="coerce") for c in columns})
    for column in columns:  # text where a number belongs: refused, not read as a gap
        text = bars[column].isna() & frame[column].notna()
        if text.any():
            at = text.index[int(np.flatnonzero(text.to_numpy())[0])]
            problem = f"{column} {frame[column][at]!r} is not a number"
            raise DataError(path, f"{symbol}: data row {_row(frame, at)}: {problem}",
                            rule="panel_values")  # fmt: skip
    bars.insert(0, "timestamp", stamps)
    bars = bars.sort_values("timestamp", kind="stable")
    if not check_values:
        return bars.reset_index(drop=True)
    duplicated = bars["timestamp"].duplicated()
    if duplicated.any():
        at = bars.index[int(np.flatnonzero(duplicated.to_numpy())[0])]
        raise DataError(path, f"{symbol}: data row {_row(frame, at)}: time "
                        f"{bars['timestamp'][at]} twice", rule="panel_values")  # fmt: skip
    for column in (c for c in ("open", "high", "low", "close") if c in bars):
        values = bars[column].to_numpy()
        bad = ~np.isfinite(values) | (values <= 0)
        if bad.any():
            at = bars.index[int(np.flatnonzero(bad)[0])]
            problem = f"{column} {bars[column][at]} is not a positive price"
            raise DataError(path, f"{symbol}: data row {_row(frame, at)}: {problem}",
                            rule="panel_values")  # fmt: skip
    return bars.reset_index(drop=True)


def _row(frame: pd.DataFrame, label: object) -> int:
    """The 1-based data row of the file (after its header) of index `label`: the frames
    keep the file's own row numbers as their index (a wide file's symbol, a long file's
    group), so a message points at the line to fix."""
    return (
        int(label) + 1
        if isinstance(label, int | np.integer)
        else int(frame.index.get_loc(label)) + 1
    )
