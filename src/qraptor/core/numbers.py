"""Numbers as JSON can hold them, defined once for every writer of metrics.

JSON has no NaN or infinity (a flat equity curve has no Calmar ratio, a run with one bar no
Sharpe ratio): such values are written as null everywhere: metrics files, session documents,
ledger trials.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def json_number(value: float | None) -> float | None:
    """`value`, or None when it is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(metrics: Mapping[str, float | None]) -> dict[str, float | None]:
    """Every value through `json_number` (NaN/inf as None)."""
    return {k: json_number(v) for k, v in metrics.items()}


def whole_number(text: str) -> int:
    """An int as people type one on a command line: 100000, 100_000, 1e5 or 2.5e3; 1.5 is
    refused (ValueError: argparse names the argument and the value)."""
    try:
        return int(text)
    except ValueError:
        value = float(text)  # not a number at all: float's own ValueError
    if not value.is_integer():
        raise ValueError(f"not a whole number: {text!r}")
    return int(value)
