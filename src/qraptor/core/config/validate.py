"""Validate a composed config section against a dataclass schema.

The dataclasses define types and ranges, never values: every value comes from `conf/`.
A wrong type, an unknown key or an out-of-range value fails before any work starts, with
the full dotted key in the message.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from qraptor.core.errors import ConfigError

S = TypeVar("S")


def to_schema(section: DictConfig | dict[str, Any], schema: type[S], key: str) -> S:
    """Merge `section` onto `schema` and return a schema instance.

    `key` is where the section sits in the composed config (e.g. "reduce"), used to name
    the offending key in errors: in full, however deep the section that refused it
    (``data.timestamp.unit``, not ``data.unit``).
    """
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), _integral(section, schema))
    except OmegaConfBaseException as exc:
        raise _omegaconf_error(exc, key) from None
    try:
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except ConfigError as exc:  # raised by a schema's __post_init__ range check
        raise ConfigError(_full_key(merged, key, exc.key), exc.problem) from None
    except OmegaConfBaseException as exc:
        raise _omegaconf_error(exc, key) from None


def _integral(section: Any, schema: type) -> Any:
    """`section` with a whole float where `schema` wants an int made that int: 1e5 or
    2.5e6 timesteps are what people type (YAML and Hydra read them as floats), 1.5 is still
    refused. A copy when anything changes; interpolations are left to OmegaConf."""
    if not isinstance(section, DictConfig | dict) or not dataclasses.is_dataclass(schema):
        return section
    hints = typing.get_type_hints(schema)
    changed: dict[str, Any] = {}
    for name in section:
        hint = hints.get(str(name))
        if hint is None or (isinstance(section, DictConfig) and OmegaConf.is_interpolation(
            section, str(name)
        )):  # fmt: skip
            continue
        value = section[name]
        kinds = _kinds(hint)
        if int in kinds and float not in kinds and _whole_float(value):
            changed[str(name)] = int(value)
        else:
            nested = next(
                (k for k in kinds if isinstance(k, type) and dataclasses.is_dataclass(k)), None
            )
            if nested is not None:
                converted = _integral(value, nested)
                if converted is not value:
                    changed[str(name)] = converted
    if not changed:
        return section
    copy = OmegaConf.create(section) if isinstance(section, dict) else section.copy()
    for name, value in changed.items():
        copy[name] = value
    return copy


def _kinds(hint: Any) -> tuple[Any, ...]:
    """The types a field's hint admits: (int, NoneType) for `int | None`."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


def _whole_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer() and abs(value) < 2**63


def _omegaconf_error(exc: OmegaConfBaseException, key: str) -> ConfigError:
    """OmegaConf's type or key error as a ConfigError (its full_key is from the section)."""
    inner = getattr(exc, "full_key", None) or getattr(exc, "key", None) or ""
    full = f"{key}.{inner}" if inner else key
    return ConfigError(full, str(exc).strip().splitlines()[0])


def _full_key(merged: DictConfig | ListConfig, key: str, checked: str) -> str:
    """The full dotted key of `checked`, a key a `__post_init__` named.

    The check that failed is that of the first section OmegaConf could not build (it
    builds nested sections depth first, before their parent). A nested section names its
    keys either relative to itself (``TimestampConfig``: ``unit``) or, like most, relative
    to its parent (``OutlierConfig``: ``outliers.z_max``); the one that exists in the
    config is the key meant."""
    section = _failing_section(merged, "")
    candidates = [_join(section, checked)]
    if section:
        candidates.append(_join(section.rpartition(".")[0], checked))
    missing = object()
    found = next(
        (c for c in candidates if OmegaConf.select(merged, c, default=missing) is not missing),
        candidates[0],
    )
    return _join(key, found)


def _failing_section(node: DictConfig | ListConfig, path: str) -> str:
    """Path (from `node`) of the deepest section whose construction raises ConfigError, in
    the order `OmegaConf.to_object` builds them; "" when only `node` itself does."""
    if isinstance(node, DictConfig):
        children = [(str(name), node[name]) for name in node]
    else:
        children = [(str(index), node[index]) for index in range(len(node))]
    for name, child in children:
        if not isinstance(child, DictConfig | ListConfig):
            continue
        try:
            OmegaConf.to_object(child)
        except ConfigError:
            return _failing_section(child, _join(path, name))
        except OmegaConfBaseException:
            continue
    return path


def _join(*parts: str) -> str:
    return ".".join(part for part in parts if part)


def check(condition: bool, key: str, problem: str) -> None:
    """Range check for a schema's `__post_init__`: raise ConfigError naming `key`, relative
    to the schema's own section or to its parent's (`to_schema` names it in full)."""
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
