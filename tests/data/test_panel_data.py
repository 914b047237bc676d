"""Panel files and features (issue 16): the shipped S&P 500 sample copies and reads as 20
close-only instruments of 8,313 days; long files and folders of per-symbol files read the
same; a bad row is refused naming the file, the symbol and the row; the panel features at
bar t do not change when anything after t does (the look-ahead property, on panels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qraptor.core.errors import DataError
from qraptor.data.panel_features import XS_RANK, panel_features
from qraptor.data.panel_files import copy_sp500_sample, read_panel
from qraptor.env.portfolio.panel import Panel


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return copy_sp500_sample(tmp_path_factory.mktemp("sp500"))


def test_the_sample_is_20_stocks_and_the_index_daily_since_1990(sample) -> None:
    frames = read_panel(sample["prices"])
    assert len(frames) == 20 and {"AAPL", "MSFT", "XOM"} <= set(frames)
    assert all(
        len(f) == 8313 and list(f.columns) == ["timestamp", "close"] for f in frames.values()
    )
    assert frames["AAPL"]["timestamp"].iloc[0] == pd.Timestamp("1990-01-02", tz="UTC")
    (index,) = read_panel(sample["index"]).values()
    assert len(index) == 8313 and index["close"].iloc[0] == pytest.approx(359.69)


def test_long_files_and_folders_read_like_wide_ones(sample, tmp_path: Path) -> None:
    wide = read_panel(sample["prices"])
    some = {s: wide[s].iloc[:300] for s in ("AAPL", "KO", "GE")}
    long = pd.concat([f.assign(symbol=s) for s, f in some.items()])
    long.sample(frac=1.0, random_state=0).to_csv(tmp_path / "long.csv", index=False)
    folder = tmp_path / "per_symbol"
    folder.mkdir()
    for s, f in some.items():
        f.to_parquet(folder / f"{s}.parquet")
    for read in (read_panel(tmp_path / "long.csv"), read_panel(folder)):
        assert sorted(read) == sorted(some)
        for s, f in some.items():
            pd.testing.assert_frame_equal(read[s], f.reset_index(drop=True), check_dtype=False)


def test_a_bad_row_is_refused_naming_the_file_symbol_and_row(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    pd.DataFrame({"Date": ["2020-01-01", "2020-01-02", "2020-01-03"], "AAA": [1.0, -2.0, 3.0],
                  "BBB": [1.0, 2.0, 3.0]}).to_csv(path, index=False)  # fmt: skip
    with pytest.raises(DataError) as caught:
        read_panel(path)
    assert str(path) in str(caught.value) and "AAA: data row 2: close -2.0" in str(caught.value)


def test_a_missing_value_in_a_wide_file_is_no_bar(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    pd.DataFrame({"Date": ["2020-01-01", "2020-01-02", "2020-01-03"], "AAA": [1.0, None, 3.0],
                  "BBB": [1.0, 2.0, 3.0]}).to_csv(path, index=False)  # fmt: skip
    panel = Panel.from_frames(read_panel(path))
    assert panel.tradable[:, 0].tolist() == [True, False, True]
    assert panel.close[1, 0] == 1.0  # carried for valuation, never from BBB


def _prices(seed: int, bars: int = 300, n: int = 5) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    stamps = pd.date_range("2010-01-01", periods=bars, freq="B", tz="UTC")
    return {f"S{j}": pd.DataFrame({"timestamp": stamps,
                                   "close": 20 * np.exp(np.cumsum(rng.normal(0, 0.02, bars)))})
            for j in range(n)}  # fmt: skip


@settings(max_examples=20, deadline=None)
@given(cut=st.integers(70, 298), seed=st.integers(0, 10_000))
def test_panel_features_at_t_never_use_a_later_bar(cut: int, seed: int) -> None:
    frames = _prices(0)
    rng = np.random.default_rng(seed)
    future = {}
    for symbol, f in frames.items():
        moved = f["close"] * np.exp(rng.normal(0, 0.5, len(f)))
        future[symbol] = f.assign(close=np.where(f.index > cut, moved, f["close"]))
    (a, names), (b, _) = panel_features(frames), panel_features(future)
    assert XS_RANK in names
    for s in frames:
        np.testing.assert_array_equal(a[s][names].iloc[: cut + 1], b[s][names].iloc[: cut + 1])
    assert any(not a[s][names].iloc[cut + 1 :].equals(b[s][names].iloc[cut + 1 :]) for s in a)


def test_text_in_a_price_and_a_symbol_twice_are_refused_naming_the_row(tmp_path: Path) -> None:
    days = pd.bdate_range("2020-01-01", periods=5).strftime("%Y-%m-%d")
    pd.DataFrame({"Date": days, "A": [1, 2, 3, 4, 5], "B": ["1", "2", "n/a?", "4", "5"]}).to_csv(
        tmp_path / "wide.csv", index=False
    )
    with pytest.raises(DataError, match=r"B: data row 3: close 'n/a\?' is not a number"):
        read_panel(tmp_path / "wide.csv")
    folder = tmp_path / "folder"
    folder.mkdir()
    bars = pd.DataFrame({"timestamp": days, "close": [1.0, 2, 3, 4, 5]})
    for name in ("BRK.A.csv", "BRK.B.csv"):
        bars.to_csv(folder / name, index=False)
    assert sorted(read_panel(folder)) == ["BRK.A", "BRK.B"]  # dots in a symbol are kept
    bars.to_parquet(folder / "BRK.B.parquet")
    with pytest.raises(DataError, match=r"are both symbol 'BRK\.B'"):
        read_panel(folder)
