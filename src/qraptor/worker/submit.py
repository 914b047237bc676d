"""Queueing sessions: a composed conf/train.yaml, validated, becomes a queued session.

Shared by `qraptor sessions submit` (one session from Hydra overrides) and the Hydra
launcher plugin (`-m hydra/launcher=mongo`: a whole sweep). Every config is validated
before anything is queued, so a typo fails at submit time with the key named instead of
failing later on a worker; a sweep is queued whole or not at all.

What is stored: the resolved config (session, algo, env and the other sections training
accepts, such as tracking; the `store` section says where the queue is, not how to train,
and stays out, like its overrides), the overrides
that made it, the experiment preset, tags, and the submitter's git commit and dataset
version (the worker records its own again when it trains).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from qraptor.core.config import check, compose, to_schema
from qraptor.core.log import get_logger
from qraptor.core.provenance import data_version, git_commit
from qraptor.store.store import SessionStore
from qraptor.train.config import (
    FOREIGN_SECTIONS,
    TRAIN_CONFIG,
    TRAINING_SECTIONS,
    resolve_dataset,
    train_config_from,
)

log = get_logger(__name__)
DEFAULT_EXPERIMENT = "default"
STORE_SECTION = "store"  # where the queue is: not part of what a session trains
STORED_SECTIONS = tuple(k for k in (*TRAINING_SECTIONS, *FOREIGN_SECTIONS) if k != STORE_SECTION)


@dataclass
class LauncherConfig:
    """Schema of conf/hydra/launcher/mongo.yaml (besides `_target_`)."""

    priority: int  # higher is claimed first
    tags: list[str]  # added to every session's session.tags
    max_attempts: int | None  # None: store.max_attempts

    def __post_init__(self) -> None:
        check(self.max_attempts is None or self.max_attempts >= 1, "max_attempts", "must be >= 1")


def launcher_config(params: Mapping[str, Any]) -> LauncherConfig:
    """The launcher's parameters (as Hydra passes them), validated."""
    return to_schema(dict(params), LauncherConfig, "hydra.launcher")


@dataclass(frozen=True)
class SessionRequest:
    """A validated session, ready to queue."""

    config: dict[str, Any]  # resolved sections of the session (all but store and hydra)
    overrides: tuple[str, ...] = ()
    experiment: str = DEFAULT_EXPERIMENT
    tags: tuple[str, ...] = field(default_factory=tuple)  # session.tags

    @property
    def name(self) -> str:
        return str(self.config["session"]["name"])


def session_request(
    composed: DictConfig | Mapping[str, Any],
    overrides: Sequence[str] = (),
    experiment: str | None = None,
) -> SessionRequest:
    """Validate a composed train config (ConfigError naming the key if it is wrong) and keep
    its training sections, resolved."""
    if isinstance(composed, DictConfig):
        # a DictConfig's container is a dict; a composed config's keys are str
        tree = cast("dict[str, Any]", OmegaConf.to_container(composed, resolve=True))
    else:
        tree = dict(composed)
    tree.pop(STORE_SECTION, None)
    validated = train_config_from(tree)  # unknown top-level keys fail here, named
    config = {key: tree[key] for key in tree if key in STORED_SECTIONS}
    return SessionRequest(
        config=config,
        overrides=tuple(o for o in map(str, overrides) if not _is_store_override(o)),
        experiment=experiment or experiment_of(overrides),
        tags=tuple(validated.session.tags),
    )


def _is_store_override(override: str) -> bool:
    """store.* says where the queue is, not what to train: not kept with the session."""
    key = override.partition("=")[0].lstrip("+~")
    return key == "store" or key.startswith("store.")


def request_from_overrides(overrides: Sequence[str]) -> SessionRequest:
    """Compose conf/train.yaml with Hydra `overrides` and validate it."""
    return session_request(compose(TRAIN_CONFIG, list(overrides)), overrides)


def experiment_of(overrides: Sequence[str]) -> str:
    """The experiment preset chosen by `experiment=NAME` among the overrides, else default."""
    chosen = DEFAULT_EXPERIMENT
    for override in overrides:
        key, eq, value = str(override).partition("=")
        if eq and key.lstrip("+~") == "experiment" and value not in ("", "null"):
            chosen = value
    return chosen


def enqueue(
    store: SessionStore,
    requests: Sequence[SessionRequest],
    *,
    priority: int = 0,
    tags: Sequence[str] = (),
    sweep_id: str | None = None,
    max_attempts: int | None = None,
    root: Path | None = None,
) -> list[str]:
    """Queue `requests` in order (the oldest is claimed first at equal priority); their ids.

    Tags are the config's `session.tags` plus `tags`. The submitter's git commit and the
    data version of each session's dataset (when it exists here, in project `root`) are
    recorded; with store.ship_datasets each version is published to the store once, for
    workers that do not have it (store.datasets).
    """
    commit = git_commit(root)
    versions: dict[str, dict[str, Any] | None] = {}
    ids = []
    for request in requests:
        dataset = str(request.config["session"]["dataset"])
        if dataset not in versions:
            folder = resolve_dataset(dataset, root)
            versions[dataset] = version = data_version(folder, root)
            if version is not None and store.cfg.ship_datasets:
                store.publish_dataset(folder, version)  # for workers without this folder
        session_id = store.submit(
            request.config,
            priority=priority,
            sweep_id=sweep_id,
            tags=list(dict.fromkeys([*request.tags, *tags])),
            experiment=request.experiment,
            overrides=request.overrides,
            max_attempts=max_attempts,
            git_commit=commit,
            data_version=versions[dataset],
        )
        ids.append(session_id)
    log.debug(
        "queued %d session%s%s", len(ids), "" if len(ids) == 1 else "s",
        f" (sweep {sweep_id})" if sweep_id else "",
    )  # fmt: skip
    return ids
