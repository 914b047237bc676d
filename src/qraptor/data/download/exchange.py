"""Connector `ccxt`: an exchange's candles over its REST API, through ccxt.

`fetch_ohlcv` returns at most one page of candles from `since`; this pages forward until
`end` (or until now), with ccxt's own throttle (`enableRateLimit`) spacing the requests by
the exchange's `rateLimit`. The still-forming last candle is dropped: its close, high, low
and volume would change after the download, so a later bar would silently differ from the
one a model was trained on. Blocks (HTTP 451/403 from a region the exchange refuses),
refused credentials and rate-limit bans are reported with the exchange named.
"""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qraptor.core.errors import DataError
from qraptor.core.extras import require
from qraptor.core.log import get_logger
from qraptor.core.provenance import file_sha256
from qraptor.data.download.config import CcxtConfig

log = get_logger(__name__)

HEADER = ("timestamp", "open", "high", "low", "close", "volume")
_MAX_PAGES = 1_000_000  # a guard against a server that keeps answering the same page


def ohlcv_file_name(cfg: CcxtConfig) -> str:
    return f"{cfg.exchange}-{cfg.symbol.replace('/', '').replace(':', '_')}-{cfg.timeframe}.csv"


def download_ccxt(cfg: CcxtConfig, work: Path, *, now_ms: int | None = None) -> dict[str, Any]:
    """Fetch the candles of `cfg` into `work/<exchange>-<symbol>-<timeframe>.csv`.

    `now_ms` is the moment that decides which candle is still forming (default: the
    clock at download time); the CSV's timestamps are candle open times in epoch ms.
    """
    ccxt = require("ccxt", "connectors")
    exchange = _exchange(ccxt, cfg)
    name = cfg.exchange
    try:
        exchange.load_markets()
        if cfg.symbol not in exchange.markets:
            near = [s for s in exchange.symbols if s.split("/")[0] == cfg.symbol.split("/")[0]]
            raise DataError(
                f"{name} (ccxt)",
                f"has no market {cfg.symbol!r}"
                + (f"; markets of that base: {', '.join(near[:8])}" if near else ""),
                rule="symbol",
            )
        if not exchange.has.get("fetchOHLCV"):
            raise DataError(f"{name} (ccxt)", "does not serve candles (has no fetchOHLCV)")
        if exchange.timeframes and cfg.timeframe not in exchange.timeframes:
            raise DataError(
                f"{name} (ccxt)",
                f"has no timeframe {cfg.timeframe!r}; it has {', '.join(exchange.timeframes)}",
                rule="timeframe",
            )
        candles, first_url = _page(exchange, cfg, now_ms)
    except ccxt.BaseError as exc:
        raise _plain(ccxt, name, exc) from None
    if not candles:
        raise DataError(
            f"{name} (ccxt)",
            f"returned no closed {cfg.timeframe} candle of {cfg.symbol} from {cfg.start}"
            + (f" to {cfg.end}" if cfg.end else ""),
            rule="empty",
        )
    target = work / ohlcv_file_name(cfg)
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows([int(c[0]), *(_number(v) for v in c[1:6])] for c in candles)
    return {
        "source": "ccxt",
        "exchange": name,
        "symbol": cfg.symbol,
        "timeframe": cfg.timeframe,
        "start": cfg.start,
        "end": cfg.end,
        "first_request": first_url,
        "files": [
            {
                "file": target.name,
                "sha256": file_sha256(target),
                "bytes": target.stat().st_size,
                "rows": len(candles),
                "first": _iso(candles[0][0]),
                "last": _iso(candles[-1][0]),
            }
        ],
    }


def _exchange(ccxt: Any, cfg: CcxtConfig) -> Any:
    if cfg.exchange not in ccxt.exchanges:
        raise DataError(
            None, f"data.ccxt.exchange: ccxt has no exchange {cfg.exchange!r} (ccxt.exchanges)"
        )
    cls = getattr(ccxt, cfg.exchange)
    settings: dict[str, Any] = {
        "enableRateLimit": True,  # ccxt's throttle: requests at most every rateLimit ms
        "timeout": cfg.timeout_ms,
        "options": dict(cfg.options),
    }
    if cfg.rate_limit_ms is not None:  # the throttle is built from the constructor's value
        settings["rateLimit"] = max(float(cls().rateLimit), float(cfg.rate_limit_ms))
    exchange = cls(settings)
    if cfg.api_url is not None:
        exchange.urls["api"] = _rehost(exchange.urls["api"], cfg.api_url)
    return exchange


def _rehost(api: Any, base: str) -> Any:
    """Every URL of an exchange's `urls['api']` with its scheme and host replaced by `base`
    (the paths stay): the exchange's API served from a mirror or a recorded server."""
    if isinstance(api, dict):
        return {key: _rehost(value, base) for key, value in api.items()}
    if isinstance(api, str):
        parts = urlsplit(api)
        return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
    return api


def _page(exchange: Any, cfg: CcxtConfig, now_ms: int | None) -> tuple[list[list[Any]], str]:
    """All closed candles from start to end, one `fetch_ohlcv` page after the other."""
    step = int(exchange.parse_timeframe(cfg.timeframe) * 1000)
    since = _epoch_ms(cfg.start)
    until = _epoch_ms(cfg.end) if cfg.end is not None else None
    candles: dict[int, list[Any]] = {}
    first_url = ""
    for _ in range(_MAX_PAGES):
        page = exchange.fetch_ohlcv(cfg.symbol, cfg.timeframe, since=since, limit=cfg.limit)
        first_url = first_url or str(getattr(exchange, "last_request_url", "") or "")
        fresh = [c for c in page if c[0] >= since and (until is None or c[0] < until)]
        if not fresh:
            break
        for candle in fresh:
            candles[int(candle[0])] = candle
        last = max(int(c[0]) for c in fresh)
        log.info("download: %s %s candles up to %s", len(candles), cfg.symbol, _iso(last))
        since = last + step
        if until is not None and since >= until:
            break
        if since > (now_ms if now_ms is not None else time.time() * 1000):
            break
    now = now_ms if now_ms is not None else int(exchange.milliseconds())
    ordered = [candles[t] for t in sorted(candles)]
    forming = [c for c in ordered if c[0] + step > now]
    if forming:
        log.info("download: dropped the still-forming candle at %s", _iso(forming[0][0]))
    return [c for c in ordered if c[0] + step <= now], first_url


def _plain(ccxt: Any, name: str, exc: Exception) -> DataError:
    """A ccxt exception as one sentence a user can act on, with the exchange named."""
    text = str(exc)
    where = f"{name} (ccxt)"
    if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied | ccxt.AccountSuspended):
        return DataError(where, "refused the request as unauthorised (HTTP 401/403 or an API "
                         f"key error): the connector reads public candles only; {text}",
                         rule="auth")  # fmt: skip
    if " 451 " in f" {text} " or "restricted location" in text.lower():
        return DataError(where, "blocks requests from this country or region (HTTP 451): "
                         "use another exchange, or one of its regional sites (e.g. binanceus)",
                         rule="geo_block")  # fmt: skip
    if " 403 " in f" {text} ":
        return DataError(where, "forbids requests from this address (HTTP 403: a geo-block, "
                         "an IP ban or a firewall); use another exchange or network",
                         rule="geo_block")  # fmt: skip
    if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return DataError(where, "rate-limited the download (HTTP 429/418) even with ccxt's "
                         f"throttle; set data.ccxt.rate_limit_ms higher: {text}",
                         rule="rate_limit")  # fmt: skip
    if isinstance(exc, ccxt.BadSymbol):
        return DataError(where, f"does not know the symbol: {text}", rule="symbol")
    if isinstance(exc, ccxt.NetworkError):
        return DataError(where, f"cannot be reached: {text}", rule="network")
    return DataError(where, f"answered with an error: {text}", rule="exchange")


def _epoch_ms(value: str) -> int:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _number(value: Any) -> str:
    """A price or volume as the shortest text that reads back to the same float."""
    return "" if value is None else repr(float(value))
