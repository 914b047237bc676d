"""A tiny run on real bars for the backtest tests: the demo's sample (hourly EUR/USD) through
the pipeline's own stages into a dataset, and a 256-timestep session (experiment=tiny)
trained on it, so that a raw file can be rebuilt with the settings the run recorded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from pipeline_stages import data_stages

from qraptor.data.pipeline_config import load_pipeline_config
from qraptor.train import load_train_config, train_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def eurusd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """raw/, bars.parquet, features.parquet, dataset/ of conf/data/sample_eurusd.yaml."""
    root = tmp_path_factory.mktemp("eurusd")
    data_stages(load_pipeline_config([], conf_dir=ROOT / "conf"), root)
    return root


@pytest.fixture(scope="session")
def eurusd_run(eurusd: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder of a tiny PPO session on the EUR/USD dataset (val and test evaluated)."""
    out = tmp_path_factory.mktemp("run") / "eurusd-tiny"
    cfg = load_train_config(
        ["experiment=tiny", f"session.dataset={eurusd / 'dataset'}", "session.eval.random_runs=3"]
    )
    train_session(cfg, out)
    return out


@pytest.fixture(scope="session")
def sample_frame(eurusd: Path) -> pd.DataFrame:
    """The raw sample file, as the file's own columns (Time, Open, ..., Volume)."""
    (raw,) = sorted((eurusd / "raw").glob("*.csv"))
    return pd.read_csv(raw)
