"""What the data pipeline produced, as frames a researcher reads before training on it.

Loaders read the `dvc repro` outputs (bars, features, the split dataset and its metadata,
the cleaning report); the rest are pure functions of frames: gaps between bars (is a gap a
weekend or a hole in the data?), the shape of the returns (fat tails make Sharpe ratios
noisier than a normal model says), how the return distribution changes across the splits
(a regime the agent never trained on), and how much the features repeat each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from qraptor.analysis.project import ProjectPaths, require
from qraptor.data.columns import columns_after_bars
from qraptor.data.split import DATASET_FILE, METADATA_FILE, read_metadata

CLEAN_REPORT_FILE = "clean_report.json"  # beside the cleaned data: the report with examples


# -- loading the pipeline outputs -------------------------------------------------------


def load_bars(paths: ProjectPaths) -> pd.DataFrame:
    """The reduced bars (`reduce` stage), one row per bar in time order."""
    return pd.read_parquet(require(paths.bars, "reduce"))


def load_features(paths: ProjectPaths) -> pd.DataFrame:
    """Bars with their causal features (`features` stage), warm-up rows already dropped."""
    return pd.read_parquet(require(paths.features, "features"))


def load_dataset(paths: ProjectPaths) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The split dataset (every row labelled train/val/test/embargo/warmup) and its metadata."""
    require(paths.dataset / METADATA_FILE, "split")
    dataset = pd.read_parquet(require(paths.dataset / DATASET_FILE, "split"))
    return dataset, read_metadata(paths.dataset)


def load_clean_report(paths: ProjectPaths) -> dict[str, Any]:
    """The cleaning report: the full one (with example rows) when the cleaned data is there,
    else the DVC metrics file (counts only), which git keeps even when the data is not."""
    full = paths.clean / CLEAN_REPORT_FILE
    source = full if full.is_file() else require(paths.clean_metrics, "clean")
    return json.loads(source.read_text(encoding="utf-8"))


def feature_names(features: pd.DataFrame) -> list[str]:
    """The feature columns of a features frame (everything that is not a bar column)."""
    return [c for c in columns_after_bars(features) if c != "split"]


# -- cleaning ---------------------------------------------------------------------------


def clean_report_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per cleaning rule: rows found, what was done, the first example if any.

    Rules that found something come first: they are what to look at.
    """
    details = report.get("details") or {}
    rows = []
    for rule, count in (report.get("rules") or {}).items():
        detail = details.get(rule, {})
        examples = detail.get("examples") or []
        rows.append(
            {
                "rule": rule,
                "rows": int(count),
                "action": detail.get("action", ""),
                "violation": detail.get("violation"),
                "description": detail.get("description", ""),
                "first_example": examples[0] if examples else "",
            }
        )
    table = pd.DataFrame(
        rows, columns=["rule", "rows", "action", "violation", "description", "first_example"]
    )
    return table.sort_values("rows", ascending=False, kind="stable").reset_index(drop=True)


# -- gaps -------------------------------------------------------------------------------


def bar_spacing(timestamps: pd.Series) -> pd.Timedelta:
    """The usual time between consecutive bars (the median: robust to the gaps themselves)."""
    deltas = pd.Series(pd.to_datetime(timestamps, utc=True)).diff().dropna()
    if deltas.empty:
        raise ValueError("bar spacing needs at least two bars")
    return deltas.median()


def find_gaps(
    timestamps: pd.Series, *, min_gap: pd.Timedelta | str | None = None, factor: float = 1.5
) -> pd.DataFrame:
    """Every stretch without bars longer than `min_gap` (default: `factor` x the usual spacing).

    Columns: ``last_before`` and ``first_after`` (the bars around the gap), ``duration``,
    ``missing_bars`` (bars the usual spacing would have put there) and ``over_weekend``
    (the gap covers a Saturday or Sunday: expected for FX and stocks, while a gap on a
    weekday is a hole in the data a backtest silently steps over).
    """
    stamps = pd.Series(pd.to_datetime(timestamps, utc=True)).reset_index(drop=True)
    spacing = bar_spacing(stamps)
    threshold = pd.Timedelta(min_gap) if min_gap is not None else factor * spacing
    deltas = stamps.diff()
    after = deltas.index[deltas > threshold]
    gaps = pd.DataFrame(
        {
            "last_before": stamps.iloc[after - 1].to_numpy(),
            "first_after": stamps.iloc[after].to_numpy(),
            "duration": deltas.iloc[after].to_numpy(),
        }
    )
    gaps["missing_bars"] = (gaps["duration"] / spacing).round().astype("int64") - 1
    gaps["over_weekend"] = [
        _covers_weekend(a, b) for a, b in zip(gaps["last_before"], gaps["first_after"], strict=True)
    ]
    return gaps


def gap_summary(gaps: pd.DataFrame) -> pd.DataFrame:
    """Gaps counted by kind (weekend or weekday), with their longest and total duration."""
    kinds = np.where(gaps["over_weekend"], "weekend", "weekday")
    summary = gaps.groupby(kinds)["duration"].agg(["count", "max", "sum"])
    summary = summary.reindex(["weekend", "weekday"])
    summary["count"] = summary["count"].fillna(0).astype("int64")
    summary.index.name = "kind"
    return summary.rename(columns={"max": "longest", "sum": "total"})


def _covers_weekend(start: pd.Timestamp, end: pd.Timestamp) -> bool:
    days = pd.date_range(start.normalize(), end.normalize(), freq="D")
    return bool((days.day_of_week >= 5).any())


# -- returns ----------------------------------------------------------------------------


def log_returns(bars: pd.DataFrame, horizon: int = 1) -> pd.Series:
    """Log returns of the close over `horizon` bars, indexed by the bar they end at."""
    close = bars.set_index("timestamp")["close"]
    return np.log(close / close.shift(horizon)).dropna().rename(f"log_return_{horizon}")


def return_statistics(returns: pd.Series) -> pd.Series:
    """Moments and extremes of returns, with the Jarque-Bera test of normality.

    Excess kurtosis well above 0 means fat tails: extreme bars come far more often than a
    normal model predicts, so Sharpe ratios and drawdowns are less certain than they look.
    """
    r = returns.dropna().to_numpy(dtype=np.float64)
    jarque_bera = stats.jarque_bera(r) if len(r) > 2 else None
    return pd.Series(
        {
            "count": len(r),
            "mean": r.mean() if len(r) else np.nan,
            "std": r.std(ddof=1) if len(r) > 1 else np.nan,
            "skewness": stats.skew(r) if len(r) > 2 else np.nan,
            "excess_kurtosis": stats.kurtosis(r) if len(r) > 3 else np.nan,
            "min": r.min() if len(r) else np.nan,
            "q01": np.quantile(r, 0.01) if len(r) else np.nan,
            "median": np.median(r) if len(r) else np.nan,
            "q99": np.quantile(r, 0.99) if len(r) else np.nan,
            "max": r.max() if len(r) else np.nan,
            "jarque_bera_p": float(jarque_bera.pvalue) if jarque_bera else np.nan,
        },
        name=returns.name,
    )


def tail_frequencies(returns: pd.Series, sigmas: Sequence[float] = (2, 3, 4, 5)) -> pd.DataFrame:
    """How often |return - mean| exceeds k standard deviations, against a normal's odds."""
    r = returns.dropna().to_numpy(dtype=np.float64)
    z = np.abs((r - r.mean()) / r.std(ddof=1))
    observed = np.array([(z > k).mean() for k in sigmas])
    normal = np.array([2.0 * stats.norm.sf(k) for k in sigmas])
    return pd.DataFrame(
        {
            "sigmas": list(sigmas),
            "observed": observed,
            "normal": normal,
            "ratio": observed / normal,
        },
    )


def returns_by_split(
    dataset: pd.DataFrame, splits: Sequence[str] = ("train", "val", "test")
) -> pd.DataFrame:
    """`return_statistics` of the 1-bar log returns within each split, one column per split.

    A validation or test span whose volatility or tails differ much from training is a
    market the agent has not seen: read its results with that in mind.
    """
    returns = log_returns(dataset[["timestamp", "close"]]).reindex(dataset["timestamp"])
    labels = dataset["split"].to_numpy()
    columns = {
        split: return_statistics(pd.Series(returns.to_numpy()[labels == split]))
        for split in splits
        if (labels == split).any()
    }
    return pd.DataFrame(columns)


# -- splits -----------------------------------------------------------------------------


def split_spans(metadata: dict[str, Any]) -> pd.DataFrame:
    """The chronological spans (train, embargoes, val, test): rows and first/last bar."""
    spans = metadata["chrono"]["spans"]
    return pd.DataFrame(
        [
            {
                "span": name,
                "label": span["label"],
                "rows": span["rows"],
                "first": pd.Timestamp(span["first"]),
                "last": pd.Timestamp(span["last"]),
            }
            for name, span in spans.items()
        ]
    )


def walk_forward_folds(metadata: dict[str, Any]) -> pd.DataFrame:
    """One row per walk-forward fold and span (train, embargo, test); empty if disabled."""
    folds = (metadata.get("walk_forward") or {}).get("folds") or []
    rows = [
        {
            "fold": fold["fold"],
            "span": name,
            "rows": span["rows"],
            "first": pd.Timestamp(span["first"]),
            "last": pd.Timestamp(span["last"]),
        }
        for fold in folds
        for name, span in fold["spans"].items()
    ]
    return pd.DataFrame(rows, columns=["fold", "span", "rows", "first", "last"])


# -- features ---------------------------------------------------------------------------


def feature_correlations(
    features: pd.DataFrame, columns: Sequence[str] | None = None, method: str = "spearman"
) -> pd.DataFrame:
    """Pairwise correlation of the features (Spearman by default: robust to fat tails)."""
    chosen = list(columns) if columns is not None else feature_names(features)
    return features[chosen].corr(method=method)


def correlated_pairs(correlations: pd.DataFrame, threshold: float = 0.8) -> pd.DataFrame:
    """Feature pairs with |correlation| >= threshold, strongest first: near-duplicates the
    agent sees twice (candidates to drop from the observation)."""
    names = list(correlations.columns)
    values = correlations.to_numpy()
    upper = np.triu_indices(len(names), k=1)
    pairs = pd.DataFrame(
        {
            "feature_a": [names[i] for i in upper[0]],
            "feature_b": [names[j] for j in upper[1]],
            "correlation": values[upper],
        }
    )
    strong = pairs[pairs["correlation"].abs() >= threshold]
    order = strong["correlation"].abs().sort_values(ascending=False, kind="stable").index
    return strong.loc[order].reset_index(drop=True)
