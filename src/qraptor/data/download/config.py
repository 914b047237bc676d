"""The typed sections of `conf/data/<name>.yaml` for the three download connectors.

Kept apart from the connectors so that validating a config (every stage validates the
whole pipeline config first) imports neither ccxt nor yfinance: both are slow to import
and optional (the `connectors` extra).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from qraptor.core.config import check

PERIODS = ("daily", "monthly")
ON_MISSING = ("fail", "skip")
_PLACEHOLDERS = {"symbol", "interval", "period", "date"}


def _iso_date(value: str, key: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        check(False, key, f"{value!r} is not an ISO date (YYYY-MM-DD)")
        raise  # unreachable: check raised


def _iso_instant(value: str, key: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        check(False, key, f"{value!r} is not an ISO date or date-time (UTC unless an offset)")
        raise  # unreachable


@dataclass
class DumpsConfig:
    """Public bulk dumps of an exchange (Binance's data.binance.vision layout by default):
    one zip per day or month, each next to a `<zip>.CHECKSUM` file holding its sha256."""

    base_url: str
    # where one file is, under base_url; {symbol} {interval} {period} {date} are filled in
    # ({date} is YYYY-MM-DD for daily files, YYYY-MM for monthly ones)
    path: str
    symbol: str
    interval: str | None  # kline interval; null for aggTrades/trades dumps
    period: str  # daily | monthly
    start: str  # first day (or month) to fetch, inclusive
    end: str  # last day (or month), inclusive
    verify_checksum: bool  # fetch <file>.CHECKSUM and refuse a mismatching file
    on_missing: str  # fail | skip: a day (month) the server does not have
    timeout_seconds: float
    retries: int  # extra attempts after a network error or HTTP 5xx

    def __post_init__(self) -> None:
        check(self.period in PERIODS, "period", f"must be one of {list(PERIODS)}")
        check(self.on_missing in ON_MISSING, "on_missing", f"must be one of {list(ON_MISSING)}")
        check(self.base_url.startswith(("http://", "https://")), "base_url", "must be http(s)")
        unknown = set(re.findall(r"{(\w+)}", self.path)) - _PLACEHOLDERS
        check(not unknown, "path", f"unknown placeholders {sorted(unknown)}; known: "
              f"{sorted(_PLACEHOLDERS)}")  # fmt: skip
        check("{date}" in self.path, "path", "must contain {date} (one file per day or month)")
        check(
            "{interval}" not in self.path or bool(self.interval),
            "interval",
            "the path uses {interval}: give one (e.g. 1m, 1h, 1d)",
        )
        first = _iso_date(self.start, "start")
        last = _iso_date(self.end, "end")
        check(first <= last, "end", f"{self.end} is before start {self.start}")
        check(self.timeout_seconds > 0, "timeout_seconds", "must be > 0")
        check(self.retries >= 0, "retries", "must be >= 0")


@dataclass
class CcxtConfig:
    """Candles from an exchange's REST API through ccxt (`fetch_ohlcv`, paged by `since`)."""

    exchange: str  # a ccxt exchange id (ccxt.exchanges lists them)
    symbol: str  # ccxt's unified symbol
    timeframe: str
    start: str  # first candle's open time, UTC unless an offset is given
    end: str | None  # open time after the last candle (exclusive); null = until now
    limit: int | None  # candles per request; null = the exchange's default page
    # null = the exchange's own rateLimit (ccxt's enableRateLimit waits rateLimit ms x the
    # endpoint's cost between requests); a value can only slow requests down
    rate_limit_ms: int | None
    timeout_ms: int
    api_url: str | None  # null = the exchange's endpoints; else every API url -> this
    options: dict[str, Any]  # ccxt `options` of the exchange

    def __post_init__(self) -> None:
        check(bool(self.exchange), "exchange", "must name a ccxt exchange id, e.g. binance")
        check("/" in self.symbol, "symbol", "must be ccxt's unified symbol, e.g. BTC/USDT")
        check(_timeframe_ok(self.timeframe), "timeframe", "must look like 1m, 15m, 1h, 1d, 1w")
        first = _iso_instant(self.start, "start")
        if self.end is not None:
            check(_iso_instant(self.end, "end") > first, "end", "must be after start")
        check(self.limit is None or self.limit > 0, "limit", "must be > 0 or null")
        check(
            self.rate_limit_ms is None or self.rate_limit_ms >= 0, "rate_limit_ms", "must be >= 0"
        )
        check(self.timeout_ms > 0, "timeout_ms", "must be > 0")


@dataclass
class YfinanceConfig:
    """Raw (unadjusted) daily or intraday bars from Yahoo Finance through yfinance, with
    the dividends and splits that the clean stage's adjustment needs."""

    ticker: str
    interval: str  # 1d, 1wk, 1mo, or intraday 1m..1h (Yahoo keeps them briefly)
    start: str  # first date, inclusive
    end: str  # last date, exclusive (as Yahoo and yfinance count it)
    base_url: str | None  # null = Yahoo's hosts; else a mirror serving the same API
    timeout_seconds: float

    def __post_init__(self) -> None:
        check(bool(self.ticker), "ticker", "must name a Yahoo ticker, e.g. AAPL or ^GSPC")
        check(_timeframe_ok(self.interval), "interval", "must look like 1d, 1wk, 1mo, 1h, 5m")
        first = _iso_date(self.start, "start")
        check(_iso_date(self.end, "end") > first, "end", "must be after start (exclusive)")
        check(self.timeout_seconds > 0, "timeout_seconds", "must be > 0")


def _timeframe_ok(value: str) -> bool:
    return re.fullmatch(r"\d+(m|h|d|wk|w|mo|M|y)", value) is not None
