"""Adjusted prices: a split- and dividend-adjusted close next to raw open/high/low, and
corporate-action columns as yfinance writes them, through ingest -> clean.

The file is shaped like `yfinance.Ticker.history(auto_adjust=False, actions=True)` saved
with dates: Date, Open, High, Low, Close (split-adjusted), Adj Close (split- and
dividend-adjusted), Volume (split-adjusted), Dividends (cash per share), Stock Splits
(ratio on the ex-date, 0 otherwise). A 4-for-1 split and two dividends happen in it.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from qraptor.core.config import to_schema
from qraptor.core.errors import ConfigError, DataError
from qraptor.data.clean.frame import CleanConfig, clean_folder
from qraptor.data.clean.stream import REPORT_NAME
from qraptor.data.ingest.files import ingest_files
from qraptor.data.ingest.timestamps import TimestampConfig
from qraptor.data.parts import read_folder
from qraptor.data.pipeline_config import compose_pipeline

N, SPLIT_AT, SPLIT = 40, 20, 4.0
DIVIDENDS = {4: 8.0, 30: 2.0}  # row -> cash per share as paid (before the split: per old share)
DATES = [d for d in (date(2020, 8, 3) + timedelta(days=i) for i in range(60)) if d.weekday() < 5]
DAILY = TimestampConfig(format="%Y-%m-%d", unit=None, timezone="America/New_York")


def as_traded() -> dict[str, np.ndarray]:
    """Prices as they printed: the close drops by the dividend and to a quarter at the split."""
    rng = np.random.default_rng(7)
    close, open_ = np.empty(N), np.empty(N)
    prev = 440.0
    for t in range(N):
        base = prev / SPLIT if t == SPLIT_AT else prev
        base -= DIVIDENDS.get(t, 0.0)
        open_[t] = base * np.exp(rng.normal(0, 0.002))
        close[t] = base * np.exp(rng.normal(0, 0.012))
        prev = close[t]
    high = np.maximum(open_, close) * (1 + rng.uniform(0.001, 0.01, N))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.001, 0.01, N))
    volume = np.where(np.arange(N) >= SPLIT_AT, 4.0, 1.0) * rng.integers(800_000, 1_200_000, N)
    dividend = np.array([DIVIDENDS.get(t, 0.0) for t in range(N)])
    split = np.where(np.arange(N) == SPLIT_AT, SPLIT, 0.0)
    return {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume,
            "Dividends": dividend, "Stock Splits": split}  # fmt: skip


def yahoo(raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What Yahoo serves: prices, volume and dividends split-adjusted, plus Adj Close."""
    before_split = np.arange(N) < SPLIT_AT
    scale = np.where(before_split, 1 / SPLIT, 1.0)
    out = {k: raw[k] * scale for k in ("Open", "High", "Low", "Close", "Dividends")}
    out["Volume"] = raw["Volume"] / scale
    out["Stock Splits"] = raw["Stock Splits"]
    factor = np.ones(N)  # Yahoo's backward dividend factor: product over later ex-dates
    for t in range(N - 1, 0, -1):
        step = 1 - out["Dividends"][t] / out["Close"][t - 1] if out["Dividends"][t] else 1.0
        factor[t - 1] = factor[t] * step
    out["Adj Close"] = out["Close"] * factor
    return out


def write_csv(path: Path, columns: dict[str, np.ndarray]) -> Path:
    names = ["Open", "High", "Low", "Close", "Adj Close", "Volume", "Dividends", "Stock Splits"]
    names = [n for n in names if n in columns]
    lines = [",".join(["Date", *names])]
    rows = len(next(iter(columns.values())))
    for t, day in enumerate(DATES[:rows]):
        lines.append(",".join([day.isoformat(), *(f"{columns[n][t]:.6f}" for n in names)]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def clean_cfg(method: str = "none", ohlc: str = "refuse", batch_rows: int | None = None):
    overrides = [f"clean.adjust.method={method}", f"clean.bars.ohlc_violation={ohlc}"]
    if batch_rows:
        overrides.append(f"clean.batch_rows={batch_rows}")
    return to_schema(compose_pipeline(overrides).clean, CleanConfig, "clean")


METRICS: dict[Path, dict] = {}  # clean folder -> the stage's DVC metrics


def run(tmp: Path, source: Path, columns: dict[str, str], cfg: CleanConfig) -> pl.DataFrame:
    ingest_files([source], tmp / "ingested", kind="bars", columns=columns, timestamp=DAILY)
    report = clean_folder(tmp / "ingested", tmp / "clean", "bars", cfg, tmp / "work")
    METRICS[tmp / "clean"] = report.to_metrics()
    return read_folder(tmp / "clean")


def consistent(bars: pl.DataFrame) -> bool:
    """low <= open, close <= high on every bar."""
    top, bottom = pl.max_horizontal("open", "close"), pl.min_horizontal("open", "close")
    return bool(bars.select(((pl.col("high") >= top) & (pl.col("low") <= bottom)).all()).item())


OHLV = {"timestamp": "Date", "open": "Open", "high": "High", "low": "Low", "volume": "Volume"}


def test_adjusted_close_next_to_raw_ohl_is_refused_with_a_hint_then_adjusted(tmp_path) -> None:
    served = yahoo(as_traded())
    source = write_csv(tmp_path / "AAPL.csv", served)
    with pytest.raises(DataError, match=r"clean\.adjust\.method=adj_close") as err:
        run(tmp_path / "a", source, {**OHLV, "close": "Adj Close"}, clean_cfg())
    assert err.value.rule == "ohlc_violation"
    assert "only the close outside [low, high]" in err.value.problem

    cfg = clean_cfg("adj_close")
    bars = run(tmp_path / "b", source, {**OHLV, "close": "Close", "adj_close": "Adj Close"}, cfg)
    assert bars.columns == ["timestamp", "open", "high", "low", "close", "volume"]
    np.testing.assert_allclose(bars["close"].to_numpy(), served["Adj Close"], rtol=1e-6)
    factor = served["Adj Close"] / served["Close"]
    np.testing.assert_allclose(bars["open"].to_numpy(), served["Open"] * factor, rtol=1e-6)
    np.testing.assert_allclose(bars["volume"].to_numpy(), served["Volume"])  # left as given
    assert consistent(bars)
    report = json.loads((tmp_path / "b" / "clean" / REPORT_NAME).read_text())
    assert report["rows_out"] == N and report["rules"]["ohlc_violation"] == 0
    adjustment = report["adjustment"]
    assert adjustment["method"] == "adj_close"
    assert adjustment["bars_adjusted"] == 30  # every bar before the last ex-dividend date
    assert adjustment["factor_min"] == pytest.approx(factor.min(), rel=1e-6)
    assert adjustment["factor_max"] == 1.0


@pytest.mark.parametrize("served_as", ["as_traded", "yahoo"])
@pytest.mark.parametrize("batch_rows", [None, 3])
def test_factor_adjustment_is_forward_causal_and_matches_the_vendor_returns(
    served_as: str, batch_rows: int | None, tmp_path: Path
) -> None:
    raw = as_traded()
    served = raw if served_as == "as_traded" else yahoo(raw)
    source = write_csv(tmp_path / "AAPL.csv", served)
    columns = {**OHLV, "close": "Close", "dividend": "Dividends"}
    if served_as == "as_traded":  # Yahoo's prices are split-adjusted already: no split column
        columns["split"] = "Stock Splits"
    cfg = clean_cfg("factors", batch_rows=batch_rows)
    bars = run(tmp_path / "full", source, columns, cfg)
    close = bars["close"].to_numpy()

    vendor = yahoo(raw)["Adj Close"]  # same returns as the vendor's adjusted close
    np.testing.assert_allclose(close[1:] / close[:-1], vendor[1:] / vendor[:-1], rtol=1e-6)
    assert close[0] == pytest.approx(served["Close"][0], rel=1e-6)  # the first bar as traded
    assert consistent(bars)
    volume = bars["volume"].to_numpy()  # in the first bar's share units
    np.testing.assert_allclose(volume, yahoo(raw)["Volume"] / (1 if served_as == "yahoo" else 4))

    # causal: the bars up to t are the same whether or not later rows (and actions) exist
    head = write_csv(tmp_path / "head.csv", {k: v[:25] for k, v in served.items()})
    shorter = run(tmp_path / "head", head, columns, cfg)
    np.testing.assert_allclose(shorter["close"].to_numpy(), close[:25], rtol=1e-12)

    report = json.loads((tmp_path / "full" / "clean" / REPORT_NAME).read_text())
    adjustment = report["adjustment"]
    assert adjustment["method"] == "factors" and adjustment["dividends"] == 2
    assert adjustment["splits"] == (1 if served_as == "as_traded" else 0)
    assert adjustment["bars_adjusted"] == N - 4  # from the first ex-date on
    assert adjustment["factor_min"] == 1.0 and adjustment["factor_max"] > 1.0
    metrics = METRICS[tmp_path / "full" / "clean"]  # what `dvc metrics show` gets
    assert metrics["adjustment"]["bars_adjusted"] == N - 4
    assert metrics["adjustment"]["splits"] == adjustment["splits"]


def test_split_column_on_split_adjusted_prices_is_refused(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "AAPL.csv", yahoo(as_traded()))
    columns = {**OHLV, "close": "Close", "dividend": "Dividends", "split": "Stock Splits"}
    with pytest.raises(DataError, match="split-adjusted already") as err:
        run(tmp_path, source, columns, clean_cfg("factors"))
    assert err.value.rule == "split_adjusted_prices"
    assert err.value.rows and "split=4.0" in err.value.rows[0]


def test_adjustment_config_and_missing_columns_name_their_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"clean\.adjust\.method"):
        clean_cfg("backward")
    source = write_csv(tmp_path / "AAPL.csv", yahoo(as_traded()))
    with pytest.raises(ConfigError, match=r"data\.columns") as err:
        run(tmp_path, source, {**OHLV, "close": "Close"}, clean_cfg("adj_close"))
    assert err.value.key == "clean.adjust.method"
    # mapped but unused (method none): the columns are ignored and reported, not kept
    columns = {**OHLV, "close": "Close", "adj_close": "Adj Close", "dividend": "Dividends"}
    bars = run(tmp_path / "none", source, columns, clean_cfg("none"))
    assert "adj_close" not in bars.columns and "dividend" not in bars.columns
    report = json.loads((tmp_path / "none" / "clean" / REPORT_NAME).read_text())
    assert report["adjustment"]["ignored_columns"] == ["adj_close", "dividend"]
