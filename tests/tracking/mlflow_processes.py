"""Starting and stopping MLflow's command-line servers for the tracking tests.

Imported by conftest.py and the tests (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from qraptor.core.ids import SWEEP_ENV
from qraptor.tracking.config import MLFLOW_URI_ENV, URI_ENV

BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_ready(url: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    """Poll `url` until it answers 200; fail with the process's log if it dies or hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args[:3]} exited ({process.returncode}):\n{log.read_text()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    pytest.fail(f"{url} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group we started (the server and its uvicorn child)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for MLflow's command-line tools: this venv's bin first on PATH
    (`mlflow models serve` starts `uvicorn` by name), no tracking variables inherited."""
    # every MLFLOW_* variable: mlflow.set_registry_uri() in this process exports
    # MLFLOW_REGISTRY_URI, which would point a child's registry at another store
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (URI_ENV, MLFLOW_URI_ENV, SWEEP_ENV) and not k.startswith("MLFLOW_")
    }
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}
