"""`qraptor backtest RUN --data ...`: bars rebuilt from a raw file through ingest, clean,
reduce and features with the run's settings and frozen z-scores. The sample's own bars cut
to the test span give eval/test again; a new file in the sample's format is backtested end
to end; a file without a mapped column, daily bars for an hourly model, features other than
the model's and too few bars are refused, naming the file and what differs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sample_files import SAMPLE_FORMAT, write_sample_csv

from qraptor.cli.main import main
from qraptor.core import layout


def _backtest(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main(["backtest", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_raw_file_cut_to_the_test_span_gives_the_test_evaluation(
    eurusd_run: Path, sample_frame: pd.DataFrame, tmp_path: Path, capsys
) -> None:
    raw = write_sample_csv(sample_frame, tmp_path / "eurusd.csv")  # written anew: a copy
    record = json.loads((eurusd_run / layout.DATA_RECORD).read_text())
    start = record["spans"]["test"]["first"]
    out = tmp_path / "out"
    code, printed, _ = _backtest(capsys, eurusd_run, "--data", raw, "--start", start, "--out", out)
    assert code == 0
    trained = layout.eval_dir(eurusd_run, "test")
    ours, theirs = (pd.read_csv(f / layout.EQUITY) for f in (out, trained))
    pd.testing.assert_frame_equal(ours, theirs, check_exact=True)  # every decision and fill
    pd.testing.assert_frame_equal(
        pd.read_csv(out / layout.BASELINES_EQUITY), pd.read_csv(trained / layout.BASELINES_EQUITY)
    )
    metrics = json.loads((out / layout.METRICS).read_text())
    expected = json.loads((trained / layout.METRICS).read_text())
    assert metrics["agent"] == expected["agent"]
    assert metrics["baselines"] == expected["baselines"]
    assert metrics["verdict"]["psr"] == expected["verdict"]["psr"]
    bars = metrics["backtest"]["bars"]
    assert bars["bars_in"] == len(sample_frame) and bars["bars"] == record["spans"]["test"]["rows"]
    assert bars["warmup_rows"] > 0 and metrics["backtest"]["annualised"] == "training split"
    assert f"data: {metrics['verdict']['text']}" in _flat(printed)  # the verdict line


def test_a_new_file_in_the_samples_format_is_backtested_end_to_end(
    eurusd_run: Path, sample_frame: pd.DataFrame, tmp_path: Path, capsys
) -> None:
    """A year later, another path: prices scaled by a random walk, the same columns and
    timestamp format; none of these bars was in the dataset."""
    rng = np.random.default_rng(7)
    new = sample_frame.iloc[:2000].copy()
    stamps = pd.to_datetime(new["Time"], format="%d.%m.%Y %H:%M:%S.%f") + pd.DateOffset(years=1)
    new["Time"] = stamps.dt.strftime(SAMPLE_FORMAT)
    walk = np.exp(np.cumsum(rng.normal(0, 5e-4, len(new))))
    for column in ("Open", "High", "Low", "Close"):
        new[column] = (new[column] * walk).round(6)
    new["High"] = new[["Open", "High", "Low", "Close"]].max(axis=1)
    new["Low"] = new[["Open", "High", "Low", "Close"]].min(axis=1)
    path = write_sample_csv(new, tmp_path / "eurusd_2018.csv")
    code, printed, _ = _backtest(capsys, eurusd_run, "--data", path, "--out", tmp_path / "out")
    assert code == 0
    metrics = json.loads((tmp_path / "out" / layout.METRICS).read_text())
    bars = metrics["backtest"]["bars"]
    assert bars["bars_in"] == 2000 and bars["bars"] == 2000 - bars["warmup_rows"]
    assert bars["first"].startswith("2018-")
    assert metrics["backtest"]["data"]["files"] == [str(path)]
    equity = pd.read_csv(tmp_path / "out" / layout.EQUITY)
    assert len(equity) == bars["bars"] - 8 + 1  # from the first full window (env.window 8)
    assert metrics["verdict"]["text"] in _flat(printed)
    assert (tmp_path / "out" / "equity.png").is_file()


def test_a_file_without_a_mapped_column_is_refused_naming_it(
    eurusd_run: Path, sample_frame: pd.DataFrame, tmp_path: Path, capsys
) -> None:
    path = write_sample_csv(sample_frame.drop(columns=["Volume"]), tmp_path / "no_volume.csv")
    code, _, err = _backtest(capsys, eurusd_run, "--data", path)
    assert code == 2
    assert str(path) in _flat(err) and "volume (mapped from 'Volume')" in _flat(err)


def test_daily_bars_for_an_hourly_model_are_refused(eurusd_run: Path, capsys) -> None:
    code, _, err = _backtest(capsys, eurusd_run, "--data", "sample_googl")
    assert code == 2
    assert "[bar_frequency] its bars are 1d apart (median), the model's are 1h" in _flat(err)
    assert "data config 'sample_googl'" in _flat(err)


def test_too_few_bars_are_refused_with_the_figures(
    eurusd_run: Path, sample_frame: pd.DataFrame, tmp_path: Path, capsys
) -> None:
    path = write_sample_csv(sample_frame.iloc[:125], tmp_path / "short.csv")
    code, _, err = _backtest(capsys, eurusd_run, "--data", path)
    assert code == 2
    assert "[too_few_bars] too few bars: 125 bars in, 120 taken by the features' warm-up" in (
        _flat(err)
    )
    assert "env.window + 1 = 9" in _flat(err)


def test_features_other_than_the_models_are_refused(
    eurusd_run: Path, sample_frame: pd.DataFrame, tmp_path: Path, capsys
) -> None:
    """A run whose record lists a feature its settings do not make (a record edited, or
    written by other code): the bars' features are named next to the model's."""
    run = tmp_path / "run"
    shutil.copytree(eurusd_run, run)
    record = json.loads((run / layout.DATA_RECORD).read_text())
    record["columns"]["features"].append("rsi_99")
    (run / layout.DATA_RECORD).write_text(json.dumps(record))
    path = write_sample_csv(sample_frame, tmp_path / "eurusd.csv")
    code, _, err = _backtest(capsys, run, "--data", path)
    assert code == 2
    assert "[features_mismatch]" in _flat(err) and "rsi_99" in _flat(err)
