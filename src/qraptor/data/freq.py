"""Bar frequencies as text ("1min", "15s", "1h30m", "1mo") read into polars' duration spelling.

On its own, without polars or pandas: a config is validated before the data libraries load
(`qraptor sessions submit` answers in under a second), and the reducer (reduce.bars) and
the lengths of conf/ (data.lengths) read the same text the same way.
"""

from __future__ import annotations

import re

from qraptor.core.config import check
from qraptor.core.errors import ConfigError

# Duration units accepted in `freq`, pandas and polars spellings -> polars. "M" is refused:
# it means minute in some tools and month in others.
_UNITS = {
    "ns": "ns",
    "us": "us",
    "ms": "ms",
    "s": "s",
    "S": "s",
    "sec": "s",
    "m": "m",
    "min": "m",
    "T": "m",
    "h": "h",
    "H": "h",
    "d": "d",
    "D": "d",
    "w": "w",
    "W": "w",
    "mo": "mo",
    "q": "q",
    "Q": "q",
    "y": "y",
    "Y": "y",
}
_TERM = re.compile(r"(\d+)([A-Za-z]+)")


def parse_freq(freq: str, key: str = "freq") -> str:
    """A bar frequency ("1min", "15s", "1h", "1d", "1w", "1mo", "1h30m") as a polars duration.

    Raises ConfigError naming `key` when the text is not a positive duration.
    """
    text = str(freq).strip()
    terms = _TERM.findall(text)
    if not text or "".join(n + u for n, u in terms) != text:
        raise ConfigError(key, f"'{freq}' is not a duration like 1min, 15s, 1h, 1d, 1w, 1mo")
    units = [u for _, u in terms]
    check("M" not in units, key, f"'{freq}': write 'min' for minutes, 'mo' for months")
    unknown = [u for u in units if u not in _UNITS]
    check(not unknown, key, f"unknown unit(s) {unknown} in '{freq}'; use one of {sorted(_UNITS)}")
    check(any(int(n) > 0 for n, _ in terms), key, f"'{freq}' must be longer than zero")
    return "".join(f"{int(n)}{_UNITS[u]}" for n, u in terms)
