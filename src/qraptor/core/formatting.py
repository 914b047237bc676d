"""How numbers and statuses look wherever people read them: terminal tables, the HTML report,
the dashboard, notebooks. Defined once so that a Sharpe ratio or a "failed" looks the same on
every screen.
"""

from __future__ import annotations

import math
from typing import Any

# Metrics that are fractions of capital or of time: shown as percentages.
PERCENT_METRICS = frozenset(
    {"total_return", "annual_return", "volatility", "max_drawdown", "hit_rate", "exposure",
     "time_in_market"}
)  # fmt: skip
SIGNED_METRICS = frozenset({"total_return", "annual_return"})  # a gain or a loss: + or -
WHOLE_METRICS = frozenset({"n_trades", "costs_paid", "bars", "final_equity"})
ONE_DECIMAL_METRICS = frozenset({"turnover", "avg_holding_bars"})
MISSING = "-"

# Session and trial statuses: hex colours (HTML, the dashboard) and terminal styles (rich).
STATUS_COLOURS = {
    "queued": "#1565c0",
    "running": "#ef6c00",
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#777777",
}
STATUS_STYLES = {
    "queued": "cyan",
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "dim",
}


def format_value(value: Any) -> str:
    """Any value as a reader wants it: 4 significant digits, big numbers with separators,
    "-" for missing or not finite."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        if not math.isfinite(value):
            return MISSING
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"
    return str(value)


def format_metric(metric: str, value: Any) -> str:
    """A metric's value in its unit: +3.45% for a return, 2.00% for a drawdown, 1.23 for a
    ratio, 1,234 for trades and costs."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if not isinstance(value, int | float) or isinstance(value, bool):
        return format_value(value)
    if metric in PERCENT_METRICS:
        return f"{value:+.2%}" if metric in SIGNED_METRICS else f"{value:.2%}"
    if metric in WHOLE_METRICS:
        return f"{value:,.0f}"
    if metric in ONE_DECIMAL_METRICS:
        return f"{value:.1f}"
    return f"{value:.2f}"


def status_css(selector: str = ".{status}") -> str:
    """CSS colouring each status: `selector` with ``{status}`` in it (``.card.{status} .count``)."""
    return "\n".join(
        f"{selector.format(status=s)} {{ color: {colour}; }}"
        for s, colour in STATUS_COLOURS.items()
    )
