"""Helpers of the study tests: the sample's data stages through `qraptor data`, splits.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qraptor.cli.main import main as qraptor_main

# The sessions of every study test: a fast dev run each (~0.5 s), no MLflow run.
TINY = ("experiment=tiny", "tracking.enabled=false")
WINDOW = 8  # env.window of experiment=tiny


def pipeline(work: Path, *split_overrides: str, features: Path | None = None) -> Path:
    """The sample's data stages via `qraptor data` (from `features` if given); the dataset."""
    steps: list[list[str]] = []
    if features is None:
        features = work / "features.parquet"
        steps = [
            ["raw", "--out", str(work / "raw")],
            ["ingest", "--raw", str(work / "raw"), "--out", str(work / "ingested")],
            ["clean", "--in", str(work / "ingested"), "--out", str(work / "clean"),
             "--metrics", str(work / "clean.json"), "--work", str(work / "tmp")],
            ["reduce", "--in", str(work / "clean"), "--out", str(work / "bars.parquet"),
             "--metrics", str(work / "reduce.json"), "--plot-csv", str(work / "bars.csv"),
             "--figure", str(work / "bars.png")],
            ["features", "--in", str(work / "bars.parquet"), "--out", str(features),
             "--metrics", str(work / "features.json")],
        ]  # fmt: skip
    dataset = work / "dataset"
    steps.append(
        ["split", "--in", str(features), "--out", str(dataset), "--metrics",
         str(work / "split.json"), "--figure", str(work / "splits.png"), *split_overrides]
    )  # fmt: skip
    for step in steps:
        assert qraptor_main(["data", *step]) == 0, step
    return dataset


def splits(dataset: Path) -> dict[str, Any]:
    return json.loads((dataset / "splits.json").read_text(encoding="utf-8"))
