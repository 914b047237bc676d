"""A real `mlflow server` over HTTP for the tracking tests, and a tiny dataset to train on.

One server for the whole test session (sqlite backend and artifacts in a temporary folder,
a free port, one worker, no job runner: ready in ~13 s instead of ~40), stopped at the end.
Each test works in its own experiment, so tests do not see each other's runs.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from mlflow_processes import (
    BIN,
    START_TIMEOUT_SECONDS,
    free_port,
    stop,
    tool_env,
    wait_until_ready,
)

from qraptor.core.ids import SWEEP_ENV
from qraptor.tracking.config import MLFLOW_URI_ENV, URI_ENV


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a running `mlflow server` (sqlite backend, proxied artifacts)."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    log = folder / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                str(BIN / "mlflow"), "server",
                "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                "--artifacts-destination", str(folder / "artifacts"),
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ],
            env=tool_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{uri}/health", process, log, START_TIMEOUT_SECONDS)
        yield uri
    finally:
        stop(process)


@pytest.fixture(autouse=True)
def _no_tracking_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests say where runs go; a developer's MLFLOW_TRACKING_URI must not leak in."""
    for name in (URI_ENV, MLFLOW_URI_ENV, SWEEP_ENV):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture
def experiment() -> str:
    """A fresh experiment name per test."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def tiny_overrides(tiny_dataset: Path) -> list[str]:
    """Hydra overrides of a session that proves the path in seconds, not skill."""
    return [*TINY, f"session.dataset={tiny_dataset}"]


TINY = ("experiment=tiny",)
