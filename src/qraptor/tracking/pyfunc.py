"""Log a trained policy as an MLflow pyfunc model, and register it once per session.

The model is policy_model.py (logged as code) plus the SB3 zip, with a tensor signature
(observations [-1, window, features + state] float32 -> actions) inferred from real
observations of the evaluation split, which also serve as the input example. Requirements
are pinned from the installed versions instead of letting MLflow infer them (that loads
the model in a subprocess: seconds per session). `mlflow models serve -m
models:/<name>/<version> --env-manager local` then answers POST /invocations with
``{"inputs": [[...observation...]]}`` by ``{"predictions": [actions]}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo

from qraptor.core.log import get_logger

log = get_logger(__name__)
POLICY_CODE = Path(__file__).with_name("policy_model.py")
MODEL_NAME = "policy"  # the logged model's name inside its run
REQUIREMENTS = ("mlflow", "stable-baselines3", "torch", "gymnasium", "numpy", "cloudpickle")


def log_policy_model(
    model: Any,
    model_zip: Path,
    observations: np.ndarray,
    *,
    deterministic: bool,
) -> ModelInfo:
    """Log `model` (an SB3 model, saved as `model_zip`) to the active MLflow run.
    Registering it is a separate step (`register_policy`), taken once the run is known to
    be the session's one finished training."""
    actions, _ = model.predict(observations, deterministic=deterministic)
    signature = infer_signature(observations, np.asarray(actions))
    info = mlflow.pyfunc.log_model(
        name=MODEL_NAME,
        python_model=str(POLICY_CODE),
        artifacts={"sb3_model": str(model_zip)},
        model_config={"algorithm": type(model).__name__, "deterministic": deterministic},
        signature=signature,
        input_example=observations,
        pip_requirements=pinned_requirements(),
    )
    log.info("policy logged as %s", info.model_uri)
    return info


def register_policy(
    model_uri: str,
    name: str,
    run_id: str,
    version_tags: Mapping[str, str] | None = None,
    *,
    description: str | None = None,
) -> str:
    """Register `model_uri` as a version of `name`, unless run `run_id` has a version of
    `name` already (an earlier attempt registered, then died): once per run, and so once
    per session. `description` (the model card, cut to MLflow's limit by the caller) is
    set on the version either way: an attempt that died between registering and
    describing leaves it to the next. The version number."""
    client = mlflow.MlflowClient()
    existing = client.search_model_versions(f"name = '{_quoted(name)}' and run_id = '{run_id}'")
    if existing:
        version = str(min(int(v.version) for v in existing))
        log.info("policy already registered as %s v%s", name, version)
    else:
        registered = mlflow.register_model(model_uri, name, tags=dict(version_tags or {}))
        version = str(registered.version)
        log.info("policy registered as %s v%s", name, version)
    if description is not None:
        try:
            client.update_model_version(name, version, description=description)
        except Exception as exc:  # the version is registered: a missing text must not undo it
            log.warning("%s v%s: description (model card) not set: %s", name, version, exc)
    return version


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def pinned_requirements() -> list[str]:
    """name==version of what policy_model.py needs, as installed here."""
    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    return pins


def example_observations(
    config: Mapping[str, Any], model: Any, count: int = 3, root: Path | None = None
) -> Any:
    """A few consecutive observations of the first evaluation split, as the policy sees
    them: the pyfunc model's input example and signature."""
    from qraptor.env.market import load_market
    from qraptor.env.trading_env import TradingEnv
    from qraptor.evaluation.backtest import full_span
    from qraptor.train.config import resolve_dataset, train_config_from

    cfg = train_config_from(config)
    s = cfg.session
    split = s.eval.splits[0]
    market = load_market(resolve_dataset(s.dataset, root), split, s.fold, cfg.env.features)
    env = TradingEnv(market, full_span(cfg.env))
    obs, _ = env.reset(seed=s.seed)
    observations = [obs]
    for _ in range(count - 1):
        action, _ = model.predict(obs, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
        observations.append(obs)
    return np.stack(observations).astype(np.float32)
