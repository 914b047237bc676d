"""The data pipeline's typed configuration, composed from `conf/pipeline.yaml`.

Every stage validates the whole pipeline config before it starts, so a typo anywhere in
`conf/` fails at once with the key named, not halfway through a long `dvc repro`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf

from qraptor.core.config import compose, find_conf_dir, scope_overrides, to_schema
from qraptor.core.errors import ConfigError
from qraptor.data.clean.frame import CleanConfig
from qraptor.data.features import FeaturesConfig
from qraptor.data.panel_dataset import PanelConfig
from qraptor.data.reduce.bars import ReduceConfig
from qraptor.data.sources import DataConfig
from qraptor.data.split import SplitConfig

PIPELINE_CONFIG = "pipeline"
GROUPS = ("data", "clean", "reduce", "features", "split", "panel")
S = TypeVar("S")


@dataclass
class PipelineConfig:
    data: DataConfig
    clean: CleanConfig
    reduce: ReduceConfig
    features: FeaturesConfig
    split: SplitConfig
    panel: PanelConfig  # the multi-asset dataset (its own stages; split settings shared)


def load_pipeline_config(
    overrides: Sequence[str] = (), conf_dir: str | Path | None = None
) -> PipelineConfig:
    """Compose `conf/pipeline.yaml` with Hydra `overrides` and validate every section."""
    composed = compose_pipeline(overrides, conf_dir)
    return PipelineConfig(
        data=to_schema(composed.data, DataConfig, "data"),
        clean=to_schema(composed.clean, CleanConfig, "clean"),
        reduce=to_schema(composed.reduce, ReduceConfig, "reduce"),
        features=to_schema(composed.features, FeaturesConfig, "features"),
        split=to_schema(composed.split, SplitConfig, "split"),
        panel=to_schema(composed.panel, PanelConfig, "panel"),
    )


def compose_pipeline(
    overrides: Sequence[str] = (), conf_dir: str | Path | None = None
) -> DictConfig:
    """`conf/pipeline.yaml` composed with its `groups` choices and Hydra `overrides`.

    The file's `groups` mapping names the option of each config group (dvc.yaml reads it by
    name, so the choice is made once); a group override (``data=synthetic``) wins over it.
    """
    folder = Path(conf_dir).resolve() if conf_dir else find_conf_dir()
    path = folder / f"{PIPELINE_CONFIG}.yaml"
    loaded = OmegaConf.load(path) if path.is_file() else None
    groups = loaded.get("groups") if isinstance(loaded, DictConfig) else None
    if not isinstance(groups, DictConfig) or set(groups) != set(GROUPS):
        raise ConfigError(
            "groups",
            f"{path} must name one file of each group under `groups:` ({', '.join(GROUPS)}), "
            "e.g. `groups: {data: sample_eurusd, clean: default, reduce: hourly, features: "
            "default, split: default, panel: sample_sp500}`; its defaults list is filled from them",
        )
    overridden = {o.lstrip("+~").split("=", 1)[0] for o in overrides if "=" in o}
    choices = [f"{group}={groups[group]}" for group in GROUPS if group not in overridden]
    return compose(PIPELINE_CONFIG, [*choices, *overrides], folder)


def load_pipeline_section(
    group: str, schema: type[S], overrides: Sequence[str] = (), conf_dir: str | Path | None = None
) -> S:
    """One stage's section of the pipeline config (``features``, ``split``...) with Hydra
    `overrides` relative to it (``window=32`` or ``features.window=32``), validated: for code
    and tests that need one stage's settings, as the pipeline would compose them."""
    if group not in GROUPS:
        raise ConfigError(group, f"not a pipeline group; valid: {', '.join(GROUPS)}")
    scoped = scope_overrides(overrides, GROUPS, group)
    return to_schema(compose_pipeline(scoped, conf_dir)[group], schema, group)
