"""Composing Hydra configs from `conf/` and validating them against typed schemas."""

from qraptor.config.compose import compose, find_conf_dir
from qraptor.config.validate import check, to_schema

__all__ = ["check", "compose", "find_conf_dir", "to_schema"]
