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
