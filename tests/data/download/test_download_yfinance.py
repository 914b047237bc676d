"""The yfinance connector against a real HTTP server answering Yahoo's chart API from a
recorded response (AAPL, 2020-08-25..2020-09-02, with the 4:1 split of 2020-08-31 and a
dividend): yfinance itself makes the requests (its session pointed at the server by
`yfinance.base_url`), and the CSV keeps Yahoo's unadjusted columns with the events."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from recorded import FIXTURES, RecordedServer

from qraptor.cli.data_stages import run_ingest
from qraptor.core.errors import DataError
from qraptor.data.download import download
from qraptor.data.download.config import YfinanceConfig
from qraptor.data.download.yahoo import download_yfinance
from qraptor.data.parts import read_folder
from qraptor.data.pipeline_config import load_pipeline_config

CHART = (FIXTURES / "yahoo/chart-AAPL-1d.json").read_bytes()
NEW_YORK = "America/New_York"


@pytest.fixture
def yahoo(recorded_server: RecordedServer, tmp_path_factory) -> RecordedServer:
    import yfinance

    yfinance.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))
    recorded_server.routes["/v8/finance/chart/AAPL"] = lambda q: (200, CHART, "application/json")
    recorded_server.routes["/v1/test/getcrumb"] = lambda q: (200, b"recordedcrumb", "text/plain")
    return recorded_server


def _cfg(server: RecordedServer, **changes: object) -> YfinanceConfig:
    cfg = YfinanceConfig(
        ticker="AAPL",
        interval="1d",
        start="2020-08-25",
        end="2020-09-03",
        base_url=server.url,
        timeout_seconds=5,
    )
    return replace(cfg, **changes)


def test_raw_bars_with_adjusted_close_dividends_and_splits(yahoo, tmp_path):
    record = download_yfinance(_cfg(yahoo), tmp_path, NEW_YORK)

    lines = (tmp_path / "AAPL-1d.csv").read_text().splitlines()
    assert lines[0] == "Date,Open,High,Low,Close,Adj Close,Volume,Dividends,Stock Splits"
    assert lines[1] == "2020-08-25,124.7,125.18,123.05,124.83,121.784148,211495600,0.0,0.0"
    assert lines[4] == "2020-08-28,126.01,126.44,124.58,124.81,122.3138,187630000,0.205,0.0"
    assert lines[5] == "2020-08-31,127.58,131.0,126.0,129.04,126.4592,225702700,0.0,4.0"
    assert len(lines) == 1 + 7
    chart = [
        r for r in yahoo.requests if r.path == "/v8/finance/chart/AAPL" and "period1" in r.query
    ]
    assert chart and chart[0].query["events"].startswith("div,splits")  # actions=True
    files = record["files"][0]
    assert files["splits"] == {"2020-08-31": 4.0} and files["dividends"] == 1
    assert record["exchange_timezone"] == NEW_YORK


def test_daily_dates_in_another_zone_than_the_exchange_are_refused(yahoo, tmp_path):
    with pytest.raises(DataError) as caught:
        download("yfinance", _cfg(yahoo), tmp_path / "raw", timezone="UTC")
    assert caught.value.rule == "timezone"
    assert "calendar dates of NMS in America/New_York" in caught.value.problem
    assert "set it to America/New_York" in caught.value.problem
    assert not (tmp_path / "raw").exists()


def test_an_unknown_ticker_and_a_rate_limit_are_reported_plainly(yahoo, tmp_path):
    missing = {
        "chart": {
            "result": None,
            "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
        }
    }
    not_found = json.dumps(missing).encode()
    yahoo.fallback = lambda q: (404, not_found, "application/json")  # Yahoo answers JSON
    with pytest.raises(DataError) as caught:
        download_yfinance(_cfg(yahoo, ticker="NOPE"), tmp_path, NEW_YORK)
    assert caught.value.path == "yfinance NOPE" and caught.value.rule == "symbol"
    # (another ticker: yfinance keeps the answers of past ranges in an in-process cache)
    yahoo.routes["/v8/finance/chart/MSFT"] = lambda q: (429, b"Too Many Requests", "text/plain")
    with pytest.raises(DataError) as caught:
        download_yfinance(_cfg(yahoo, ticker="MSFT"), tmp_path, NEW_YORK)
    assert caught.value.rule == "rate_limit"


def test_the_conf_file_ingests_what_the_connector_wrote(yahoo, tmp_path):
    cfg = load_pipeline_config(
        [
            "data=yfinance_aapl",
            f"data.yfinance.base_url={yahoo.url}",
            "data.yfinance.start=2020-08-25",
            "data.yfinance.end=2020-09-03",
        ]
    )
    raw = tmp_path / "raw"
    download("yfinance", cfg.data.yfinance, raw, timezone=cfg.data.timestamp.timezone)
    run_ingest(cfg, raw, tmp_path / "ingested")
    bars = read_folder(tmp_path / "ingested")
    assert bars.height == 7
    assert bars["close"].to_list()[4] == pytest.approx(129.04)
