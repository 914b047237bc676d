"""Telling the unit of epoch timestamps (s, ms, us, ns) from their magnitude, per file.

Exchange dumps switch units without notice (one public dump moved from milliseconds to
microseconds in 2025), so two files of one dataset may differ: each file is detected on its
own, unless `timestamp.unit` is configured. The ranges below are 1000x apart, so any date
from 1973-03-03 to 5138 has exactly one reading: seconds 1990-2100 are 6.3e8-4.1e9, the same
instants in ms 6.3e11-4.1e12, in us 6.3e14-4.1e15, in ns 6.3e17-4.1e18. A value outside every
range (small row counters, negative values) or a file whose values fall in two ranges (a
unit switch inside the file) is refused with its rows named, never guessed.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from qraptor.core.errors import DataError

# unit -> [low, high) of epoch values read in that unit: 1973-03-03 .. year 5138
UNIT_RANGES: dict[str, tuple[float, float]] = {
    "s": (1e8, 1e11),
    "ms": (1e11, 1e14),
    "us": (1e14, 1e17),
    "ns": (1e17, 1e20),
}
UNIT_HINT = "set data.timestamp.unit (s, ms, us or ns) to read it"


def unit_of(value: float) -> str | None:
    """The unit whose range holds `value`, None when none does."""
    for unit, (low, high) in UNIT_RANGES.items():
        if low <= value < high:
            return unit
    return None


def detect_unit(values: pl.Series, path: Path, label: str, first_row: int, unit: str | None) -> str:
    """The epoch unit of one batch of a file, checked against the unit found so far.

    `first_row` is the 1-based file row of the batch's first value (for the error's rows);
    `unit` is what earlier batches of the same file showed (None for the first batch).
    """
    clean = values.drop_nulls().cast(pl.Float64)
    if clean.len() == 0:
        return unit or "ns"
    if unit is None:
        unit = unit_of(float(clean[0]))
        if unit is None:
            raise DataError(
                path,
                f"numeric timestamps in {label} (first {clean[0]!r}) are not epochs of a date "
                f"after 1973 in s, ms, us or ns, so their unit cannot be told; {UNIT_HINT}",
                rule="epoch_unit",
                rows=[f"row {first_row}: {values[0]!r}"],
            )
    low, high = UNIT_RANGES[unit]
    if low <= float(clean.min()) and float(clean.max()) < high:  # type: ignore[arg-type]
        return unit
    frame = pl.DataFrame({"value": values}).with_row_index("row", offset=first_row)
    outside = frame.filter(
        pl.col("value").is_not_null()
        & ~pl.col("value").cast(pl.Float64).is_between(low, high, "left")
    ).head(5)
    rows = [
        f"row {r}: {v!r} (reads as {unit_of(float(v)) or 'no unit'})"
        for r, v in outside.iter_rows()
    ]
    raise DataError(
        path,
        f"the file mixes epoch units: its timestamps in {label} start in {unit} but some rows "
        f"are not {unit} epochs (a unit switch inside one file). Each file is detected on its "
        f"own: split the file where the unit changes, or {UNIT_HINT} if one unit is right.",
        rule="mixed_epoch_units",
        rows=rows,
    )
