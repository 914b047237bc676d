"""MODEL as a session id (a real SecantusDB store, files from GridFS) or an MLflow URI (a
real sqlite store: runs:/ and models:/): the worker trains one session, which lands in both;
each resolves to the same folder contents, and backtests to the session's own evaluation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from qraptor.agent.resolve import AgentNotFound, resolve_agent
from qraptor.cli.main import main
from qraptor.core import layout
from qraptor.store import SessionStore, Status
from qraptor.tracking.config import URI_ENV
from qraptor.worker.config import load_worker_config
from qraptor.worker.loop import run_worker
from qraptor.worker.submit import enqueue, request_from_overrides

TINY = (
    "experiment=tiny",
    "session.eval.random_runs=2",
    "tracking.artifacts.keras_h5=false",
    "tracking.model.register=true",  # models:/ below needs a version (tiny registers none)
)


@pytest.fixture
def reopen(mongo_server, store: SessionStore, make_config):
    """Another handle on the test's database (resolve_agent closes the one it opens)."""
    return lambda: SessionStore(mongo_server.uri, store.database, make_config())


@pytest.fixture
def trained(store: SessionStore, make_config, mongo_server, eurusd: Path, tmp_path: Path):
    """(session id, MLflow run id, tracking URI) of one session the worker trained."""
    overrides = [*TINY, f"session.dataset={eurusd / 'dataset'}", "session.name=remote"]
    (session_id,) = enqueue(store, [request_from_overrides(overrides)])
    cfg = make_config(f"uri={mongo_server.uri}", f"database={store.database}")
    (tmp_path / "work").mkdir()
    worker_cfg = load_worker_config([f"work_dir={tmp_path / 'work'}"])
    assert run_worker(cfg, once=True, worker_id="w-backtest", worker_cfg=worker_cfg) == 1
    doc = store.get(session_id)
    assert doc["status"] == Status.SUCCEEDED, doc.get("error")
    return session_id, doc["mlflow_run_id"], os.environ[URI_ENV]


def _contents(folder: Path) -> dict[str, object]:
    return {
        "config": OmegaConf.to_container(OmegaConf.load(folder / layout.CONFIG)),
        "model": (folder / layout.MODEL).read_bytes(),
        "record": json.loads((folder / layout.DATA_RECORD).read_text()),
        "metrics": json.loads((folder / layout.METRICS).read_text()),
    }


def test_a_session_and_its_mlflow_run_resolve_to_the_same_agent(
    trained, reopen, mongo_server, store: SessionStore, tmp_path: Path, capsys, monkeypatch
) -> None:
    session_id, run_id, tracking_uri = trained
    from_store = resolve_agent(session_id[:15], tmp_path / "s", open_store=reopen)
    from_run = resolve_agent(
        f"runs:/{run_id}/policy", tmp_path / "r", tracking_uri=lambda: tracking_uri
    )
    assert from_store.name == session_id and from_run.name == run_id
    assert _contents(from_store.folder) == _contents(from_run.folder)
    (version,) = MlflowClient(tracking_uri, tracking_uri).search_model_versions(
        f"run_id = '{run_id}'"
    )
    # a registry set for the process (MLflow prefers it to the tracking URI's) is not asked
    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"  # as mlflow.set_registry_uri leaves it
    monkeypatch.setattr("mlflow.tracking._model_registry.utils._registry_uri", elsewhere)
    from_version = resolve_agent(
        f"models:/{version.name}/{version.version}", tmp_path / "v",
        tracking_uri=lambda: tracking_uri,
    )  # fmt: skip
    assert from_version.name == run_id
    assert _contents(from_version.folder) == _contents(from_run.folder)

    # the session's own test evaluation, from the store's copy of the model
    db = f"store.database={store.database}"
    uri = f"store.uri={mongo_server.uri}"
    code = main(["backtest", session_id, "--out", str(tmp_path / "out"), uri, db])
    assert code == 0, capsys.readouterr().err
    ours = json.loads((tmp_path / "out" / layout.METRICS).read_text())
    assert ours["agent"] == store.get(session_id)["metrics"]["splits"]["test"]["agent"]


def test_a_queued_session_and_an_unknown_uri_are_refused(
    store: SessionStore, reopen, eurusd: Path, tmp_path: Path
) -> None:
    overrides = [*TINY, f"session.dataset={eurusd / 'dataset'}"]
    (session_id,) = enqueue(store, [request_from_overrides(overrides)])
    with pytest.raises(AgentNotFound, match=f"session {session_id} has no model file "):
        resolve_agent(session_id, tmp_path, open_store=reopen)
    with pytest.raises(AgentNotFound, match="no such run folder, and no session"):
        resolve_agent("nosuchsession", tmp_path, open_store=reopen)
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    with pytest.raises(AgentNotFound, match="runs:/0123abc: not found in MLflow"):
        resolve_agent("runs:/0123abc", tmp_path, tracking_uri=lambda: uri)
