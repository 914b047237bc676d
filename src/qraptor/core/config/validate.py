"""Validate a composed config section against a dataclass schema.

The dataclasses define types and ranges, never values: every value comes from `conf/`.
A wrong type, an unknown key or an out-of-range value fails before any work starts, with
the full dotted key in the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from qraptor.core.errors import ConfigError

S = TypeVar("S")


def to_schema(section: DictConfig | dict[str, Any], schema: type[S], key: str) -> S:
    """Merge `section` onto `schema` and return a schema instance.

    `key` is where the section sits in the composed config (e.g. "reduce"), used to name
    the offending key in errors.
    """
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), section)
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except ConfigError as exc:  # raised by a schema's __post_init__ range check
        raise ConfigError(f"{key}.{exc.key}", exc.problem) from None
    except OmegaConfBaseException as exc:
        inner = getattr(exc, "full_key", None) or getattr(exc, "key", None) or ""
        full = f"{key}.{inner}" if inner else key
        message = str(exc).strip().splitlines()[0]
        raise ConfigError(full, message) from None


def check(condition: bool, key: str, problem: str) -> None:
    """Range check for a schema's `__post_init__`: raise ConfigError naming `key`."""
    if not condition:
        raise ConfigError(key, problem)


def load_group(
    group: str,
    schema: type[S],
    overrides: Sequence[str] = (),
    option: str = "default",
    conf_dir: str | Path | None = None,
) -> S:
    """One option of a config group (`conf/<group>/<option>.yaml`) with dotlist overrides.

    For code that needs one section without composing a root config (a worker's store
    settings, a benchmark's env). Keys are relative to the group; a leading ``<group>.`` or
    ``+`` is accepted, so overrides written for a composed root config work unchanged.
    """
    from qraptor.core.config.compose import find_conf_dir

    path = Path(conf_dir or find_conf_dir()) / group / f"{option}.yaml"
    if not path.is_file():
        raise ConfigError(group, f"no config file {path}")
    items = [o.removeprefix("+").removeprefix(f"{group}.") for o in overrides]
    try:
        section = OmegaConf.merge(OmegaConf.load(path), OmegaConf.from_dotlist(items))
    except OmegaConfBaseException as exc:
        raise ConfigError(group, str(exc).strip().splitlines()[0]) from None
    # a group file is a mapping; a list one fails in to_schema's merge, as a ConfigError
    return to_schema(cast(DictConfig, section), schema, group)
