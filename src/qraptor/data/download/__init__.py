"""`qraptor data download`: the connectors that fetch a raw dataset into `data/raw/`.

Three sources of `conf/data/<name>.yaml` download instead of reading local files:

* ``dumps``: an exchange's public bulk files (Binance's daily/monthly klines and trade
  zips), each verified against its published `.CHECKSUM` (stdlib HTTP, no extra needed);
* ``ccxt``: candles from an exchange's REST API (`fetch_ohlcv`, paged, throttled);
* ``yfinance``: daily or intraday bars from Yahoo Finance, unadjusted, with dividends and
  splits.

The download is the pipeline's `raw` stage (dvc.yaml), so DVC caches and versions what
was fetched: `dvc repro` fetches again only when the source's parameters change. ccxt and
yfinance come with the `connectors` extra and are imported only when used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qraptor.core.atomic import atomic_dir
from qraptor.data.download.config import CcxtConfig, DumpsConfig, YfinanceConfig
from qraptor.data.download.record import stage_metrics, write_record

CONNECTORS = ("dumps", "ccxt", "yfinance")


def download(
    source: str,
    section: DumpsConfig | CcxtConfig | YfinanceConfig,
    out_dir: Path,
    *,
    timezone: str,
) -> dict[str, Any]:
    """Fetch one connector's data into `out_dir`, atomically; return the stage metrics.

    The folder is replaced only when every file arrived and verified: a failed download
    leaves the previous one in place. `timezone` is `data.timestamp.timezone`.
    """
    previous = out_dir if out_dir.is_dir() else None
    with atomic_dir(out_dir) as tmp:
        if source == "dumps":
            from qraptor.data.download.dumps import download_dumps

            assert isinstance(section, DumpsConfig)
            record = download_dumps(section, tmp, previous)
        elif source == "ccxt":
            from qraptor.data.download.exchange import download_ccxt

            assert isinstance(section, CcxtConfig)
            record = download_ccxt(section, tmp)
        elif source == "yfinance":
            from qraptor.data.download.yahoo import download_yfinance

            assert isinstance(section, YfinanceConfig)
            record = download_yfinance(section, tmp, timezone)
        else:
            raise ValueError(f"not a connector: {source!r}")
        write_record(tmp, record)
    return stage_metrics(record)
