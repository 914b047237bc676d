"""Composing Hydra configs from `conf/` and validating them against typed schemas."""

from qraptor.core.config.compose import compose, find_conf_dir
from qraptor.core.config.validate import check, load_group, to_schema

__all__ = ["check", "compose", "find_conf_dir", "load_group", "to_schema"]
