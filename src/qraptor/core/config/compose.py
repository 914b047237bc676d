"""Compose a Hydra config from `conf/` outside `@hydra.main` (DVC stages, tests, tools).

`conf/` is the single source of every parameter value; code composes it once at the
entry point and passes typed values down.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
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
        raise _config_error(config_name, str(exc)) from None


def _config_error(config_name: str, message: str) -> ConfigError:
    """Hydra's error as a ConfigError naming the key it is about, with Hydra's hint."""
    unknown = re.search(r"Could not override '([^']+)'", message)
    if unknown:
        return ConfigError(unknown.group(1), "no such key (a typo? `+key=value` adds a new one)")
    missing = re.search(r"Could not find '([^'/]+)/([^']+)'", message)
    if missing:
        options = re.search(r"Available options in '[^']+':\s*((?:\t[^\n]+\n?)+)", message)
        valid = ", ".join(o.strip() for o in options.group(1).split()) if options else ""
        hint = f"; valid: {valid}" if valid else ""
        return ConfigError(missing.group(1), f"no option '{missing.group(2)}'{hint}")
    return ConfigError(config_name, _first_line(message))


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "invalid configuration"


def root_groups(config_name: str, conf_dir: str | Path | None = None) -> tuple[str, ...]:
    """The config groups that root `config_name`'s defaults list picks (read, not composed)."""
    folder = Path(conf_dir).resolve() if conf_dir else find_conf_dir()
    path = folder / f"{config_name}.yaml"
    try:
        loaded = OmegaConf.load(path)
        defaults = (loaded.get("defaults") if isinstance(loaded, DictConfig) else None) or []
    except (OSError, OmegaConfBaseException) as exc:
        raise ConfigError(config_name, f"cannot read {path}: {exc}") from None
    groups = []
    for item in defaults:
        if isinstance(item, DictConfig):
            groups += [str(key).split("@")[0].removeprefix("override ") for key in item]
    return tuple(groups)


def scope_overrides(overrides: Sequence[str], groups: Sequence[str], primary: str) -> list[str]:
    """Hydra overrides for a root with `groups`: a key outside every group is a key of the
    command's `primary` group, so ``qraptor worker lease_seconds=30`` means
    ``store.lease_seconds=30``; ``worker.poll_seconds=5`` and ``store=other`` pass as they
    are. The one rule every command's overrides follow."""
    scoped = []
    for override in overrides:
        prefix = override[: len(override) - len(override.lstrip("+~"))]
        body = override[len(prefix) :]
        head = body.split("=", 1)[0].split(".", 1)[0].split("@", 1)[0]
        scoped.append(override if head in groups else f"{prefix}{primary}.{body}")
    return scoped


def compose_command(
    config_name: str,
    overrides: Sequence[str] = (),
    primary: str | None = None,
    conf_dir: str | Path | None = None,
) -> DictConfig:
    """Compose root `config_name` once for a command, its overrides scoped to `primary`."""
    if primary is not None:
        overrides = scope_overrides(overrides, root_groups(config_name, conf_dir), primary)
    return compose(config_name, [_readable(o) for o in overrides], conf_dir)


def _readable(override: str) -> str:
    """`override`, its value quoted when Hydra's grammar cannot read it as written: a URI
    with query options (``uri=mongodb://h:1/?tls=true&authSource=admin``) is a string, as
    a user means it, not a syntax error."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    try:
        parser.parse_override(override)
        return override
    except HydraException:
        key, eq, value = override.partition("=")
        if not eq or value[:1] in ("'", '"'):
            return override
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        quoted = f"{key}='{escaped}'"
        try:
            parser.parse_override(quoted)
        except HydraException:
            return override  # let compose report the original
        return quoted
