"""Fine-tuning (`session.init_from`): a new session that starts from another model's weights.

The model is built from this session's config as usual (its hyperparameters, its seed, its
env), then the weights (and the optimiser's state) of the given zip are loaded into it; its
timestep count starts at 0 and it trains `total_timesteps` more on this session's data.
The source must fit: the same observation and action spaces (both shapes named when they
differ) and the same network (algorithm, policy, net_arch). Resuming (a checkpoint of this
very session) is another thing: trainer.py's `resume_from`.

Only a local zip (or a run folder holding model.zip) is taken here: a session id or an
MLflow URI is resolved to a zip by the CLI or the worker (qraptor.worker.model_source), as
`train` knows neither the store nor tracking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.save_util import load_from_zip_file

from qraptor.core import layout
from qraptor.core.errors import ConfigError
from qraptor.core.log import get_logger

log = get_logger(__name__)
KEY = "session.init_from"


def init_zip(spec: str | Path, root: Path | None = None) -> Path:
    """The model zip `spec` names: a zip file, or a run folder with model.zip (relative to
    `root`, the project); a ConfigError naming session.init_from otherwise."""
    path = Path(spec).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if path.is_dir():
        path = path / layout.MODEL
    if not path.is_file():
        raise ConfigError(
            KEY,
            f"'{spec}': no such model zip or run folder ({path}); a session id, runs:/ or "
            "models:/ URI is resolved by `qraptor train` and the worker",
        )
    return path


def load_weights(model: BaseAlgorithm, path: Path) -> None:
    """Load the weights of the model zip `path` into `model` (refused when it does not fit)."""
    try:
        data, _, _ = load_from_zip_file(path, device=model.device)
    except Exception as exc:
        raise ConfigError(KEY, f"{path} is not a stable-baselines3 model zip: {exc}") from exc
    data = data or {}
    for name, mine in (("observation", model.observation_space), ("action", model.action_space)):
        theirs = data.get(f"{name}_space")
        if theirs is not None and _describe(theirs) != _describe(mine):
            raise ConfigError(
                KEY,
                f"{path}: its {name} space is {_describe(theirs)}, this session's is "
                f"{_describe(mine)} (env.window, env.features, env.action must match the "
                "model's)",
            )
    try:
        model.set_parameters(str(path), exact_match=True, device=model.device)
    except Exception as exc:  # a different network: missing or extra keys, other sizes
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            KEY, f"{path}: its network does not fit this session's algo ({first})"
        ) from exc
    log.info(
        "fine-tuning from %s (trained %s timesteps there): weights loaded",
        path, data.get("num_timesteps", "?"),
    )  # fmt: skip


def _describe(space: Any) -> str:
    """A space's kind and shape: Box(8, 12), Discrete(3)."""
    n = getattr(space, "n", None)
    if n is not None:
        return f"{type(space).__name__}({int(n)})"
    shape = getattr(space, "shape", None)
    dims = ", ".join(str(int(d)) for d in shape) if shape else ""
    return f"{type(space).__name__}({dims})"
