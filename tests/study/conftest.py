"""The study tests' data: the shipped EUR/USD sample through the data pipeline's commands.

`sample_dataset`: `qraptor data raw | ingest | clean | reduce | features | split` on the
default pipeline config (hourly EUR/USD, 4 walk-forward folds that stop before the test
span's embargo), in a temporary folder, once per test run. `study`: runs `qraptor study`
on it at tiny sizes (experiment=tiny, no MLflow unless asked) and returns the summary.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from study_helpers import TINY, pipeline


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pipeline(tmp_path_factory.mktemp("sample"))


@pytest.fixture
def study(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """study(dataset, *overrides, out=None) -> the summary of `qraptor study` at tiny sizes."""
    from qraptor.cli.study import run

    def go(dataset: Path, *overrides: str, out: Path | None = None) -> dict[str, Any]:
        folder = out or tmp_path / "study"
        return run(
            [*TINY, f"session.dataset={dataset}", f"out_dir={folder}", *overrides],
            progress=False,
        )

    return go
