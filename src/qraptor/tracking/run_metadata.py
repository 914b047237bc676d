"""What a session's run says about itself: params, tags, name.

Params once (MLflow params are immutable: a resumed session keeps its first ones), tags
on every attempt (where it runs now). Provenance is shared with the session store: the
same `git_commit` and `data_version` (DVC's hash from dvc.lock, else a sha256 of the
dataset's files) that the worker records on the session document.
"""

from __future__ import annotations

import contextlib
import getpass
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.entities import Param, RunTag

from qraptor.core.provenance import data_version, git_commit
from qraptor.tracking.params import PARAMS_PER_BATCH, batches, flatten_params
from qraptor.tracking.runs import SWEEP_TAG
from qraptor.train.config import resolve_dataset

if TYPE_CHECKING:
    from mlflow import MlflowClient

MAX_TAG_VALUE = 8000  # MLflow's limit


def log_params_and_tags(
    client: MlflowClient, run_id: str, config: dict, tags: dict[str, str], resumed: bool
) -> None:
    """Params once (MLflow params are immutable), tags every time (where it runs now)."""
    if not resumed:
        params = [Param(k, v) for k, v in flatten_params(config).items()]
        for batch in batches(params, PARAMS_PER_BATCH):
            client.log_batch(run_id, params=batch)
    entries = [RunTag(k, str(v)[:MAX_TAG_VALUE]) for k, v in tags.items()]
    for batch in batches(entries, PARAMS_PER_BATCH):
        client.log_batch(run_id, tags=batch)


def provenance_tags(dataset: str, root: Path | None = None) -> dict[str, str]:
    """The code's commit and the data's version (of project `root`): what a run's results
    depend on."""
    tags = {}
    commit = git_commit(root)
    if commit:
        tags["mlflow.source.git.commit"] = commit
        tags["qraptor.git_commit"] = commit
    version = data_version(resolve_dataset(dataset, root), root)
    if version:
        tags["qraptor.data_hash"] = str(version["hash"])
        tags["qraptor.data_hash_method"] = str(version["method"])
        tags["qraptor.dataset"] = str(version["dataset"])
    return tags


def session_tags(
    config: Mapping[str, Any], sweep_id: str | None, preset: str | None
) -> dict[str, str]:
    """What the run is and where it runs: algorithm, session name, host, preset, sweep."""
    session = config["session"]
    tags = {
        "qraptor.algo": str(config["algo"]["name"]),
        "qraptor.session_name": str(session["name"]),
        "qraptor.worker_host": socket.gethostname(),
    }
    with contextlib.suppress(Exception):
        tags["mlflow.user"] = getpass.getuser()
    if preset:
        tags["qraptor.experiment_preset"] = preset
    if session.get("tags"):
        tags["qraptor.tags"] = ", ".join(str(t) for t in session["tags"])
    if sweep_id:
        tags[SWEEP_TAG] = sweep_id
    return tags


def default_run_name(config: Mapping[str, Any], session_id: str | None) -> str:
    """``<session.name>-<algo>-seed<seed>[-fold<k>][-<end of the session id>]``."""
    session = config["session"]
    name = f"{session['name']}-{config['algo']['name']}-seed{session['seed']}"
    if session.get("fold") is not None:
        name += f"-fold{session['fold']}"
    return f"{name}-{session_id[-6:]}" if session_id else name
