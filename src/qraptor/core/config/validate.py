"""Validate a composed config section against a dataclass schema.

The dataclasses define types and ranges, never values: every value comes from `conf/`.
A wrong type, an unknown key or an out-of-range value fails before any work starts, with
the full dotted key in the message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

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


def load_section(
    config_name: str,
    group: str,
    schema: type[S],
    overrides: Sequence[str] = (),
    conf_dir: str | Path | None = None,
) -> S:
    """One group's section of root `config_name`, composed with `overrides` (keys outside
    every group belong to `group`) and validated: what the root chose, not a fixed file.

    For a command or a library call that needs this one section; a command that needs
    several composes the root once (`compose_command`) and validates each section of it.
    """
    from qraptor.core.config.compose import compose_command

    composed = compose_command(config_name, overrides, group, conf_dir)
    if group not in composed:
        raise ConfigError(group, f"conf/{config_name}.yaml has no `{group}` group")
    return to_schema(composed[group], schema, group)
