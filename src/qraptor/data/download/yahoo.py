"""Connector `yfinance`: daily or intraday bars from Yahoo Finance, unadjusted, with events.

Asked with `auto_adjust=False` and `actions=True`, Yahoo's chart API gives per bar: Open,
High, Low, Close, Adj Close, Volume, Dividends and Stock Splits. Yahoo's Open/High/Low/
Close are split-adjusted but not dividend-adjusted (Yahoo serves no unsplit history);
Adj Close is adjusted for both. The CSV keeps all of them under yfinance's own names, so
the clean stage can build adjusted OHLC from one consistent source (the Adj Close/Close
ratio, or the dividend events) instead of mixing an adjusted close with raw highs.

Daily (and coarser) rows are written as calendar dates (YYYY-MM-DD): a date is a trading
day in the exchange's zone, and the pipeline labels it there (`data.timestamp.timezone`
must be that zone; a mismatch is refused here). Intraday rows keep their UTC offset.
"""

from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qraptor.core.errors import DataError
from qraptor.core.extras import require
from qraptor.core.provenance import file_sha256
from qraptor.data.download.config import YfinanceConfig

COLUMNS = ("Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends", "Stock Splits")
HEADER = ("Date", *COLUMNS)
_DATE_INTERVALS = ("1d", "5d", "1wk", "1mo", "3mo")


def yfinance_file_name(cfg: YfinanceConfig) -> str:
    return f"{cfg.ticker.replace('^', '').replace('/', '-')}-{cfg.interval}.csv"


def download_yfinance(cfg: YfinanceConfig, work: Path, timezone: str) -> dict[str, Any]:
    """Fetch `cfg.ticker`'s bars into `work/<ticker>-<interval>.csv`.

    `timezone` is `data.timestamp.timezone`, the zone ingest reads the dates in: for
    daily bars it must be the exchange's.
    """
    yf = require("yfinance", "connectors")
    where = f"yfinance {cfg.ticker}"
    session = _rehosting_session(cfg.base_url) if cfg.base_url else None
    ticker = yf.Ticker(cfg.ticker, session=session)
    hidden = yf.config.debug.hide_exceptions
    yf.config.debug.hide_exceptions = False  # raise, not log and return an empty frame
    with warnings.catch_warnings():
        # yfinance 1.7 calls pandas APIs that pandas 3.1 deprecates: its noise, not the user's
        warnings.filterwarnings("ignore", message="The inplace keyword")
        try:
            frame = ticker.history(
                start=cfg.start,
                end=cfg.end,
                interval=cfg.interval,
                auto_adjust=False,
                back_adjust=False,
                actions=True,
                repair=False,
                timeout=cfg.timeout_seconds,
            )
            meta = ticker.get_history_metadata()
        except Exception as exc:  # yfinance raises its own and its HTTP backend's exceptions
            raise _plain(where, exc) from None
        finally:
            yf.config.debug.hide_exceptions = hidden
    if frame.empty:
        raise DataError(where, f"Yahoo returned no {cfg.interval} bars from {cfg.start} to "
                        f"{cfg.end} (end exclusive)", rule="empty")  # fmt: skip
    zone = str(meta.get("exchangeTimezoneName") or frame.index.tz)
    dated = cfg.interval in _DATE_INTERVALS
    if dated and zone != timezone:
        raise DataError(
            where,
            f"daily rows are calendar dates of {meta.get('exchangeName', 'the exchange')} in "
            f"{zone}, but data.timestamp.timezone is {timezone}: set it to {zone} so each "
            "bar is labelled at its own trading day",
            rule="timezone",
        )
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = 0.0 if column in ("Dividends", "Stock Splits") else math.nan
    target = work / yfinance_file_name(cfg)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for stamp, row in zip(frame.index, frame[list(COLUMNS)].itertuples(index=False),
                              strict=True):  # fmt: skip
            when = stamp.date().isoformat() if dated else stamp.isoformat()
            writer.writerow([when, *(_number(v, c) for v, c in zip(row, COLUMNS, strict=True))])
    splits = frame.loc[frame["Stock Splits"] > 0, "Stock Splits"]
    return {
        "source": "yfinance",
        "ticker": cfg.ticker,
        "interval": cfg.interval,
        "start": cfg.start,
        "end": cfg.end,
        "exchange_timezone": zone,
        "currency": meta.get("currency"),
        "files": [
            {
                "file": target.name,
                "url": f"{_base(cfg)}/v8/finance/chart/{cfg.ticker}",
                "sha256": file_sha256(target),
                "bytes": target.stat().st_size,
                "rows": len(frame),
                "dividends": int((frame["Dividends"] > 0).sum()),
                "splits": {s.date().isoformat(): float(v) for s, v in splits.items()},
            }
        ],
    }


def _base(cfg: YfinanceConfig) -> str:
    if cfg.base_url:
        return cfg.base_url.rstrip("/")
    from yfinance.const import _BASE_URL_

    return str(_BASE_URL_)


def _rehosting_session(base_url: str) -> Any:
    """yfinance's own HTTP session class with every URL's scheme and host replaced by
    `base_url`: Yahoo's API served by a mirror or a recorded server (yfinance has no base-URL
    setting; its session is the documented way in)."""
    from yfinance._http import requests as backend

    base = base_url.rstrip("/")

    class Rehosting(backend.Session):
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            parts = urlsplit(url)
            moved = base + parts.path + (f"?{parts.query}" if parts.query else "")
            return super().request(method, moved, *args, **kwargs)

    return Rehosting()


def _plain(where: str, exc: Exception) -> DataError:
    text = str(exc).strip() or type(exc).__name__
    name = type(exc).__name__
    if "RateLimit" in name or "429" in text:
        return DataError(where, "Yahoo rate-limited the request (HTTP 429): wait and rerun; "
                         "yfinance downloads are throttled per IP", rule="rate_limit")  # fmt: skip
    if " 451" in text or " 403" in text or "Forbidden" in text:
        return DataError(where, f"Yahoo refused the request (a block for this network or "
                         f"region): {text}", rule="geo_block")  # fmt: skip
    if "delisted" in text or "404" in text or "no price data" in text.lower() or "Missing" in name:
        return DataError(where, f"Yahoo has no such ticker, or no data in this range: {text}",
                         rule="symbol")  # fmt: skip
    return DataError(where, f"download failed ({name}): {text}", rule="download")


def _number(value: Any, column: str) -> str:
    """Volume as a whole number, prices and events as the shortest text of their float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(int(value)) if column == "Volume" else repr(float(value))
