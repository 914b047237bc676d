"""Defaults that follow the bar frequency, and one message for a too-short series (issue 13,
problems 7 and 8), through the stages `dvc repro` runs, on real files.

Before: on weekly bars the 121-bar warm-up and two 48-bar embargoes took 44% of the GOOGL
sample, the MA baseline (24/96 bars) never traded on a 67-bar validation span, monthly input
bars were all flagged as gaps (4 days absolute), and a short series failed one limit per run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_stages import data_stages

from qraptor.core.errors import DataError
from qraptor.data.pipeline_config import PipelineConfig, load_pipeline_config
from qraptor.env.config import load_env_config
from qraptor.env.fits import check_dataset_fits
from qraptor.env.market import load_market
from qraptor.evaluation.baselines import ma_bars, run_baselines

ROOT = Path(__file__).resolve().parents[2]


def googl(freq: str) -> PipelineConfig:
    return load_pipeline_config(
        ["data=sample_googl", f"reduce.freq={freq}"], conf_dir=ROOT / "conf"
    )


@pytest.fixture(scope="module")
def weekly(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    root = tmp_path_factory.mktemp("googl_weekly")
    return root, data_stages(googl("1w"), root)


def test_weekly_bars_keep_most_of_their_data(weekly: tuple[Path, dict[str, dict]]) -> None:
    _, metrics = weekly
    assert metrics["reduce"]["bars"] == 485  # 2009-05 to 2018-08, weekly
    budget = metrics["split"]["budget"]
    assert budget["warmup_rows"] == 33  # MACD 12/26/9 (was 120: volatility over 120 bars)
    assert budget["embargo_rows"] == 2  # min(48, 2d) = 1 weekly bar each (was 2 x 48)
    assert budget["lost_share"] < 0.08 and "warning" not in budget  # was 44%
    assert metrics["features"]["windows"]["volatility"] == [24, 5]  # min(120, 1mo): 5 weeks
    assert metrics["clean"]["rules"]["gap"] == 1  # the daily input: only Hurricane Sandy's


def test_the_ma_baseline_trades_on_weekly_validation_bars(
    weekly: tuple[Path, dict[str, dict]],
) -> None:
    root, _ = weekly
    market = load_market(root / "dataset", "val")
    assert len(market) == 67
    assert ma_bars(market, ["min(24, 1mo)", "min(96, 4mo)"]) == (5, 18)
    cfg = load_env_config()
    result = run_baselines(market, cfg, ["ma_crossover"], 1, 0, ["min(24, 1mo)", "min(96, 4mo)"])
    assert result["ma_crossover"][0].trades.shape[0] > 0
    never = run_baselines(market, cfg, ["ma_crossover"], 1, 0, [24, 96])  # the old windows
    assert never["ma_crossover"][0].trades.shape[0] == 0


def monthly_csv(path: Path, months: int, skip: tuple[int, ...] = ()) -> Path:
    """`months` monthly bars from 1985-01 (a seeded random walk), minus the `skip` rows."""
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0.005, 0.04, months)))
    frame = pd.DataFrame({
        "Date": pd.date_range("1985-01-01", periods=months, freq="MS").strftime("%Y-%m-%d"),
        "Open": close * 0.99, "High": close * 1.03, "Low": close * 0.97, "Close": close,
        "Volume": rng.integers(1_000_000, 5_000_000, months),
    }).drop(index=list(skip))  # fmt: skip
    frame.to_csv(path, index=False)
    return path


def files_config(glob: Path, freq: str, *overrides: str) -> PipelineConfig:
    return load_pipeline_config(
        [
            # the GOOGL sample's column names and date format, read from `glob` instead
            "data=sample_googl", "data.name=monthly", "data.source=files", "data.sample=null",
            f"data.files={{glob: '{glob}', format: csv}}", f"reduce.freq={freq}", *overrides,
        ],
        conf_dir=ROOT / "conf",
    )  # fmt: skip


def test_monthly_input_bars_are_judged_by_their_own_spacing(tmp_path: Path) -> None:
    csv = monthly_csv(tmp_path / "monthly.csv", 480, skip=(200,))  # 40 years, one month lost
    metrics = data_stages(files_config(csv, "1mo"), tmp_path / "run")
    clean = metrics["clean"]
    assert clean["rules"]["gap"] == 1  # the missing month only (was 478 of 479: > 4 days)
    assert clean["gap_threshold_seconds"] == 1.5 * 31 * 86_400  # 1.5 x the median spacing
    budget = metrics["split"]["budget"]
    assert budget["bars_in"] == 479 and budget["lost_share"] < 0.10
    assert metrics["features"]["windows"]["volatility"] == [24, 2]  # a month: the std minimum


def test_a_too_short_series_reports_every_broken_limit_in_one_error(tmp_path: Path) -> None:
    """The GOOGL sample as monthly bars: 112 bars. Before, split failed first (negative spans,
    nothing about the warm-up), then normalisation, then each fold, one rerun each."""
    cfg = googl("1mo")
    root = tmp_path / "run"
    with pytest.raises(DataError) as info:
        data_stages(cfg, root)
    text = str(info.value)
    assert info.value.rule == "series_too_short"
    assert "bars in: 112" in text
    assert "features warm-up: 33 (29%, features.macd.slow), leaves 79" in text
    assert "2 x split.embargo min(48, 2d) = 1 bar (2)" in text
    assert "split.chrono: 54 training bars, fewer than split.normalize.min_periods = 100" in text
    for k in range(4):
        assert f"split.walk_forward fold {k}: " in text.split("broken:")[1]
    assert "5 limit(s) broken" in text
    assert not (root / "features.parquet").exists()  # raised before anything was written


def test_a_warm_up_that_takes_every_bar_is_named_with_its_share(tmp_path: Path) -> None:
    csv = monthly_csv(tmp_path / "short.csv", 100)
    cfg = files_config(csv, "1mo", "features.volatility.windows=[120]")
    with pytest.raises(DataError) as info:
        data_stages(cfg, tmp_path / "run")
    text = str(info.value)
    assert "features warm-up: features.volatility.windows needs about 121 bars, the series has " \
        "100: the warm-up takes all of them (100%)" in text  # fmt: skip
    assert "split.chrono: the train span is empty" in text
    assert "split.walk_forward folds 0, 1, 2, 3: the train span is empty" in text


def test_too_much_lost_to_warm_up_and_embargo_is_a_warning_in_the_metrics(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    csv = monthly_csv(tmp_path / "monthly.csv", 480)
    cfg = files_config(csv, "1mo", "split.embargo=24")
    metrics = data_stages(cfg, tmp_path / "run")
    warning = metrics["split"]["budget"]["warning"]
    assert metrics["features"]["budget"]["warning"] == warning
    assert "take 81 of 480 bars (17%, above split.lost_share_warning = 10%)" in warning
    assert warning in caplog.text


def test_training_start_checks_the_env_window_against_every_split_at_once(
    weekly: tuple[Path, dict[str, dict]],
) -> None:
    """conf/env's window and episode length are training's: checked where training starts,
    with the data budget from splits.json, every short split in one error."""
    root, _ = weekly
    env = load_env_config(["episode.length=512", "window=32"])
    with pytest.raises(DataError) as info:
        check_dataset_fits(root / "dataset", env, "train", ["val", "test"])
    text = str(info.value)
    assert "bars in: 485; features warm-up 33, embargoes 2 (split.embargo min(48, 2d))" in text
    assert "the train split has 216 bars; training needs 544 " \
        "(env.episode.length 512 + env.window 32)" in text  # fmt: skip
    assert "1 limit(s) broken" in text  # val (67) and test (68) hold a 33-bar backtest
    wide = load_env_config(["episode.length=100", "window=70"])
    with pytest.raises(DataError) as info:
        check_dataset_fits(root / "dataset", wide, "train", ["val", "test"])
    text = str(info.value)
    assert "2 limit(s) broken" in text  # train (216) holds 170; val and test do not hold 71
    assert "the val split has 67 bars; a backtest needs 71" in text
    assert "the test split has 68 bars; a backtest needs 71" in text
    check_dataset_fits(root / "dataset", load_env_config(["episode.length=128"]), "train", ["val"])
