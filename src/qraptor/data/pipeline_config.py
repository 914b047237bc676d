"""The data pipeline's typed configuration, composed from `conf/pipeline.yaml`.

Every stage validates the whole pipeline config before it starts, so a typo anywhere in
`conf/` fails at once with the key named, not halfway through a long `dvc repro`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from qraptor.core.config import compose, to_schema
from qraptor.data.clean.frame import CleanConfig
from qraptor.data.features import FeaturesConfig
from qraptor.data.reduce.bars import ReduceConfig
from qraptor.data.sources import DataConfig
from qraptor.data.split import SplitConfig

PIPELINE_CONFIG = "pipeline"


@dataclass
class PipelineConfig:
    data: DataConfig
    clean: CleanConfig
    reduce: ReduceConfig
    features: FeaturesConfig
    split: SplitConfig


def load_pipeline_config(
    overrides: Sequence[str] = (), conf_dir: str | Path | None = None
) -> PipelineConfig:
    """Compose `conf/pipeline.yaml` with Hydra `overrides` and validate every section."""
    composed = compose(PIPELINE_CONFIG, overrides, conf_dir)
    return PipelineConfig(
        data=to_schema(composed.data, DataConfig, "data"),
        clean=to_schema(composed.clean, CleanConfig, "clean"),
        reduce=to_schema(composed.reduce, ReduceConfig, "reduce"),
        features=to_schema(composed.features, FeaturesConfig, "features"),
        split=to_schema(composed.split, SplitConfig, "split"),
    )
