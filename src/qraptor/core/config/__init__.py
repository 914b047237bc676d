"""Composing Hydra configs from `conf/` and validating them against typed schemas."""

from qraptor.core.config.compose import (
    compose,
    compose_command,
    find_conf_dir,
    root_groups,
    scope_overrides,
)
from qraptor.core.config.validate import check, load_section, to_schema

__all__ = [
    "check",
    "compose",
    "compose_command",
    "find_conf_dir",
    "load_section",
    "root_groups",
    "scope_overrides",
    "to_schema",
]
