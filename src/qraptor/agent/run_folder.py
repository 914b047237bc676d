"""A trained agent on this machine: a folder with its config, its model zip and its data record.

Every way of naming an agent (`qraptor.agent.resolve`) ends here: a run folder written by
the trainer, or a folder a remote agent was downloaded into, holding

    config.yaml   the resolved training config (what the env, costs and evaluation were)
    data.json     the data path it was trained on (qraptor.data.record)
    <model zip>   model.zip, or the checkpoint that was asked for
    metrics.json  the session summary, when there is one (not needed to replay)

A folder without data.json predates issue 15: its agent cannot be fed other bars, because
nothing says how they were featurised and normalised; it is refused with that said.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from qraptor.core import layout
from qraptor.core.errors import DataError, QraptorError
from qraptor.data.record import load_run_record
from qraptor.train.config import TrainConfig, run_folder_config


class AgentNotFound(QraptorError):
    """MODEL names nothing usable: no such folder, session, run or model version, or one
    without the files a replay needs."""


@dataclass(frozen=True)
class TrainedAgent:
    """A trained agent's files on this machine (see the module docstring)."""

    name: str  # short, for output folder names: the run folder, session id, MLflow run id
    folder: Path
    model_path: Path
    source: str  # what MODEL was (a path, "session <id>", an MLflow URI), for logs and reports

    @cached_property
    def config(self) -> TrainConfig:
        """The run's training config, validated as training validated it."""
        return run_folder_config(self.folder)

    @cached_property
    def record(self) -> dict[str, Any]:
        """The run's data record (data.json)."""
        return load_run_record(self.folder)

    def describe(self) -> dict[str, Any]:
        """What metrics.json says about the agent replayed."""
        return {"source": self.source, "name": self.name, "model": str(self.model_path)}


def run_folder_agent(
    folder: Path, model_path: Path | None = None, source: str = ""
) -> TrainedAgent:
    """The agent of a run folder (its model.zip, or `model_path`), checked to have every
    file a replay needs."""
    folder = Path(folder)
    if not (folder / layout.CONFIG).is_file():
        raise AgentNotFound(f"{folder}: not a run folder (no {layout.CONFIG})")
    model = Path(model_path) if model_path is not None else folder / layout.MODEL
    if not model.is_file():
        raise AgentNotFound(
            f"{folder}: no {layout.MODEL} (a run stopped early has only checkpoints: "
            f"name one, e.g. {folder / 'checkpoints'}/model_<timesteps>.zip)"
        )
    agent = TrainedAgent(folder.resolve().name, folder, model, source or str(folder))
    try:
        agent.record  # noqa: B018 - refused here, before any data is read
    except DataError as exc:
        raise AgentNotFound(str(exc)) from None
    return agent


def checkpoint_agent(zip_path: Path) -> TrainedAgent:
    """The agent of a model zip inside a run folder (checkpoints/model_N.zip,
    model_best_val.zip): its run folder is the nearest parent with a config.yaml."""
    zip_path = Path(zip_path)
    for parent in zip_path.resolve().parents:
        if (parent / layout.CONFIG).is_file():
            agent = run_folder_agent(parent, zip_path, source=str(zip_path))
            return TrainedAgent(f"{agent.name}-{zip_path.stem}", parent, zip_path, agent.source)
    raise AgentNotFound(f"{zip_path}: no run folder above it (no parent holds {layout.CONFIG})")
