"""The ccxt connector against a real HTTP server answering Binance's REST API from recorded
responses (a one-market exchangeInfo, 30 hourly klines): `fetch_ohlcv` pages forward by
`since` within ccxt's rate limit, the still-forming candle is dropped, and geo-blocks and
refused credentials are reported plainly with the exchange named."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from recorded import FIXTURES, RecordedServer

from qraptor.cli.data_stages import run_ingest
from qraptor.core.errors import DataError
from qraptor.core.extras import MissingExtra
from qraptor.data.download import download
from qraptor.data.download.config import CcxtConfig
from qraptor.data.download.exchange import download_ccxt
from qraptor.data.parts import read_folder
from qraptor.data.pipeline_config import load_pipeline_config

RECORDED = FIXTURES / "ccxt-binance"
KLINES = json.loads((RECORDED / "klines-BTCUSDT-1h.json").read_text())
HOUR_MS = 3_600_000
START_MS = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp() * 1000)


def _klines(query: dict[str, str]) -> tuple[int, bytes, str]:
    """Binance's /api/v3/klines over the recorded candles: startTime, endTime, limit."""
    start = int(query.get("startTime", 0))
    end = int(query.get("endTime", 2**62))
    limit = int(query.get("limit", 500))
    page = [k for k in KLINES if start <= k[0] <= end][:limit]
    return 200, json.dumps(page).encode(), "application/json"


def _answer(
    status: int, body: dict[str, object]
) -> Callable[[dict[str, str]], tuple[int, bytes, str]]:
    return lambda query: (status, json.dumps(body).encode(), "application/json")


@pytest.fixture
def binance(recorded_server: RecordedServer) -> RecordedServer:
    info = (RECORDED / "exchangeInfo.json").read_bytes()
    recorded_server.routes["/api/v3/exchangeInfo"] = lambda q: (200, info, "application/json")
    recorded_server.routes["/api/v3/klines"] = _klines
    return recorded_server


def _cfg(server: RecordedServer, **changes: object) -> CcxtConfig:
    cfg = CcxtConfig(
        exchange="binance",
        symbol="BTC/USDT",
        timeframe="1h",
        start="2024-01-01",
        end=None,
        limit=10,
        rate_limit_ms=500,
        timeout_ms=5000,
        api_url=server.url,
        options={"fetchMarkets": {"types": ["spot"]}},  # spot's exchangeInfo only
    )
    return replace(cfg, **changes)


def _rows(path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_pages_by_since_within_the_rate_limit_and_drops_the_forming_candle(binance, tmp_path):
    forming = KLINES[-1][0]
    now = forming + HOUR_MS // 2  # the last recorded candle is half-way through its hour
    record = download_ccxt(_cfg(binance), tmp_path, now_ms=now)

    rows = _rows(tmp_path / "binance-BTCUSDT-1h.csv")
    assert len(rows) == 29 == record["files"][0]["rows"]
    assert [int(r["timestamp"]) for r in rows] == [START_MS + i * HOUR_MS for i in range(29)]
    assert rows[0] == {
        "timestamp": str(START_MS),
        "open": "42000.0",
        "high": "42025.0",
        "low": "41985.0",
        "close": "42005.0",
        "volume": "100.0",
    }
    pages = [r for r in binance.requests if r.path == "/api/v3/klines"]
    assert [int(p.query["startTime"]) for p in pages[:3]] == [
        START_MS,
        START_MS + 10 * HOUR_MS,
        START_MS + 20 * HOUR_MS,
    ]
    assert {p.query["limit"] for p in pages} == {"10"}
    # ccxt's throttle spaces requests by rateLimit x the endpoint's cost: 500 ms x 0.4 for
    # spot klines in ccxt's binance table (binance's own rateLimit is 50 ms)
    gaps = [b.at - a.at for a, b in zip(binance.requests, binance.requests[1:], strict=False)]
    assert min(gaps) >= 0.9 * 0.500 * 0.4
    assert record["files"][0]["last"] == "2024-01-02T04:00:00Z"


def test_end_is_exclusive_and_the_raw_stage_writes_the_record(binance, tmp_path):
    out = tmp_path / "raw"
    metrics = download("ccxt", _cfg(binance, end="2024-01-01T10:00:00"), out, timezone="UTC")
    rows = _rows(out / "binance-BTCUSDT-1h.csv")
    assert len(rows) == 10 and int(rows[-1]["timestamp"]) == START_MS + 9 * HOUR_MS
    assert metrics["source"] == "ccxt" and metrics["exchange"] == "binance"
    assert metrics["first_request"].startswith(f"{binance.url}/api/v3/klines?")
    assert (out / "download.json").is_file() and "downloaded_at" in metrics


def test_a_geo_block_names_the_exchange_and_the_way_out(binance, tmp_path):
    binance.routes["/api/v3/klines"] = _answer(
        451,
        {
            "code": 0,
            "msg": "Service unavailable from a restricted location according to 'b. "
            "Eligibility' in https://www.binance.com/en/terms.",
        },
    )
    with pytest.raises(DataError) as caught:
        download("ccxt", _cfg(binance), tmp_path / "raw", timezone="UTC")
    assert caught.value.rule == "geo_block"
    assert str(caught.value).startswith(
        "binance (ccxt): [geo_block] blocks requests from this country or region (HTTP 451)"
    )
    assert not (tmp_path / "raw").exists()


def test_a_403_and_refused_credentials_are_told_apart(binance, tmp_path):
    binance.routes["/api/v3/klines"] = lambda q: (403, b"<html>403 Forbidden</html>", "text/html")
    with pytest.raises(DataError) as caught:
        download_ccxt(_cfg(binance), tmp_path)
    assert caught.value.rule == "geo_block" and "HTTP 403" in caught.value.problem
    binance.routes["/api/v3/klines"] = _answer(401, {"code": -2015, "msg": "Invalid API-key."})
    with pytest.raises(DataError) as caught:
        download_ccxt(_cfg(binance), tmp_path)
    assert caught.value.rule == "auth" and caught.value.path == "binance (ccxt)"


def test_an_unknown_market_lists_the_markets_of_its_base(binance, tmp_path):
    with pytest.raises(DataError, match="has no market 'BTC/EUR'; markets of that base: BTC/USDT"):
        download_ccxt(_cfg(binance, symbol="BTC/EUR"), tmp_path)


def test_without_the_extra_the_error_names_it():
    message = str(MissingExtra("ccxt", "connectors"))
    assert "pip install 'qraptor[connectors]'" in message
    assert "data=binance_klines" in message  # the dumps connector needs no extra


def test_the_conf_file_ingests_what_the_connector_wrote(binance, tmp_path):
    cfg = load_pipeline_config(
        [
            "data=ccxt_btc",
            f"data.ccxt.api_url={binance.url}",
            "data.ccxt.end=2024-01-02",
            "data.ccxt.limit=10",
            "+data.ccxt.options.fetchMarkets.types=[spot]",
        ]
    )
    raw = tmp_path / "raw"
    download("ccxt", cfg.data.ccxt, raw, timezone="UTC")
    run_ingest(cfg, raw, tmp_path / "ingested")
    bars = read_folder(tmp_path / "ingested")
    assert bars.height == 24
    assert bars["timestamp"][0] == datetime(2024, 1, 1, tzinfo=UTC)
    assert bars["close"][23] == pytest.approx(42_235.0)


def test_validating_a_connector_config_imports_neither_ccxt_nor_yfinance():
    """Both take ~0.5-1 s to import; every stage validates the whole config first."""
    code = (
        "import sys\n"
        "from qraptor.cli import data_stages\n"
        "from qraptor.data.pipeline_config import load_pipeline_config\n"
        "for name in ('ccxt_btc', 'yfinance_aapl', 'binance_klines'):\n"
        "    load_pipeline_config([f'data={name}'])\n"
        "print(sorted(m for m in ('ccxt', 'yfinance') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
