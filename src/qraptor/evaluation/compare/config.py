"""Schema of conf/compare: what `qraptor compare` puts side by side and how it summarises.

Types and ranges only; every value lives in conf/compare/default.yaml.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from omegaconf import DictConfig

from qraptor.core.config import check, load_section, to_schema
from qraptor.evaluation.baseline_names import BASELINES, PORTFOLIO_BASELINES
from qraptor.evaluation.metric_names import METRIC_NAMES

SPLITS = ("train", "val", "test")


@dataclass
class BootstrapConfig:
    reps: int  # stratified-bootstrap resamples per interval
    confidence: float  # coverage of every interval
    seed: int

    def __post_init__(self) -> None:
        check(self.reps >= 100, "bootstrap.reps", "must be >= 100 for a usable interval")
        check(0 < self.confidence < 1, "bootstrap.confidence", "must be in (0, 1)")
        check(self.seed >= 0, "bootstrap.seed", "must be >= 0")


@dataclass
class CompareReportConfig:
    dir: str  # folder of the HTML reports
    equity_plots: int  # sessions drawn against their baselines
    max_params: int  # config keys in the Sharpe-vs-parameter plots

    def __post_init__(self) -> None:
        check(bool(self.dir.strip()), "report.dir", "must name a folder")
        check(self.equity_plots >= 0, "report.equity_plots", "must be >= 0")
        check(self.max_params >= 0, "report.max_params", "must be >= 0")


@dataclass
class CompareConfig:
    """Schema of conf/compare/default.yaml."""

    split: str
    also_show: list[str]
    metrics: list[str]
    baseline: str
    beat_metric: str
    seed_keys: list[str]
    stratum_keys: list[str]
    ignore_keys: list[str]
    limit: int
    bootstrap: BootstrapConfig
    report: CompareReportConfig
    mlflow_ui: str | None

    def __post_init__(self) -> None:
        check(self.split in SPLITS, "split", f"valid: {', '.join(SPLITS)}")
        bad = [s for s in self.also_show if s not in SPLITS]
        check(not bad, "also_show", f"unknown {bad}; valid: {', '.join(SPLITS)}")
        bad = [m for m in self.metrics if m not in METRIC_NAMES]
        check(not bad, "metrics", f"unknown {bad}; valid: {', '.join(METRIC_NAMES)}")
        check(bool(self.metrics), "metrics", "name at least one metric")
        known = dict.fromkeys((*BASELINES, *PORTFOLIO_BASELINES))  # a portfolio: equal_weight
        check(self.baseline in known, "baseline", f"valid: {', '.join(known)}")
        check(self.beat_metric in METRIC_NAMES, "beat_metric", "must be a metric name")
        check(self.limit >= 1, "limit", "must be >= 1")
        check(
            self.mlflow_ui is None or self.mlflow_ui.startswith(("http://", "https://")),
            "mlflow_ui",
            "must be an http(s):// URL or null",
        )


def compare_config_from(section: DictConfig | dict) -> CompareConfig:
    return to_schema(section, CompareConfig, "compare")


def load_compare_config(overrides: Sequence[str] = ()) -> CompareConfig:
    """The `compare` section of conf/qraptor.yaml with Hydra `overrides` (``split=test``),
    validated."""
    return load_section("qraptor", "compare", CompareConfig, overrides)
