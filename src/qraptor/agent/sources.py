"""Agents that live elsewhere, downloaded into a local folder (`run_folder.TrainedAgent`).

* a session of the store: its config from the session document, model.zip, data.json and
  metrics.json from GridFS (sha256-verified by the store);
* an MLflow run (``runs:/<run_id>[/<path>]``) or a registered model version
  (``models:/<name>/<version|alias>``, which names its run): the artifacts config.yaml,
  data.json, model/model.zip and metrics.json of the run (qraptor.tracking.artifacts).

Each refusal says which session or run lacks which file, and why that happens (a session
that is still queued has no model; a run trained before issue 15 has no data.json).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from qraptor.agent.run_folder import AgentNotFound, TrainedAgent, run_folder_agent
from qraptor.core import layout
from qraptor.core.atomic import write_text_atomic
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_uri
from qraptor.store.errors import SessionNotFound
from qraptor.store.status import FileKind
from qraptor.store.store import SessionStore

log = get_logger(__name__)
RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:/"
MODEL_ARTIFACT = f"model/{layout.MODEL}"  # qraptor.tracking.artifacts: the SB3 zip's path
NEEDED_ARTIFACTS = (layout.CONFIG, layout.DATA_RECORD, MODEL_ARTIFACT)
TRAINING_SECTIONS = ("session", "algo", "env")


def session_agent(store: SessionStore, prefix: str, work_dir: Path) -> TrainedAgent:
    """The session `prefix` (an id or a unique prefix of one) downloaded into `work_dir`."""
    session_id = store.find_id(prefix)
    doc = store.get(session_id)
    kinds = {ref.kind for ref in store.files(session_id)}
    status = doc.get("status")
    if FileKind.MODEL not in kinds:
        raise AgentNotFound(
            f"session {session_id} has no model file (status {status}): only a session that "
            "finished training has one"
        )
    if FileKind.DATA_RECORD not in kinds:
        raise AgentNotFound(
            f"session {session_id} has no {layout.DATA_RECORD}: trained before issue 15, "
            "nothing says how its bars were made; retry it (`qraptor sessions retry --fresh`)"
        )
    folder = Path(work_dir) / session_id
    folder.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in dict(doc["config"]).items() if k in TRAINING_SECTIONS}
    write_text_atomic(folder / layout.CONFIG, OmegaConf.to_yaml(OmegaConf.create(config)))
    store.download_file(session_id, FileKind.MODEL, folder / layout.MODEL)
    store.download_file(session_id, FileKind.DATA_RECORD, folder / layout.DATA_RECORD)
    if FileKind.METRICS in kinds:
        store.download_file(session_id, FileKind.METRICS, folder / layout.METRICS)
    log.info("session %s (%s): downloaded from %s", session_id, status, store.uri)
    agent = run_folder_agent(folder, source=f"session {session_id}")
    return TrainedAgent(session_id, folder, agent.model_path, agent.source)


def find_session(store: SessionStore, prefix: str) -> bool:
    """Whether `prefix` names one session of `store` (a StoreError when it is ambiguous)."""
    try:
        store.find_id(prefix)
    except SessionNotFound:
        return False
    return True


def is_mlflow_uri(model: str) -> bool:
    return model.startswith((RUNS_SCHEME, MODELS_SCHEME))


def mlflow_agent(uri: str, tracking_uri: str, work_dir: Path) -> TrainedAgent:
    """The run behind `uri` (runs:/ or models:/) downloaded from `tracking_uri` into
    `work_dir`."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri, registry_uri=tracking_uri)  # not a registry set globally
    where = redact_uri(tracking_uri)
    try:
        run_id = _run_id(client, uri)
        client.get_run(run_id)
    except MlflowException as exc:
        raise AgentNotFound(f"{uri}: not found in MLflow at {where} ({exc.message})") from None
    present = _artifact_names(client, run_id)
    missing = [name for name in NEEDED_ARTIFACTS if name not in present]
    if missing == [layout.DATA_RECORD]:
        raise AgentNotFound(
            f"MLflow run {run_id} has no {layout.DATA_RECORD}: trained before issue 15, "
            "nothing says how its bars were made; retrain it"
        )
    if missing:
        raise AgentNotFound(f"MLflow run {run_id} ({uri}) lacks the artifact(s) {missing}")
    folder = Path(work_dir) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [*NEEDED_ARTIFACTS, *([layout.METRICS] if layout.METRICS in present else [])]
    for name in wanted:
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            local = client.download_artifacts(run_id, name, scratch)
            Path(local).replace(folder / Path(name).name)
    log.info("MLflow run %s (%s): downloaded from %s", run_id, uri, where)
    agent = run_folder_agent(folder, source=uri)
    return TrainedAgent(run_id, folder, agent.model_path, agent.source)


def _run_id(client: Any, uri: str) -> str:
    """The run of a runs:/ URI, or of the version a models:/ URI names."""
    if uri.startswith(RUNS_SCHEME):
        run_id = uri.removeprefix(RUNS_SCHEME).strip("/").split("/")[0]
        if not run_id:
            raise AgentNotFound(f"{uri}: give a run id, runs:/<run_id>")
        return run_id
    name, _, ref = uri.removeprefix(MODELS_SCHEME).strip("/").partition("/")
    if not name or not ref:
        raise AgentNotFound(f"{uri}: give a name and a version or alias, models:/<name>/<1|alias>")
    version = (
        client.get_model_version(name, ref)
        if ref.isdigit()
        else client.get_model_version_by_alias(name, ref)
    )
    if not version.run_id:
        raise AgentNotFound(f"{uri}: version {version.version} of {name} names no MLflow run")
    return str(version.run_id)


def _artifact_names(client: Any, run_id: str) -> set[str]:
    """The run's top-level artifact files and those of its model/ folder."""
    names = {item.path for item in client.list_artifacts(run_id)}
    if "model" in names:
        names |= {item.path for item in client.list_artifacts(run_id, "model")}
    return names
