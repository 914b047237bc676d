"""The data record (issue 15): a dataset says how it was made, a run what it was trained on,
and bars become the agent's observations with the run's frozen normalisation, equal to the
dataset's own values on the same bars."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_stages import data_stages

from qraptor.core import layout
from qraptor.core.errors import DataError
from qraptor.data.pipeline_config import load_pipeline_config
from qraptor.data.record import (
    features_config,
    load_run_record,
    observations_from_bars,
    read_pipeline_settings,
    run_record,
)

ROOT = Path(__file__).resolve().parents[2]


def _stages(root: Path, *overrides: str) -> Path:
    data_stages(load_pipeline_config(list(overrides), conf_dir=ROOT / "conf"), root)
    return root


@pytest.fixture(scope="module")
def expanding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _stages(tmp_path_factory.mktemp("eurusd"))


def _equal_rows(obs: pd.DataFrame, dataset: pd.DataFrame, columns: list[str]) -> int:
    """Rows of `dataset` found in `obs` by timestamp; asserts their values are the same bits."""
    merged = dataset[["timestamp", *columns]].merge(obs, on="timestamp", suffixes=("", "_obs"))
    for column in columns:
        np.testing.assert_array_equal(merged[column], merged[f"{column}_obs"], err_msg=column)
    return len(merged)


def test_the_split_stage_records_the_settings_that_made_the_dataset(expanding: Path) -> None:
    settings = read_pipeline_settings(expanding / "dataset")
    assert settings is not None
    assert settings["data"]["name"] == "sample_eurusd"
    assert settings["reduce"]["freq"] == "1h"
    assert settings["bars"] == {"kind": "time", "freq": "1h", "spacing_seconds": 3600.0}
    # durations resolved to bars: the same number of bars on any other series
    assert settings["features"]["volatility"]["windows"] == [24, 120]
    assert features_config({"pipeline": settings}).volatility.windows == [24, 120]


def test_bars_give_the_datasets_observations_on_val_and_test(expanding: Path) -> None:
    record = run_record(expanding / "dataset", None)
    bars = pd.read_parquet(expanding / "bars.parquet")
    obs = observations_from_bars(bars, record)
    dataset = pd.read_parquet(expanding / "dataset" / "dataset.parquet")
    columns = record["columns"]["observations"]
    for split in ("val", "test"):
        rows = dataset[dataset["split"] == split]
        assert _equal_rows(obs, rows, columns) == len(rows) > 800
    assert record["spans"]["test"]["rows"] == len(dataset[dataset["split"] == "test"])
    # the frozen statistics are the training span's last expanding values, not refitted
    train = dataset[dataset["split"].isin(["train", "warmup"])]
    raw = record["columns"]["features"][0]
    assert record["normalize"]["fitted"]["mean"][raw] == pytest.approx(train[raw].mean(), 1e-12)


def test_an_observation_never_depends_on_later_bars(expanding: Path) -> None:
    record = run_record(expanding / "dataset", None)
    bars = pd.read_parquet(expanding / "bars.parquet")
    full = observations_from_bars(bars, record)
    cut = bars["timestamp"].iloc[5000]
    later = bars["timestamp"] > cut
    changed = bars.copy()
    changed.loc[later, ["open", "high", "low", "close"]] *= 1.5
    prefix = observations_from_bars(changed, record)
    columns = record["columns"]["observations"]
    before = full[full["timestamp"] <= cut]
    assert _equal_rows(prefix, before, columns) == len(before)


def test_rolling_normalisation_follows_each_bars_own_past(tmp_path: Path) -> None:
    root = _stages(tmp_path, "split.normalize.method=rolling", "split.walk_forward.enabled=false")
    record = run_record(root / "dataset", None)
    assert record["normalize"]["method"] == "rolling"
    obs = observations_from_bars(pd.read_parquet(root / "bars.parquet"), record)
    dataset = pd.read_parquet(root / "dataset" / "dataset.parquet")
    test = dataset[dataset["split"] == "test"]
    assert _equal_rows(obs, test, record["columns"]["observations"]) == len(test)


def test_a_run_folder_without_a_record_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=layout.DATA_RECORD) as caught:
        load_run_record(tmp_path)
    assert "retrain" in str(caught.value)
    (tmp_path / layout.DATA_RECORD).write_text(json.dumps({"pipeline": None}))
    with pytest.raises(DataError, match="no pipeline settings"):
        observations_from_bars(pd.DataFrame(), load_run_record(tmp_path))


def test_other_features_than_the_runs_are_refused(expanding: Path) -> None:
    record = run_record(expanding / "dataset", None)
    record["columns"]["features"] = record["columns"]["features"][:-1]
    with pytest.raises(DataError, match="not the run's"):
        observations_from_bars(pd.read_parquet(expanding / "bars.parquet"), record)
