"""Worker processes for the reliability tests: tiny sessions, `qraptor worker` as a child
process with its own log, and polling for a stored state."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from qraptor.store import SessionStore

# The smallest session that still trains, evaluates and stores a model (~0.3 s of work).
TINY = (
    "session.total_timesteps=64",
    "session.n_envs=4",
    "session.checkpoint_every=1000000",
    "session.eval.splits=[test]",
    "session.objective=test.sharpe",
    "session.eval.random_runs=1",
    "env.window=8",
    "env.episode.length=32",
    "algo.n_steps=16",
    "algo.batch_size=32",
    "algo.n_epochs=1",
)
# Long enough (a few seconds) to be interrupted after its first checkpoint; validated twice
# a checkpoint (a resumed session must keep the rows before it and redo none).
INTERRUPTIBLE = (
    *TINY,
    "session.total_timesteps=16384",
    "session.checkpoint_every=1024",
    "session.validation.every_timesteps=512",
)


def spawn_worker(env, tmp_path: Path, uri: str, database: str, name: str, *args: str):
    """`qraptor worker` as a process; its log goes to <tmp>/<name>.log."""
    log_path = tmp_path / f"{name}.log"
    if log_path.exists():  # a second process of the same id: its own log
        log_path = tmp_path / f"{name}-{time.monotonic_ns()}.log"
    log = log_path.open("w")
    cmd = [
        sys.executable, "-m", "qraptor.cli.main", "worker", "--worker-id", name, *args,
        f"uri={uri}", f"database={database}",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env={**env, "COLUMNS": "200"}, stdout=log, stderr=log)
    proc.log_path = log_path  # type: ignore[attr-defined]
    return proc


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def in_process_config(make_config, uri: str, store: SessionStore):
    """The store config of `store`'s database, for a worker in this process."""
    overrides = [f"lease_seconds={store.cfg.lease_seconds}"]
    overrides.append(f"heartbeat_seconds={store.cfg.heartbeat_seconds}")
    return make_config(f"uri={uri}", f"database={store.database}", *overrides)


def model_files(store: SessionStore) -> int:
    return store._conn.files_collection.count_documents({"metadata.kind": "model"})
