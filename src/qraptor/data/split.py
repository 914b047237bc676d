"""Stage `split`: chronological train/val/test, walk-forward folds, causal normalisation.

Spans are half-open row ranges ``[start, stop)`` over the featurised bars, always in time
order: train, then val, then test, never overlapping. An embargo (`embargo`: bars, or a
duration counted on the bars, see qraptor.data.lengths) is cut from the end of the span
*before* each boundary, so validation and test keep their length and start exactly where
configured, and no training bar sits right next to a bar it is evaluated on (serially
correlated neighbours would leak across the boundary).

Walk-forward folds tile a region (the bars before the chronological test span, unless
`exclude_test` is false) into `n_folds` consecutive test windows; each fold trains on
the bars before its test window (all of them: `expanding`; a window of fixed length:
`rolling`), minus the embargo.

Output folder (written atomically, see `load_split` and issue 3's environment)::

    dataset.parquet        timestamp, bar columns, raw features, z_<feature>, split
    folds/fold-NN.parquet  the rows of fold NN, normalised with that fold's training span
    splits.json            boundaries, embargo, column names, normalisation settings/stats
    pipeline.json          the data stages' settings (qraptor.data.record.pipeline_settings)

``split`` is one of train / val / test / embargo / warmup; ``warmup`` marks training bars
whose normalised values are still undefined (fewer than `normalize.min_periods` bars).

Before anything is written, the bar budget (qraptor.data.budget) checks every limit at once
(feature warm-up, embargoes, spans, min_periods, each fold): a too-short series gets one
error listing all of them, and a warning when warm-up and embargoes take more than
`lost_share_warning` of the bars.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from qraptor.core.atomic import atomic_dir, stable_json_value
from qraptor.core.config import check
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger
from qraptor.data.budget import Budget, account
from qraptor.data.lengths import BarClock, Length, check_length, describe
from qraptor.data.normalize import Z_PREFIX, NormalizeConfig, normalize, z_columns

log = get_logger(__name__)

SPLIT_LABELS = ("train", "val", "test", "embargo", "warmup")
DATASET_FILE = "dataset.parquet"
FOLDS_DIR = "folds"
METADATA_FILE = "splits.json"
PIPELINE_FILE = "pipeline.json"  # the settings of the stages that made it (data/record.py)
FORMAT_VERSION = 1


@dataclass
class ChronoConfig:
    by: str  # fractions | dates
    train_fraction: float  # share of bars before validation starts (by=fractions)
    val_fraction: float  # share of bars from validation start to test start
    val_start: str | None  # first validation bar, ISO time, UTC if no offset (by=dates)
    test_start: str | None


@dataclass
class WalkForwardConfig:
    enabled: bool
    n_folds: int
    scheme: str  # expanding | rolling training windows
    train_fraction: float  # share of the region the first fold trains on
    exclude_test: bool  # keep the chronological test span (and its embargo) out of folds


@dataclass
class SplitConfig:
    """Schema of conf/split. The chronological split is always made; folds optionally."""

    embargo: Length  # bars, a duration (2d) or min/max of them (min(48, 2d))
    lost_share_warning: float  # warn when warm-up + embargoes take more of the bars
    chrono: ChronoConfig
    walk_forward: WalkForwardConfig
    normalize: NormalizeConfig

    def __post_init__(self) -> None:
        c, wf = self.chrono, self.walk_forward
        check_length(self.embargo, "embargo", minimum=0)
        check(0 <= self.lost_share_warning <= 1, "lost_share_warning", "must be in [0, 1]")
        check(c.by in ("fractions", "dates"), "chrono.by", "must be 'fractions' or 'dates'")
        if c.by == "fractions":
            check(0 < c.train_fraction < 1, "chrono.train_fraction", "must be in (0, 1)")
            check(0 < c.val_fraction < 1, "chrono.val_fraction", "must be in (0, 1)")
            check(
                c.train_fraction + c.val_fraction < 1,
                "chrono.val_fraction",
                f"train_fraction + val_fraction = {c.train_fraction + c.val_fraction:g} "
                "leaves no room for the test span; the sum must be < 1",
            )
        else:
            val_start = _parse_time(c.val_start, "chrono.val_start")
            test_start = _parse_time(c.test_start, "chrono.test_start")
            check(val_start < test_start, "chrono.test_start", "must be after chrono.val_start")
        check(wf.n_folds >= 1, "walk_forward.n_folds", "must be >= 1")
        check(
            wf.scheme in ("expanding", "rolling"),
            "walk_forward.scheme",
            f"unknown scheme '{wf.scheme}'; valid: expanding, rolling",
        )
        check(0 < wf.train_fraction < 1, "walk_forward.train_fraction", "must be in (0, 1)")


def _parse_time(value: str | None, key: str) -> pd.Timestamp:
    check(value is not None, key, "required when chrono.by is 'dates'")
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        check(False, key, f"'{value}' is not an ISO date/time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


@dataclass(frozen=True)
class Span:
    """Rows ``[start, stop)`` carrying split label `label`."""

    name: str
    label: str
    start: int
    stop: int


def embargo_bars(timestamps: pd.Series, cfg: SplitConfig) -> int:
    """`cfg.embargo` in bars of this series (a duration is counted on its bars)."""
    return BarClock(timestamps).bars(cfg.embargo, "split.embargo", minimum=0)


def chrono_spans(
    timestamps: pd.Series, cfg: SplitConfig, embargo: int | None = None, strict: bool = True
) -> list[Span]:
    """Train, embargo, val, embargo, test spans over `timestamps` (time order).

    `embargo` in bars (default: `cfg.embargo` counted on `timestamps`); `strict` raises on
    an empty span (the bar budget collects them instead).
    """
    e = embargo_bars(timestamps, cfg) if embargo is None else embargo
    n, c = len(timestamps), cfg.chrono
    if c.by == "fractions":
        val_cut, test_cut = int(n * c.train_fraction), int(n * (c.train_fraction + c.val_fraction))
    else:
        ts = pd.to_datetime(timestamps, utc=True)
        val_cut = int(ts.searchsorted(_parse_time(c.val_start, "chrono.val_start")))
        test_cut = int(ts.searchsorted(_parse_time(c.test_start, "chrono.test_start")))
    spans = [
        Span("train", "train", 0, val_cut - e),
        Span("embargo_before_val", "embargo", val_cut - e, val_cut),
        Span("val", "val", val_cut, test_cut - e),
        Span("embargo_before_test", "embargo", test_cut - e, test_cut),
        Span("test", "test", test_cut, n),
    ]
    if strict:
        _check_spans(spans, n, "split.chrono")
    return spans


def walk_forward_folds(
    region_stop: int, cfg: SplitConfig, embargo: int, strict: bool = True
) -> list[list[Span]]:
    """Per fold: train, embargo, test spans over rows ``[0, region_stop)`` (`embargo` bars)."""
    wf, e = cfg.walk_forward, embargo
    first_cut = int(region_stop * wf.train_fraction)
    test_bars = (region_stop - first_cut) // wf.n_folds
    folds = []
    for k in range(wf.n_folds):
        cut = first_cut + k * test_bars
        stop = region_stop if k == wf.n_folds - 1 else cut + test_bars
        start = 0 if wf.scheme == "expanding" else cut - first_cut
        spans = [
            Span("train", "train", start, cut - e),
            Span("embargo", "embargo", cut - e, cut),
            Span("test", "test", cut, stop),
        ]
        if strict:
            _check_spans(spans, region_stop, f"split.walk_forward (fold {k})")
        folds.append(spans)
    return folds


def _check_spans(spans: list[Span], n_rows: int, key: str) -> None:
    for span in spans:
        if span.stop <= span.start and span.label != "embargo":
            layout = ", ".join(f"{s.name} [{s.start}, {s.stop})" for s in spans)
            raise DataError(
                None,
                f"{key}: the {span.name} span is empty with {n_rows} bars ({layout}); "
                "use more data, other fractions/dates or a shorter embargo",
                rule="split_spans",
            )


def plan(
    timestamps: pd.Series,
    cfg: SplitConfig,
    warmup: int = 0,
    warmup_key: str = "?",
    embargo_clock: pd.Series | None = None,
) -> tuple[list[Span], list[list[Span]], Budget]:
    """The chronological spans, the folds and the bar budget of these featurised bars.

    `warmup` is the number of leading bars the features stage dropped (`warmup_key` names
    the feature window that set it); the budget's problems list every broken limit (raise
    with `Budget.raise_if_broken`). The embargo is counted on `embargo_clock` (default:
    `timestamps`, as the split stage counts it); only an estimate for bars the warm-up took
    entirely passes the bars themselves.
    """
    clock = timestamps if embargo_clock is None else embargo_clock
    e = embargo_bars(clock, cfg) if len(clock) else 0
    spans = chrono_spans(timestamps, cfg, e, strict=False)
    fold_spans: list[list[Span]] = []
    if cfg.walk_forward.enabled:
        region_stop = spans[3].start if cfg.walk_forward.exclude_test else len(timestamps)
        fold_spans = walk_forward_folds(max(0, region_stop), cfg, e, strict=False)
    budget = Budget(
        bars_in=len(timestamps) + warmup,
        warmup=warmup,
        warmup_key=warmup_key,
        embargo=describe(cfg.embargo, e),
        embargo_bars=e,
        lost_share_warning=cfg.lost_share_warning,
    )
    account(budget, spans, fold_spans, cfg.normalize.min_periods)
    return spans, fold_spans, budget


def make_dataset(
    features: pd.DataFrame | pl.DataFrame,
    feature_columns: Sequence[str],
    cfg: SplitConfig,
    out_dir: Path,
    warmup_key: str = "?",
    pipeline: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Split, normalise and write the dataset folder atomically; return its metadata.

    `pipeline`: the data stages' settings (`qraptor.data.record.pipeline_settings`), written
    as pipeline.json so that a trained agent can be used on other bars.

    Every limit a too-short series breaks is reported in one DataError before anything is
    written; the feature warm-up is read from ``features.attrs["features"]`` when the
    frame comes from the features stage (its parquet keeps it), `warmup_key` names the
    feature window that set it.
    """
    frame = features.to_pandas() if isinstance(features, pl.DataFrame) else features
    made = frame.attrs.get("features", {})
    frame = frame.reset_index(drop=True)
    columns = list(feature_columns)
    _validate_features(frame, columns)
    observations = z_columns(columns)

    spans, fold_spans, budget = plan(
        frame["timestamp"], cfg, int(made.get("warmup_rows", 0)), warmup_key
    )
    budget.raise_if_broken()
    budget.log_warnings()

    # Fold frames are written as soon as they are made: only one is in memory at a time.
    fold_meta: list[dict[str, Any]] = []
    with atomic_dir(out_dir) as tmp:
        dataset, chrono_meta = _normalised(frame, columns, spans, cfg.normalize)
        dataset.to_parquet(tmp / DATASET_FILE, index=False)
        del dataset
        for k, fold in enumerate(fold_spans):
            fold_frame, meta = _normalised(frame, columns, fold, cfg.normalize)
            meta = {"fold": k, "file": f"{FOLDS_DIR}/fold-{k:02d}.parquet", **meta}
            (tmp / FOLDS_DIR).mkdir(exist_ok=True)
            fold_frame.to_parquet(tmp / meta["file"], index=False)
            fold_meta.append(meta)
        metadata = {
            "format_version": FORMAT_VERSION,
            "rows": len(frame),
            "row_convention": "spans are [start_row, stop_row) positions in dataset.parquet "
            "(a fold file holds rows [its train start_row, its test stop_row)); first/last "
            "are the timestamps of a span's first and last bar",
            "embargo": cfg.embargo,
            "embargo_bars": budget.embargo_bars,
            "budget": budget.report(),
            "columns": {
                "timestamp": "timestamp",
                "bars": [c for c in frame.columns if c not in columns and c != "timestamp"],
                "features": columns,
                "observations": observations,
                "split": "split",
            },
            "split_labels": list(SPLIT_LABELS),
            "normalize": {**asdict(cfg.normalize), "prefix": Z_PREFIX},
            "chrono": {**asdict(cfg.chrono), **chrono_meta},
            "walk_forward": {**asdict(cfg.walk_forward), "folds": fold_meta},
        }
        text = json.dumps(stable_json_value(metadata), indent=2) + "\n"
        (tmp / METADATA_FILE).write_text(text, encoding="utf-8")
        if pipeline is not None:
            text = json.dumps(stable_json_value(pipeline), indent=2, sort_keys=True) + "\n"
            (tmp / PIPELINE_FILE).write_text(text, encoding="utf-8")
    counts = chrono_meta["counts"]
    log.info(
        "split: %d bars -> train %d (+%d warm-up), val %d, test %d, embargo %d; %d fold(s); %s",
        len(frame), counts["train"], counts["warmup"], counts["val"], counts["test"],
        counts["embargo"], len(fold_meta), out_dir,
    )  # fmt: skip
    return metadata


def _normalised(
    frame: pd.DataFrame, columns: list[str], spans: list[Span], cfg: NormalizeConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The spans' rows of `frame`, z columns fitted on their training span, `split` label.

    Normalisation runs over all rows, so `rolling` mode sees the bars before a fold's
    first training bar as the history they are.
    """
    train = spans[0]
    rows = slice(spans[0].start, spans[-1].stop)
    z, fitted = normalize(frame, columns, cfg, train.start, train.stop)
    z = z.iloc[rows]
    labels = np.empty(rows.stop - rows.start, dtype=object)
    for span in spans:
        labels[span.start - rows.start : span.stop - rows.start] = span.label
    undefined = z.isna().any(axis=1).to_numpy()
    labels[undefined & (labels == "train")] = "warmup"
    leaked = np.flatnonzero(undefined & (labels != "warmup"))
    if len(leaked):  # cannot happen with train >= min_periods; guards the invariant
        raise DataError(None, f"rows {(leaked[:5] + rows.start).tolist()} lack a z value")
    out = pd.concat([frame.iloc[rows], z], axis=1).reset_index(drop=True)
    out["split"] = pd.Series(labels, dtype="str")
    meta = {
        "spans": span_records(spans, frame["timestamp"]),
        "counts": {label: int((labels == label).sum()) for label in SPLIT_LABELS},
        "fitted": fitted,
    }
    return out, meta


def span_records(spans: Sequence[Span], timestamps: pd.Series) -> dict[str, dict[str, Any]]:
    """splits.json's record of each span: label, rows, first and last timestamps."""
    ts = timestamps
    return {
        s.name: {
            "label": s.label,
            "start_row": s.start,
            "stop_row": s.stop,
            "rows": s.stop - s.start,
            "first": ts.iloc[s.start].isoformat() if s.stop > s.start else None,
            "last": ts.iloc[s.stop - 1].isoformat() if s.stop > s.start else None,
        }
        for s in spans
    }


def _validate_features(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in ["timestamp", *columns] if c not in frame.columns]
    if missing:
        raise DataError(None, f"features lack column(s) {missing}", rule="feature_columns")
    taken = [c for c in ["split", *z_columns(columns)] if c in frame.columns]
    if taken:
        raise DataError(None, f"column(s) {taken} already exist; they are outputs", rule="columns")
    values = frame[columns].to_numpy(dtype="float64")
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        raise DataError(
            None,
            f"{len(bad)} rows have undefined (NaN/inf) features; run the features stage",
            rule="features_defined",
            rows=[f"row {i} at {frame['timestamp'].iloc[i]}" for i in bad[:5]],
        )
    back = np.flatnonzero((frame["timestamp"].diff() <= pd.Timedelta(0)).to_numpy())
    if len(back):
        raise DataError(
            None,
            "timestamps are not strictly increasing",
            rule="timestamps_increasing",
            rows=[f"row {i} at {frame['timestamp'].iloc[i]}" for i in back[:5]],
        )


def read_metadata(folder: str | Path) -> dict[str, Any]:
    """The splits.json of a dataset folder written by `make_dataset`."""
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise DataError(folder, f"no {METADATA_FILE}: not a dataset folder; run the split stage")
    return json.loads(path.read_text(encoding="utf-8"))


def observation_columns(folder: str | Path) -> list[str]:
    """The normalised columns an agent observes (z_<feature>), in a stable order."""
    return list(read_metadata(folder)["columns"]["observations"])


def load_split(folder: str | Path, split: str, fold: int | None = None) -> pd.DataFrame:
    """Rows of one split, in time order: of the chronological dataset, or of fold `fold`.

    `split` is a label (train, val, test, embargo, warmup) or "all". Rows labelled
    ``train`` always have every observation defined. Folds hold train/test/embargo/warmup.
    """
    folder = Path(folder)
    metadata = read_metadata(folder)
    if split not in (*SPLIT_LABELS, "all"):
        raise DataError(folder, f"unknown split '{split}'; valid: {', '.join(SPLIT_LABELS)}, all")
    if fold is None:
        path = folder / DATASET_FILE
    else:
        fold_files = [f["file"] for f in metadata["walk_forward"]["folds"]]
        if not 0 <= fold < len(fold_files):
            raise DataError(folder, f"no fold {fold}: the dataset has {len(fold_files)} fold(s)")
        if split == "val":
            raise DataError(folder, "walk-forward folds have no 'val' span; use train or test")
        path = folder / fold_files[fold]
    filters = None if split == "all" else [("split", "==", split)]
    return pd.read_parquet(path, filters=filters).reset_index(drop=True)
