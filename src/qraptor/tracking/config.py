"""Schema of conf/tracking and the rules that turn it into a tracking URI and names.

Types and ranges only; every value lives in conf/tracking/default.yaml. Keys in range errors
are relative to the `tracking` group (`to_schema` adds the ``tracking.``). Nothing here
imports MLflow: validating a config stays cheap.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from qraptor.core.config import check, load_section, to_schema
from qraptor.core.credentials import TRACKING_URI_ENV, file_variable, from_environment
from qraptor.core.errors import ConfigError
from qraptor.core.paths import project_root
from qraptor.core.redact import redact_uri

GROUP = "tracking"
URI_ENV = TRACKING_URI_ENV  # "QRAPTOR_MLFLOW_URI", this machine's tracking URI: wins over all
URI_FILE_ENV = file_variable(URI_ENV)  # ... or a file holding it (when URI_ENV is unset)
MLFLOW_URI_ENV = "MLFLOW_TRACKING_URI"  # MLflow's own: used when neither env nor config say
DEFAULT_DB = "mlflow.db"
DEFAULT_ARTIFACTS = "mlruns"
URI_SCHEMES = ("http", "https", "sqlite", "postgresql", "mysql", "mssql", "databricks")
NAME_FIELDS = ("experiment", "session", "algo")


@dataclass
class CurvesConfig:
    """How training curves from SB3's logger reach MLflow."""

    every_timesteps: int  # at most one point per this many timesteps; 0 = every SB3 dump
    flush_seconds: float  # points are sent in batches at most this often

    def __post_init__(self) -> None:
        check(self.every_timesteps >= 0, "curves.every_timesteps", "must be >= 0")
        check(self.flush_seconds >= 0, "curves.flush_seconds", "must be >= 0")


@dataclass
class ArtifactsConfig:
    """Which files of a session are attached to its run."""

    model: bool
    keras_h5: bool
    evaluation: bool
    plots: bool
    tensorboard: bool


@dataclass
class ModelConfig:
    """The policy as an MLflow pyfunc model, and its registered name."""

    log: bool
    register: bool
    name: str  # a template: {experiment}, {session} (session.name), {algo}

    def __post_init__(self) -> None:
        fields = [f for _, f, _, _ in string.Formatter().parse(self.name) if f is not None]
        bad = [f for f in fields if f not in NAME_FIELDS]
        check(not bad, "model.name", f"unknown fields {bad}; valid: {', '.join(NAME_FIELDS)}")
        check(bool(self.name.strip()), "model.name", "must not be empty")
        check(not self.register or self.log, "model.register", "needs model.log: true")


@dataclass
class TrackingConfig:
    """Schema of conf/tracking/default.yaml."""

    enabled: bool
    uri: str | None  # None: $QRAPTOR_MLFLOW_URI, $MLFLOW_TRACKING_URI, else the project's sqlite
    experiment: str | None  # None: the session's name
    tensorboard: bool
    curves: CurvesConfig
    artifacts: ArtifactsConfig
    model: ModelConfig

    def __post_init__(self) -> None:
        if self.uri is not None:
            check(_scheme(self.uri) in URI_SCHEMES, "uri", _uri_problem(self.uri))
        if self.experiment is not None:
            check(bool(self.experiment.strip()), "experiment", "must not be empty (or null)")


def load_tracking_config(
    overrides: Sequence[str] = (), conf_dir: Path | None = None
) -> TrackingConfig:
    """The `tracking` section of conf/qraptor.yaml with Hydra `overrides`
    (``uri=http://host:5000``), validated; conf/ found from the working folder unless given."""
    return load_section("qraptor", GROUP, TrackingConfig, overrides, conf_dir)


def tracking_config_from(
    composed: DictConfig | Mapping[str, Any] | None, default: TrackingConfig | None = None
) -> TrackingConfig:
    """The `tracking` section of a composed config, else `default` (a ConfigError without one).

    A queued session stores the submitter's `tracking` section with its config
    (qraptor.worker.submit), so a worker tracks it with the submitter's settings (what to
    log, the experiment, the registered model's name). Where runs go is the worker
    machine's choice first: $QRAPTOR_MLFLOW_URI wins over the stored `tracking.uri`
    (`resolve_tracking_uri`).
    """
    section = None
    if composed is not None and GROUP in composed:
        section = composed[GROUP]
    if section is None:
        if default is None:
            raise ConfigError(GROUP, "no tracking section in the config (compose conf/train.yaml)")
        return default
    if not isinstance(section, DictConfig):
        section = OmegaConf.create(dict(section))
    return to_schema(section, TrackingConfig, GROUP)


def resolve_tracking_uri(cfg: TrackingConfig, root: Path | None = None) -> str:
    """Where runs go: $QRAPTOR_MLFLOW_URI (or the file named by $QRAPTOR_MLFLOW_URI_FILE),
    `tracking.uri`, $MLFLOW_TRACKING_URI, else sqlite:///<project>/mlflow.db (see
    conf/tracking/default.yaml for why this order)."""
    found = from_environment(URI_ENV)
    machine = [(found.variable, found.value)] if found else []
    for key, uri in (
        *machine,
        ("tracking.uri", (cfg.uri or "").strip()),
        (MLFLOW_URI_ENV, os.environ.get(MLFLOW_URI_ENV, "").strip()),
    ):
        if uri:
            if _scheme(uri) not in URI_SCHEMES:
                raise ConfigError(key, _uri_problem(uri))
            return uri
    return f"sqlite:///{(root or project_root()).resolve() / DEFAULT_DB}"


def default_artifact_root(uri: str) -> Path | None:
    """For a sqlite store, the `mlruns` folder beside the database file (for the default
    store: <project>/mlruns); None for a server, which decides for itself.

    MLflow's sqlite store otherwise puts artifacts under ./mlruns of the *current* directory,
    so a worker started elsewhere would scatter them: experiments created here name it.
    """
    if _scheme(uri) != "sqlite" or not uri.startswith("sqlite:///"):
        return None
    database = uri.removeprefix("sqlite:///").split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser().resolve().parent / DEFAULT_ARTIFACTS


def experiment_name(cfg: TrackingConfig, session_name: str) -> str:
    """`tracking.experiment`, else the session's name (quick, ppo_optuna, default...)."""
    return cfg.experiment or session_name


def registered_model_name(cfg: TrackingConfig, experiment: str, session: str, algo: str) -> str:
    """`tracking.model.name` with its fields filled; characters MLflow's registry and URIs
    dislike (/, :, spaces...) become dashes."""
    name = cfg.model.name.format(experiment=experiment, session=session, algo=algo)
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "qraptor-policy"


def _scheme(uri: str) -> str:
    return uri.partition("://")[0].split("+", 1)[0].lower() if "://" in uri else ""


def _uri_problem(uri: str) -> str:
    shown = redact_uri(uri)
    hint = (
        " (MLflow's file store is deprecated and raises: use sqlite:///path/mlflow.db)"
        if uri.startswith("file:") or "://" not in uri
        else ""
    )
    return f"'{shown}' is not a tracking URI; use http(s)://host:port or sqlite:///path{hint}"
