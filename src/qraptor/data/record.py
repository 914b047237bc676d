"""The data path a run was trained on, recorded so that its agent can be used on other bars.

A trained agent is only usable on bars prepared exactly as its training bars were: the same
cleaning and reduction, the same features with the same windows, and the z-scores of its
own training span, frozen (refitting them on new data would feed the agent numbers on
another scale, and would look ahead on the new span). Two files carry this:

* the split stage writes ``pipeline.json`` into the dataset folder: the validated settings
  of every data stage (``data``, ``clean``, ``reduce``, ``features`` with its windows
  resolved to bars, ``split``) and the bars' spacing;
* training writes ``data.json`` into the run folder (`run_record`): those settings, the
  fold, the feature and observation columns, the normalisation with its fitted statistics,
  the spans trained and evaluated on, and the dataset's version.

`observations_from_bars` turns bars into what the agent observes with nothing but a run's
record; on the bars the dataset was made from it gives the dataset's values bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from qraptor.core import layout
from qraptor.core.atomic import stable_json_value
from qraptor.core.config import to_schema
from qraptor.core.errors import DataError
from qraptor.core.provenance import data_version
from qraptor.data.features import FeaturesConfig, compute_features
from qraptor.data.normalize import NormalizeConfig, normalize, z_columns
from qraptor.data.split import PIPELINE_FILE, read_metadata

if TYPE_CHECKING:
    from qraptor.data.pipeline_config import PipelineConfig

FORMAT_VERSION = 1
SPANS = ("train", "val", "test")


def pipeline_settings(
    cfg: PipelineConfig, features: dict[str, Any] | None, timestamps: pd.Series
) -> dict[str, Any]:
    """What the split stage records in the dataset folder (``pipeline.json``, written by
    `qraptor.data.split.make_dataset`).

    `features`: the features stage's settings with windows resolved to bars (the features
    parquet's ``attrs["features"]["config"]``), so that a duration such as ``1mo`` means the
    same number of bars on any other series; None falls back to the configured windows.
    `timestamps`: the featurised bars', for their spacing.
    """
    spacing = pd.Series(pd.to_datetime(timestamps, utc=True)).diff().dt.total_seconds()
    return stable_json_value(
        {
            "format_version": FORMAT_VERSION,
            "data": asdict(cfg.data),
            "clean": asdict(cfg.clean),
            "reduce": asdict(cfg.reduce),
            "features": features if features is not None else asdict(cfg.features),
            "split": asdict(cfg.split),
            "bars": {
                "kind": cfg.reduce.kind,
                "freq": cfg.reduce.freq if cfg.reduce.kind == "time" else None,
                "spacing_seconds": float(spacing.median()) if len(spacing) > 1 else None,
            },
        }
    )


def read_pipeline_settings(dataset_dir: Path) -> dict[str, Any] | None:
    """The dataset's ``pipeline.json``; None for a dataset made before it was recorded."""
    path = Path(dataset_dir) / PIPELINE_FILE
    if not path.is_file():
        return None
    return dict(json.loads(path.read_text(encoding="utf-8")))


def run_record(dataset_dir: Path, fold: int | None, root: Path | None = None) -> dict[str, Any]:
    """What a run folder's ``data.json`` holds for a session trained on `dataset_dir`
    (walk-forward fold `fold`, or the chronological split when None)."""
    dataset_dir = Path(dataset_dir)
    metadata = read_metadata(dataset_dir)
    if fold is None:
        part = metadata["chrono"]
    else:
        folds = metadata["walk_forward"]["folds"]
        if not 0 <= fold < len(folds):
            raise DataError(dataset_dir, f"no fold {fold}: the dataset has {len(folds)} fold(s)")
        part = folds[fold]
    spans: dict[str, dict[str, Any]] = {}
    for span in part["spans"].values():
        label = span["label"]
        if label in SPANS and span["rows"] > 0:
            spans[label] = {"first": span["first"], "last": span["last"], "rows": span["rows"]}
    pipeline = read_pipeline_settings(dataset_dir)
    return stable_json_value(
        {
            "format_version": FORMAT_VERSION,
            "pipeline": pipeline,
            "fold": fold,
            "columns": {
                "features": list(metadata["columns"]["features"]),
                "observations": list(metadata["columns"]["observations"]),
            },
            "normalize": {**metadata["normalize"], "fitted": part.get("fitted", {})},
            "spans": spans,
            "bars": pipeline["bars"] if pipeline else None,
            "dataset": data_version(dataset_dir, root),
            **({"instruments": metadata["symbols"]} if "symbols" in metadata else {}),
        }
    )


def load_run_record(run_dir: Path) -> dict[str, Any]:
    """A run folder's ``data.json`` (DataError naming the file when it is missing)."""
    path = Path(run_dir) / layout.DATA_RECORD
    if not path.is_file():
        raise DataError(
            path,
            "missing: this run predates data records (issue 15) or is not a run folder; "
            "retrain it to use it on other data",
            rule="data_record",
        )
    return dict(json.loads(path.read_text(encoding="utf-8")))


def features_config(record: dict[str, Any]) -> FeaturesConfig:
    """The run's feature settings (windows in bars), validated."""
    pipeline = record.get("pipeline")
    if not pipeline:
        raise DataError(
            None,
            "the run's data record has no pipeline settings (its dataset predates "
            "pipeline.json): rerun the split stage and retrain",
            rule="data_record",
        )
    return to_schema(pipeline["features"], FeaturesConfig, "features")


def observations_from_bars(bars: pd.DataFrame, record: dict[str, Any]) -> pd.DataFrame:
    """`bars` (timestamp, open, high, low, close, volume; vwap and trades carried when
    present) with the run's raw features and their z-scores (``z_<feature>``), warm-up rows
    dropped: the feature warm-up, then, for rolling normalisation, the bars before its
    window fills. The z-scores use the run's frozen training statistics (``expanding``) or
    each bar's own trailing window (``rolling``); nothing is fitted on `bars`.
    """
    frame = compute_features(bars, features_config(record))
    columns = list(record["columns"]["features"])
    made = list(frame.attrs["features"]["columns"])
    if made != columns:
        raise DataError(
            None,
            f"the features made from these bars ({made}) are not the run's ({columns})",
            rule="features_mismatch",
        )
    z = frozen_z(frame, columns, record["normalize"])
    out = pd.concat([frame, z], axis=1)
    defined = z.notna().all(axis=1).to_numpy()
    out = out.loc[defined].reset_index(drop=True)
    warmup = int((~defined).sum())
    out.attrs["features"] = {**frame.attrs["features"], "normalised_warmup_rows": warmup}
    return out


def frozen_z(frame: pd.DataFrame, columns: list[str], settings: dict[str, Any]) -> pd.DataFrame:
    """The z-scores of `columns` with a run's recorded normalisation (`settings`: method,
    window, min_periods, clip, fitted). The same arithmetic as the split stage's, so the
    same bars give the same bits."""
    cfg = NormalizeConfig(
        method=settings["method"],
        window=int(settings["window"]),
        min_periods=int(settings["min_periods"]),
        clip=settings["clip"],
    )
    if cfg.method == "rolling":
        z, _ = normalize(frame, columns, cfg, 0, len(frame))
        return z
    fitted = settings.get("fitted") or {}
    missing = [c for c in columns if c not in fitted.get("mean", {})]
    if missing:
        raise DataError(None, f"the run's data record has no fitted statistics for {missing}")
    z = np.empty((len(frame), len(columns)))
    for j, column in enumerate(columns):
        x = frame[column].to_numpy(dtype="float64")
        mean, std = float(fitted["mean"][column]), float(fitted["std"][column])
        with np.errstate(divide="ignore", invalid="ignore"):
            z[:, j] = (x - mean) / std
        if std == 0:
            z[:, j] = 0.0
    if cfg.clip is not None:
        np.clip(z, -cfg.clip, cfg.clip, out=z)
    return pd.DataFrame(z, columns=z_columns(columns), index=frame.index)
