"""`session.init_from` resolved to a local zip: a path or run folder as is, `runs:/` from a
real MLflow store, a session id from a real store's GridFS; anything else refused naming
the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from qraptor.core import layout
from qraptor.core.errors import ConfigError
from qraptor.store import FileKind, SessionStore
from qraptor.worker.model_source import resolve_init_from
from qraptor.worker.submit import enqueue, request_from_overrides

ZIP_BYTES = b"PK\x05\x06" + b"\x00" * 18  # an empty zip: the resolver does not open it


def _zip(folder: Path, name: str = layout.MODEL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(ZIP_BYTES)
    return path


def _no_store() -> SessionStore:
    raise AssertionError("a local path must not open the store")


def test_paths_and_run_folders(tmp_path: Path) -> None:
    model = _zip(tmp_path / "run")
    dest = tmp_path / "dest"
    assert resolve_init_from(str(model), dest, store=_no_store) == model
    assert resolve_init_from(str(tmp_path / "run"), dest, store=_no_store) == model
    assert resolve_init_from("run", dest, root=tmp_path, store=_no_store) == model
    with pytest.raises(ConfigError, match="no such model zip") as caught:
        resolve_init_from("models/nothing/model.zip", dest, root=tmp_path)
    assert caught.value.key == "session.init_from"


def test_runs_uri_from_a_real_mlflow_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("init_from", str(tmp_path / "mlruns"))
    run = client.create_run(experiment)
    model = _zip(tmp_path / "logged", "sb3_model.zip")
    client.log_artifact(run.info.run_id, str(model), "policy/artifacts")
    client.set_terminated(run.info.run_id)
    got = resolve_init_from(
        f"runs:/{run.info.run_id}/policy", tmp_path / "dest", tracking_uri=lambda: uri
    )
    assert got.name == "sb3_model.zip" and got.read_bytes() == ZIP_BYTES
    assert tmp_path / "dest" in got.parents
    with pytest.raises(ConfigError) as caught:
        resolve_init_from("models:/absent/1", tmp_path / "dest2", tracking_uri=lambda: uri)
    assert caught.value.key == "session.init_from" and "models:/absent/1" in str(caught.value)


def test_a_session_id_from_a_real_store(store: SessionStore, tiny_dataset, tmp_path) -> None:
    request = request_from_overrides(["experiment=tiny", f"session.dataset={tiny_dataset}"])
    (sid,) = enqueue(store, [request])
    store.attach_file(sid, FileKind.MODEL, _zip(tmp_path / "trained"), layout.MODEL)
    got = resolve_init_from(sid, tmp_path / "dest", store=lambda: store)
    assert got.read_bytes() == ZIP_BYTES and tmp_path / "dest" in got.parents
    with pytest.raises(ConfigError) as caught:
        resolve_init_from("no-such-session", tmp_path / "dest", store=lambda: store)
    assert caught.value.key == "session.init_from" and "no-such-session" in str(caught.value)
