"""Compose a Hydra config from `conf/` outside `@hydra.main` (DVC stages, tests, tools).

`conf/` is the single source of every parameter value; code composes it once at the
entry point and passes typed values down.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from qraptor.core.errors import ConfigError

CONF_DIR_ENV = "QRAPTOR_CONF_DIR"


def find_conf_dir(start: str | Path | None = None) -> Path:
    """The `conf/` folder: $QRAPTOR_CONF_DIR, else the nearest `conf/` at or above `start`."""
    if os.environ.get(CONF_DIR_ENV):
        path = Path(os.environ[CONF_DIR_ENV]).resolve()
        if not path.is_dir():
            raise ConfigError(CONF_DIR_ENV, f"{path} is not a directory")
        return path
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "conf").is_dir():
            return folder / "conf"
    raise ConfigError("conf", f"no conf/ folder at or above {here}; run from the project root")


def compose(
    config_name: str,
    overrides: Sequence[str] = (),
    conf_dir: str | Path | None = None,
) -> DictConfig:
    """Compose `conf/<config_name>.yaml` with Hydra command-line style `overrides`."""
    conf_path = Path(conf_dir).resolve() if conf_dir else find_conf_dir()
    try:
        with initialize_config_dir(config_dir=str(conf_path), version_base="1.3"):
            return hydra_compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(config_name, _first_line(str(exc))) from None


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "invalid configuration"
