"""`python -m qraptor.train -m hydra/launcher=mongo ...` queues the sweep, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher

from qraptor.cli.main import main
from qraptor.store import SessionStore, Status
from qraptor.store.uri import URI_ENV

SESSION_ID = r"\d{8}-\d{6}-[0-9a-f]{8}"


def run_train(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "qraptor.train", *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_hydra_discovers_the_launcher_plugin():
    # Hydra imports every hydra_plugins module at start-up: one that fails to import
    # breaks every Hydra command, this one included.
    names = {cls.__name__ for cls in Plugins.instance().discover(Launcher)}
    assert "MongoLauncher" in names


def test_sweep_is_queued_under_one_sweep_id_and_listed(
    store: SessionStore, mongo_server, subprocess_env, tmp_path, monkeypatch, capsys
):
    env = {**subprocess_env, URI_ENV: mongo_server.uri}
    done = run_train(
        env, tmp_path, "-m", "hydra/launcher=mongo", "experiment=quick", "session.seed=0,1,2",
        f"store.database={store.database}", "hydra.launcher.tags=[grid]",
        "hydra.launcher.priority=4",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sweep_id = re.search(r"queued sweep (\S+): 3 sessions", done.stdout).group(1)
    printed = re.findall(rf"^  ({SESSION_ID})  ", done.stdout, re.MULTILINE)
    assert len(printed) == 3

    docs = sorted(store.list(sweep_id=sweep_id, with_config=True), key=lambda d: d["_id"])
    assert sorted(d["_id"] for d in docs) == sorted(printed)
    assert sorted(d["config"]["session"]["seed"] for d in docs) == [0, 1, 2]
    for doc in docs:
        seed = doc["config"]["session"]["seed"]
        assert doc["status"] == Status.QUEUED and doc["priority"] == 4
        assert doc["experiment"] == "quick" and doc["tags"] == ["grid"]
        assert sorted(doc["overrides"]) == ["experiment=quick", f"session.seed={seed}"]
        assert {"session", "algo", "env"} <= set(doc["config"])
        assert not {"hydra", "store"} & set(doc["config"])  # resolved, where-not-what left out
        assert doc["config"]["session"]["name"] == "quick"
    assert not list(tmp_path.glob("multirun/**/.hydra"))  # nothing was run here

    monkeypatch.setenv(URI_ENV, mongo_server.uri)
    capsys.readouterr()
    assert main(["sessions", "list", "--sweep", sweep_id, f"store.database={store.database}"]) == 0
    out = capsys.readouterr().out
    assert "3 sessions" in out and all(sid in out for sid in printed)
    assert out.count("quick") >= 3


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("hparams_search=ppo_optuna",), "needs each job's result"),  # Optuna: refused
        (("-m", "session.n_envs=0,2"), "config key 'session.n_envs': must be >= 1"),
    ],
    ids=["optuna", "invalid-job"],
)
def test_nothing_is_queued_when_the_sweep_cannot_be(
    store: SessionStore, mongo_server, subprocess_env, tmp_path, args, expected
):
    env = {**subprocess_env, URI_ENV: mongo_server.uri}
    done = run_train(
        env, tmp_path, *args, "hydra/launcher=mongo", f"store.database={store.database}"
    )
    assert done.returncode != 0
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert sum(store.counts().values()) == 0
