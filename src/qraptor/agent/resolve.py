"""MODEL, as a user names a trained agent, -> the agent's files on this machine.

    models/agent                          a run folder (config.yaml, model.zip, data.json)
    models/agent/checkpoints/model_N.zip  a model zip inside one (its run folder: the nearest
                                          parent with a config.yaml)
    20261202-184055-3fa9c2 (or a prefix)  a session of the store (GridFS)
    runs:/<run_id>[/policy]               an MLflow run
    models:/<name>/<version|alias>        a registered model version (its run)

A path that exists is read where it is; anything else that looks like a path is "no such
run folder"; a bare word is a session id, looked up only then (the store is opened lazily:
a local replay needs no database). The caller (the CLI) chooses the store and the tracking
URI, by the conventions of `qraptor sessions` and of tracking.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from qraptor.agent.run_folder import AgentNotFound, TrainedAgent, checkpoint_agent, run_folder_agent
from qraptor.agent.sources import find_session, is_mlflow_uri, mlflow_agent, session_agent
from qraptor.store.store import SessionStore

__all__ = ["AgentNotFound", "TrainedAgent", "resolve_agent"]


def resolve_agent(
    model: str,
    work_dir: Path,
    *,
    open_store: Callable[[], SessionStore] | None = None,
    tracking_uri: Callable[[], str] | None = None,
) -> TrainedAgent:
    """The agent `model` names (see the module docstring); remote agents are downloaded into
    `work_dir`. `open_store` / `tracking_uri` are called only for a session id / an MLflow
    URI."""
    if is_mlflow_uri(model):
        if tracking_uri is None:
            raise AgentNotFound(f"{model}: an MLflow URI, but no tracking URI was given")
        return mlflow_agent(model, tracking_uri(), work_dir)
    path = Path(model).expanduser()
    if path.is_dir():
        return run_folder_agent(path)
    if path.is_file():
        if path.suffix != ".zip":
            raise AgentNotFound(f"{path}: not a run folder or a model zip")
        return checkpoint_agent(path)
    if _looks_like_a_path(model) or open_store is None:
        raise AgentNotFound(f"{model}: no such run folder or model zip")
    with open_store() as store:
        if not find_session(store, model):
            raise AgentNotFound(
                f"{model}: no such run folder, and no session of that id in the store "
                f"({store.uri}, database {store.database})"
            )
        return session_agent(store, model, work_dir)


def _looks_like_a_path(model: str) -> bool:
    return os.sep in model or "/" in model or model.endswith(".zip") or model.startswith((".", "~"))
