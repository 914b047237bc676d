"""The data stages `dvc repro` runs, called in process into a folder (tests' helper)."""

from __future__ import annotations

import json
from pathlib import Path

from qraptor.cli import data_stages as stages
from qraptor.data.pipeline_config import PipelineConfig


def data_stages(cfg: PipelineConfig, root: Path) -> dict[str, dict]:
    """raw -> ingest -> clean -> reduce -> features -> split into `root`; the metrics."""
    raw, ingested, clean = root / "raw", root / "ingested", root / "clean"
    metrics = root / "metrics"
    stages.run_raw(cfg, raw)
    stages.run_ingest(cfg, raw, ingested)
    stages.run_clean(cfg, ingested, clean, metrics / "clean.json", root / "tmp")
    stages.run_reduce(cfg, clean, root / "bars.parquet", metrics / "reduce.json",
                      root / "bars.csv", root / "bars.png")  # fmt: skip
    stages.run_features(cfg, root / "bars.parquet", root / "features.parquet",
                        metrics / "features.json")  # fmt: skip
    stages.run_split(cfg, root / "features.parquet", root / "dataset", metrics / "split.json",
                     root / "splits.png")  # fmt: skip
    return {p.stem: json.loads(p.read_text()) for p in metrics.glob("*.json")}
