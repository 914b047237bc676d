"""The DVC outputs the data page shows: bars, features, split metadata, cleaning report.

Paths come from dvc.yaml's `vars.paths` (where the pipeline defines them, once). Series are
reduced to at most `MAX_POINTS` buckets before they reach the browser (a page must render in
< 2 s whatever the number of bars: benchmarks/dashboard.py measures it), and results are
cached until the file changes.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from qraptor.analysis.project import project_paths
from qraptor.core.errors import QraptorError
from qraptor.dashboard.problems import Unavailable

MAX_POINTS = 2000
REPRO = "dvc repro"  # makes every output below (the stage names are in dvc.yaml)
T = TypeVar("T")


@dataclass(frozen=True)
class PipelinePaths:
    bars: Path
    features: Path
    dataset: Path
    clean_metrics: Path  # counts per rule (DVC metrics)
    clean_report: Path  # the full report with examples, beside the cleaned parts
    reduce_metrics: Path


def pipeline_paths(project: Path) -> PipelinePaths:
    """Where the stages write: dvc.yaml's `vars.paths` (read by `qraptor.analysis.project`,
    as the notebooks do). A folder without dvc.yaml is not a project: Unavailable."""
    try:
        paths = project_paths(project)
    except QraptorError as exc:
        raise Unavailable(
            str(project), str(exc), "qraptor dashboard --project <repo root>"
        ) from exc
    return PipelinePaths(
        bars=paths.bars,
        features=paths.features,
        dataset=paths.dataset,
        clean_metrics=paths.clean_metrics,
        clean_report=paths.clean / "clean_report.json",
        reduce_metrics=paths.metrics / "reduce.json",
    )


_cache: dict[tuple[str, str], tuple[int, Any]] = {}
_lock = threading.Lock()


def _cached(kind: str, path: Path, load: Callable[[Path], T], stage: str) -> T:
    """`load(path)`, reused until the file's mtime changes; Unavailable if it is missing."""
    if not path.exists():
        raise Unavailable(str(path), f"not found: the `{stage}` stage has not run here", REPRO)
    target = path / "splits.json" if path.is_dir() else path
    stamp = target.stat().st_mtime_ns if target.exists() else 0
    key = (kind, str(path))
    with _lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    value = load(path)
    with _lock:
        _cache[key] = (stamp, value)
    return value


def bucketed(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Consecutive bars merged into at most `max_points` buckets: first timestamp, open,
    max high, min low, last close, summed volume. Unlike every-k-th-row thinning, spikes
    stay visible (a bucket's high is the highest bar in it)."""
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    bucket = np.arange(len(frame)) * max_points // len(frame)
    rules = {"timestamp": "first", "open": "first", "high": "max", "low": "min", "close": "last"}
    rules = {k: v for k, v in rules.items() if k in frame}
    if "volume" in frame:
        rules["volume"] = "sum"
    return frame.groupby(bucket).agg(rules).reset_index(drop=True)


def thinned(frame: pd.DataFrame, max_points: int = MAX_POINTS) -> pd.DataFrame:
    """Every k-th row (last kept) of a series that is not a price (features, equity)."""
    if len(frame) <= max_points:
        return frame.reset_index(drop=True)
    step = -(-len(frame) // max_points)
    keep = np.zeros(len(frame), dtype=bool)
    keep[::step] = True
    keep[-1] = True
    return frame[keep].reset_index(drop=True)


@dataclass(frozen=True)
class BarsView:
    bars: int
    first: pd.Timestamp
    last: pd.Timestamp
    view: pd.DataFrame  # bucketed OHLCV


def bars_view(project: Path) -> BarsView:
    paths = pipeline_paths(project)

    def load(path: Path) -> BarsView:
        columns = ["timestamp", "open", "high", "low", "close", "volume"]
        bars = pd.read_parquet(path, columns=columns)
        return BarsView(
            len(bars), bars["timestamp"].iloc[0], bars["timestamp"].iloc[-1], bucketed(bars)
        )

    return _cached("bars", paths.bars, load, "reduce")


def reduce_summary(project: Path) -> dict[str, Any]:
    """The reduce stage's metrics (bar kind, frequency), {} when absent."""
    path = pipeline_paths(project).reduce_metrics
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


@dataclass(frozen=True)
class FeaturesView:
    columns: list[str]
    rows: int
    view: pd.DataFrame  # timestamp + every feature, thinned


def features_view(project: Path) -> FeaturesView:
    from qraptor.data.columns import columns_after_bars

    def load(path: Path) -> FeaturesView:
        frame = pd.read_parquet(path)
        columns = columns_after_bars(frame)
        return FeaturesView(columns, len(frame), thinned(frame[["timestamp", *columns]]))

    return _cached("features", pipeline_paths(project).features, load, "features")


def split_metadata(project: Path) -> dict[str, Any]:
    """The split stage's splits.json (spans, counts, folds)."""
    from qraptor.data.split import read_metadata

    return _cached("split", pipeline_paths(project).dataset, read_metadata, "split")


def clean_report(project: Path) -> dict[str, Any]:
    """The cleaning counts (DVC metrics) with, when present, each rule's description,
    action and example rows from the full report beside the cleaned parts."""
    paths = pipeline_paths(project)
    metrics = _cached("clean", paths.clean_metrics, _read_json, "clean")
    details: dict[str, Any] = {}
    if paths.clean_report.is_file():
        details = _read_json(paths.clean_report).get("details") or {}
    return {**metrics, "details": details}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def warm(project: Path) -> None:
    """Read every output once (in a background thread at start), so the first visitor of
    the data page does not pay the Parquet reads; missing outputs are left to the page."""
    for load in (bars_view, features_view, split_metadata, clean_report):
        try:
            load(project)
        except Unavailable:
            continue
