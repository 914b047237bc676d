"""The panel pipeline (issue 16): a user's files of instruments that start late, stop early
(a delisting) or miss a bar become one split dataset on the union calendar; a missing bar
is "not tradable" with the last price carried for valuation only, never back-filled and
never taken from another instrument; the spans are the single instrument's (train, embargo,
val, embargo, test, walk-forward folds); the features at bar t do not change when the
raw prices after t do; bad settings are refused naming the key."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qraptor.core.errors import ConfigError, DataError
from qraptor.data.clean.config import CleanConfig
from qraptor.data.panel_dataset import (
    PanelConfig,
    PanelFeaturesConfig,
    dataset_timestamps,
    make_panel_dataset,
    materialise_panel_raw,
    read_panel_metadata,
)
from qraptor.data.pipeline_config import load_pipeline_section
from qraptor.data.split import SplitConfig
from qraptor.env.portfolio.load import load_full_panel, load_index_panel, load_panel
from qraptor.env.portfolio.panel import NO_EXIT

DAYS = 700
LATE, GONE, GAPPY, GAP_DAY = 150, 520, "GAPPY", 400


def _prices(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2005-01-03", periods=DAYS)
    walk = 50 * np.exp(np.cumsum(rng.normal(3e-4, 0.015, (DAYS, 4)), axis=0))
    wide = pd.DataFrame(walk, columns=["AAA", "LATE", "GONE", GAPPY])
    wide.insert(0, "Date", days.strftime("%Y-%m-%d"))
    wide.loc[: LATE - 1, "LATE"] = np.nan  # listed on day LATE
    wide.loc[GONE:, "GONE"] = np.nan  # its last bar is day GONE - 1
    wide.loc[GAP_DAY, GAPPY] = np.nan  # one missing bar
    return wide


def _cfg(prices: Path, index: Path | None = None, **features: object) -> PanelConfig:
    settings = {"momentum": [5, 21], "volatility": 21, "min_periods": 30, "clip": 5.0}
    return PanelConfig(
        name="test", source="files", prices=str(prices), index=str(index) if index else None,
        index_symbol="IDX" if index else None, fill="close",
        features=PanelFeaturesConfig(**{**settings, **features}),  # type: ignore[arg-type]
    )  # fmt: skip


def _split() -> SplitConfig:
    return load_pipeline_section("split", SplitConfig, ["embargo=3"])


def _clean(*overrides: str) -> CleanConfig:
    return load_pipeline_section("clean", CleanConfig, list(overrides))


def _dataset(tmp: Path, wide: pd.DataFrame, name: str = "ds") -> Path:
    (tmp / "in").mkdir(exist_ok=True)
    prices, index = tmp / "in" / f"{name}.csv", tmp / "in" / f"{name}_index.csv"
    wide.to_csv(prices, index=False)
    pd.DataFrame({"Date": wide["Date"], "IDX": wide["AAA"] * 2}).to_csv(index, index=False)
    raw = tmp / f"{name}_raw"
    materialise_panel_raw(_cfg(prices, index), raw, tmp)
    make_panel_dataset(raw, _cfg(prices, index), _split(), tmp / name, clean=_clean())
    return tmp / name


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _dataset(tmp_path_factory.mktemp("panel"), _prices())


def test_instruments_that_start_late_stop_or_miss_a_bar_are_reported(dataset: Path) -> None:
    meta = read_panel_metadata(dataset)
    instruments = meta["instruments"]
    assert meta["symbols"] == ["AAA", "LATE", "GONE", GAPPY]
    assert instruments["LATE"]["starts_late"] and not instruments["AAA"]["starts_late"]
    assert instruments["GONE"]["delisted"] and not instruments["AAA"]["delisted"]
    assert instruments[GAPPY]["missing_bars"] == 1
    assert instruments["AAA"]["missing_bars"] == 0


def test_the_spans_tile_the_calendar_in_time_order_with_embargoes(dataset: Path) -> None:
    meta = read_panel_metadata(dataset)
    spans = list(meta["chrono"]["spans"].values())
    assert [s["label"] for s in spans] == ["train", "embargo", "val", "embargo", "test"]
    assert spans[0]["start_row"] == 0 and spans[-1]["stop_row"] == meta["rows"]
    assert all(a["stop_row"] == b["start_row"] for a, b in itertools.pairwise(spans))
    assert spans[1]["rows"] == spans[3]["rows"] == 3
    # the warm-up (no instrument has every feature yet) is dropped: 21 + 30 - 1 bars
    assert meta["budget"]["warmup_rows"] == DAYS - meta["rows"] == 50
    assert len(dataset_timestamps(dataset)) == meta["rows"]
    for fold in meta["walk_forward"]["folds"]:
        train, embargo, test = fold["spans"].values()
        assert train["stop_row"] == embargo["start_row"] and embargo["rows"] == 3
        assert test["stop_row"] <= spans[3]["start_row"]  # folds end before the test embargo


def test_a_missing_bar_is_not_tradable_and_valued_at_its_own_last_price(dataset: Path) -> None:
    panel = load_full_panel(dataset)
    stamps = pd.to_datetime(panel.timestamps, utc=True)
    j = panel.symbols.index(GAPPY)
    gap = int(np.flatnonzero(stamps == pd.Timestamp(_prices()["Date"][GAP_DAY], tz="UTC"))[0])
    assert not panel.tradable[gap, j] and panel.tradable[gap - 1, j]
    assert panel.close[gap, j] == panel.close[gap - 1, j]  # carried, not another's price
    late = panel.symbols.index("LATE")
    first = int(np.flatnonzero(panel.tradable[:, late])[0])
    assert first > 0 and np.isnan(panel.close[:first, late]).all()  # never back-filled
    assert not panel.tradable[:first, late].any()
    gone = panel.symbols.index("GONE")
    last = int(np.flatnonzero(panel.tradable[:, gone])[-1])
    assert panel.exit_bar[gone] == last + 1  # sold at the step after its last bar
    assert panel.exit_bar[panel.symbols.index("AAA")] == NO_EXIT


def test_each_split_is_its_span_of_the_calendar_and_the_index_is_aligned(dataset: Path) -> None:
    meta = read_panel_metadata(dataset)
    full = load_full_panel(dataset)
    for split in ("train", "val", "test"):
        span = meta["chrono"]["spans"][split]
        panel = load_panel(dataset, split)
        assert len(panel) == span["rows"]
        np.testing.assert_array_equal(
            panel.timestamps, full.timestamps[span["start_row"] : span["stop_row"]]
        )
        index = load_index_panel(dataset, split)
        assert index is not None and index.symbols == ("IDX",)
        np.testing.assert_array_equal(index.timestamps, panel.timestamps)
        j = panel.symbols.index("AAA")
        np.testing.assert_allclose(index.close[:, 0], 2 * panel.close[:, j])
    fold = load_panel(dataset, "test", fold=1)
    test = meta["walk_forward"]["folds"][1]["spans"]["test"]
    assert len(fold) == test["rows"]


@pytest.mark.parametrize("cut", [120, 300, 455])
def test_features_at_t_do_not_change_when_later_prices_do(tmp_path: Path, cut: int) -> None:
    wide = _prices()
    changed = wide.copy()
    rng = np.random.default_rng(cut)
    future = changed.index > cut
    for column in ("AAA", "LATE", "GONE", GAPPY):
        changed.loc[future, column] = changed.loc[future, column] * rng.uniform(
            0.5, 2.0, future.sum()
        )
    before = pd.read_parquet(_dataset(tmp_path, wide, "a") / "panel.parquet")
    after = pd.read_parquet(_dataset(tmp_path, changed, "b") / "panel.parquet")
    until = pd.Timestamp(wide["Date"][cut], tz="UTC")
    old = before[before["timestamp"] <= until].reset_index(drop=True)
    new = after[after["timestamp"] <= until].reset_index(drop=True)
    assert len(old) > 0
    pd.testing.assert_frame_equal(old, new)
    later = before[before["timestamp"] > until].reset_index(drop=True)
    assert not later.equals(after[after["timestamp"] > until].reset_index(drop=True))


def test_bad_settings_and_inputs_are_refused_naming_the_key_or_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"panel\.prices"):
        PanelConfig("x", "files", None, None, None, "close")
    with pytest.raises(ConfigError, match=r"panel\.fill"):
        PanelConfig("x", "sample", None, None, None, "vwap")
    with pytest.raises(DataError, match="no such file"):
        materialise_panel_raw(_cfg(tmp_path / "absent.csv"), tmp_path / "raw", tmp_path)
    wide = _prices()
    (tmp_path / "in").mkdir()
    wide.to_csv(tmp_path / "in" / "p.csv", index=False)
    cfg = _cfg(tmp_path / "in" / "p.csv")
    materialise_panel_raw(cfg, tmp_path / "raw", tmp_path)
    open_fill = PanelConfig("x", "files", cfg.prices, None, None, "open", cfg.features)
    with pytest.raises(DataError, match="no open column"):
        make_panel_dataset(tmp_path / "raw", open_fill, _split(), tmp_path / "out", clean=_clean())
    assert not (tmp_path / "out").exists()  # nothing half-written
    with pytest.raises(DataError, match="single-instrument dataset"):
        (tmp_path / "single").mkdir()
        (tmp_path / "single" / "splits.json").write_text('{"format_version": 1}')
        read_panel_metadata(tmp_path / "single")


def test_an_index_on_another_clock_is_refused(tmp_path: Path) -> None:
    wide = _prices()
    (tmp_path / "in").mkdir()
    wide.to_csv(tmp_path / "in" / "p.csv", index=False)
    shifted = pd.to_datetime(wide["Date"]) + pd.Timedelta(hours=16)  # closes at 16:00
    pd.DataFrame({"Date": shifted, "IDX": wide["AAA"]}).to_csv(
        tmp_path / "in" / "i.csv", index=False
    )
    cfg = _cfg(tmp_path / "in" / "p.csv", tmp_path / "in" / "i.csv")
    materialise_panel_raw(cfg, tmp_path / "raw", tmp_path)
    with pytest.raises(DataError, match="another time of day"):
        make_panel_dataset(tmp_path / "raw", cfg, _split(), tmp_path / "out", clean=_clean())


def _long_file(tmp: Path, rows: list[tuple[str, str, float]]) -> Path:
    days = pd.bdate_range("2010-01-04", periods=300)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        [(d.strftime("%Y-%m-%d"), s, float(p))
         for s in ("AAA", "BBB")
         for d, p in zip(days, 40 * np.exp(np.cumsum(rng.normal(0, 0.01, 300))), strict=True)]
        + rows,
        columns=["date", "symbol", "close"],
    )  # fmt: skip
    (tmp / "in").mkdir(exist_ok=True)
    frame.to_csv(tmp / "in" / "long.csv", index=False)
    return tmp / "in" / "long.csv"


def test_every_symbol_is_cleaned_by_the_clean_stage_rules_and_reported(tmp_path: Path) -> None:
    path = _long_file(tmp_path, [])
    frame = pd.read_csv(path)
    dup = frame.iloc[[10]]  # an exact copy of AAA's 11th bar
    bad = pd.DataFrame([("2011-06-01", "BBB", -1.0), ("2011-06-02", "BBB", np.nan)],
                       columns=frame.columns)  # fmt: skip
    pd.concat([frame, dup, bad]).to_csv(path, index=False)
    cfg = _cfg(path)
    materialise_panel_raw(cfg, tmp_path / "raw", tmp_path)
    make_panel_dataset(tmp_path / "raw", cfg, _split(), tmp_path / "ds", clean=_clean())
    cleaning = read_panel_metadata(tmp_path / "ds")["cleaning"]
    assert cleaning["AAA"]["rules"]["duplicate"] == 1 and cleaning["AAA"]["rows_dropped"] == 1
    assert cleaning["BBB"]["rules"]["nonpositive_price"] == 1
    assert cleaning["BBB"]["rules"]["missing_value"] == 1
    assert cleaning["BBB"]["rows_out"] == 300
    long = pd.read_parquet(tmp_path / "ds" / "panel.parquet")
    assert not (long["close"] <= 0).any() and not long.duplicated(["timestamp", "symbol"]).any()
    assert pd.Timestamp("2011-06-01", tz="UTC") not in set(
        long.loc[long.symbol == "BBB", "timestamp"]
    )


def test_two_different_bars_at_one_time_are_refused_naming_the_symbol(tmp_path: Path) -> None:
    path = _long_file(tmp_path, [("2010-01-05", "BBB", 12345.0)])
    cfg = _cfg(path)
    materialise_panel_raw(cfg, tmp_path / "raw", tmp_path)
    with pytest.raises(DataError, match=r"BBB: .*") as caught:
        make_panel_dataset(tmp_path / "raw", cfg, _split(), tmp_path / "ds", clean=_clean())
    assert caught.value.rule == "timestamp_conflict" and "long.csv" in str(caught.value)
    strict = _clean("strict=true")
    pd.concat([pd.read_csv(path).iloc[:-1], pd.read_csv(path).iloc[[3]]]).to_csv(path, index=False)
    materialise_panel_raw(cfg, tmp_path / "raw2", tmp_path)
    with pytest.raises(DataError, match="AAA"):
        make_panel_dataset(tmp_path / "raw2", cfg, _split(), tmp_path / "ds", clean=strict)
    assert not (tmp_path / "ds").exists()
