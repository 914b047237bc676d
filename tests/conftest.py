"""Shared fixtures: paths to the shipped sample data and to the project's conf/."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def sample_eurusd_csv() -> Path:
    """The hourly EUR/USD bars that gym-anytrading ships (the demo's sample data)."""
    path = resources.files("gym_anytrading").joinpath("datasets/data/FOREX_EURUSD_1H_ASK.csv")
    return Path(str(path))


@pytest.fixture(scope="session", autouse=True)
def mlflow_store_outside_the_project(tmp_path_factory: pytest.TempPathFactory):
    """Sessions track to MLflow by default (sqlite in the project): tests, and the processes
    they start, write to a throwaway store instead. Tests of the default store override it."""
    import os

    if "QRAPTOR_MLFLOW_URI" in os.environ:
        yield
        return
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    os.environ["QRAPTOR_MLFLOW_URI"] = f"sqlite:///{store}"
    try:
        yield
    finally:
        os.environ.pop("QRAPTOR_MLFLOW_URI", None)
