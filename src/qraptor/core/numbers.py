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
