"""Where a project's pipeline outputs are, as `dvc.yaml` defines them.

The paths live once, in `dvc.yaml`'s ``vars.paths``; this module reads them from there rather
than repeating them, so notebooks and the dashboard look where `dvc repro` writes. A missing
output is a `DataError` that names the file and the command that makes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from qraptor.core.errors import ConfigError, DataError, QraptorError
from qraptor.core.paths import find_project_root as core_project_root

PROJECT_ENV = "QRAPTOR_PROJECT"
DVC_FILE = "dvc.yaml"


@dataclass(frozen=True)
class ProjectPaths:
    """The pipeline outputs of one project, absolute."""

    root: Path
    clean: Path  # cleaned data folder (holds the full clean report with examples)
    bars: Path
    features: Path
    dataset: Path
    metrics: Path  # folder of the DVC metrics JSON files
    plots: Path  # folder of the DVC plot CSVs
    agent: Path  # run folder of the `train` stage

    @property
    def clean_metrics(self) -> Path:
        return self.metrics / "clean.json"

    @property
    def evaluate_metrics(self) -> Path:
        return self.metrics / "evaluate.json"

    def equity_csv(self, split: str) -> Path:
        """The `evaluate` stage's equity curves (agent and baselines) of one split."""
        return self.plots / f"equity_{split}.csv"


def find_project_root(start: str | Path | None = None) -> Path:
    """The project (qraptor.core.paths) whose `dvc.yaml` declares the outputs: `start` itself
    when given, else found at or above the current directory (notebooks run from
    `notebooks/`, one level down)."""
    if start:
        root = Path(start).expanduser().resolve()
        if not (root / DVC_FILE).is_file():
            raise QraptorError(f"{root}: no {DVC_FILE}, so not a qraptor project ({PROJECT_ENV})")
        return root
    here = Path.cwd().resolve()
    try:
        root = core_project_root(here)
    except ConfigError:
        root = here
    if not (root / DVC_FILE).is_file():
        raise QraptorError(
            f"no {DVC_FILE} at or above {here}: set {PROJECT_ENV} to the project's root folder"
        )
    return root


def project_from_environment() -> Path:
    """The project of a notebook: $QRAPTOR_PROJECT, else found from the current directory."""
    return find_project_root(os.environ.get(PROJECT_ENV) or None)


def project_paths(root: str | Path) -> ProjectPaths:
    """The outputs `dvc.yaml` under `root` declares (its ``vars.paths``), made absolute."""
    root = find_project_root(root)
    declared = yaml.safe_load((root / DVC_FILE).read_text(encoding="utf-8")) or {}
    paths: dict[str, str] = {}
    for entry in declared.get("vars") or []:
        if isinstance(entry, dict) and isinstance(entry.get("paths"), dict):
            paths.update(entry["paths"])
    needed = ("clean", "bars", "features", "dataset", "metrics", "plots", "agent")
    missing = [name for name in needed if name not in paths]
    if missing:
        raise QraptorError(f"{root / DVC_FILE}: vars.paths lacks {', '.join(missing)}")
    return ProjectPaths(root=root, **{name: root / paths[name] for name in needed})


def require(path: Path, stage: str) -> Path:
    """`path` if it exists, else a DataError naming it and the `dvc repro` that writes it."""
    if not path.exists():
        raise DataError(
            path,
            f"missing: the `{stage}` stage writes it; run `dvc repro {stage}` "
            "(or `dvc repro` for the whole pipeline)",
        )
    return path
