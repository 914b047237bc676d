"""Thin entry points of the data pipeline's DVC stages (`dvc.yaml` calls them via the CLI).

Each function takes the validated pipeline config and the paths `dvc.yaml` gives it, calls
its stage's pure core, and writes outputs atomically: the paths are defined once, in
`dvc.yaml`'s `vars`, and every parameter value once, in `conf/`.

A failing stage keeps its previous outputs: `dvc.yaml` marks them `persist: true`, so DVC
leaves them in place while the command runs, and each function here writes all of its
outputs (data, metrics, plot CSV, figure) in one `atomic_outputs()` block, so they are
replaced together only when the stage succeeded: never a mix of old and new.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.core.atomic import atomic_outputs, write_json_atomic
from qraptor.core.errors import ConfigError, DataError, located
from qraptor.core.log import console, get_logger
from qraptor.data.budget import Budget
from qraptor.data.clean.frame import clean_folder
from qraptor.data.columns import columns_after_bars
from qraptor.data.download import CONNECTORS
from qraptor.data.features import compute_features, longest_window, resolve_windows, window_bars
from qraptor.data.ingest.files import ingest_files
from qraptor.data.panel_clean import cleaning_summary
from qraptor.data.panel_dataset import make_panel_dataset, materialise_panel_raw
from qraptor.data.parts import read_manifest
from qraptor.data.pipeline_config import PipelineConfig
from qraptor.data.plots import bars_overview, save_figure, split_overview, write_plot_csv
from qraptor.data.record import pipeline_settings
from qraptor.data.reduce.bars import reduce_folder
from qraptor.data.sources import materialise_raw, raw_files
from qraptor.data.split import make_dataset, plan

log = get_logger(__name__)


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Name the stage input in errors that come from inside a pure core (which has no path)."""
    if not path.exists():
        raise DataError(path, "missing: run the previous stage first (`dvc repro` runs all)")
    with located(path):
        yield


def run_raw(cfg: PipelineConfig, out_dir: Path, metrics: Path | None = None) -> dict[str, Any]:
    """Stage `raw`: copy the sample, generate synthetic ticks or download into `out_dir`."""
    summary = materialise_raw(cfg.data, out_dir)
    if metrics is not None:
        write_json_atomic(metrics, summary)
    return summary


def run_download(cfg: PipelineConfig, out_dir: Path, metrics: Path | None) -> dict[str, Any]:
    """`qraptor data download`: the `raw` stage of a connector source, on its own."""
    if cfg.data.source not in CONNECTORS:
        raise ConfigError(
            "data.source",
            f"'{cfg.data.source}' downloads nothing; a connector source is one of "
            f"{list(CONNECTORS)} (conf/data/binance_klines.yaml, ccxt_btc.yaml, yfinance_aapl"
            ".yaml); `qraptor data raw` materialises the others",
        )
    summary = run_raw(cfg, out_dir, metrics)
    files = summary.get("files", [])
    console.print(
        f"downloaded {len(files)} file(s) into {out_dir}"
        + (f", {len(summary['missing'])} missing" if summary.get("missing") else "")
    )
    return summary


def run_ingest(cfg: PipelineConfig, raw_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Stage `ingest`: raw CSV/Parquet files -> canonical Parquet parts."""
    files = raw_files(cfg.data, raw_dir, root=Path.cwd())
    return ingest_files(
        files,
        out_dir,
        kind=cfg.data.kind,
        columns=cfg.data.columns,
        timestamp=cfg.data.timestamp,
        fmt=cfg.data.files.format if cfg.data.files else "auto",
        csv=cfg.data.csv,
    )


def run_clean(
    cfg: PipelineConfig, in_dir: Path, out_dir: Path, metrics: Path, work_dir: Path
) -> dict[str, Any]:
    """Stage `clean`: validate, repair what is safe, report (DVC metrics + console)."""
    with _reading(in_dir), atomic_outputs() as outputs:
        kind = read_manifest(in_dir)["kind"]
        report = clean_folder(in_dir, outputs.dir(out_dir), kind, cfg.clean, work_dir)
        write_json_atomic(outputs.path(metrics), report.to_metrics())
    report.render(console)
    return report.to_metrics()


def run_reduce(
    cfg: PipelineConfig,
    in_dir: Path,
    out_path: Path,
    metrics: Path,
    plot_csv: Path,
    figure: Path,
) -> dict[str, Any]:
    """Stage `reduce`: ticks or bars -> the bars every later stage uses."""
    with _reading(in_dir):
        kind = read_manifest(in_dir)["kind"]
        bars = reduce_folder(in_dir, kind, cfg.reduce, timezone=cfg.data.timestamp.timezone)
        if bars.height == 0:
            raise DataError(in_dir, "reduction produced no bars (is the input empty?)")
    frame = bars.to_pandas()
    summary = _bar_summary(frame, cfg.reduce.kind)
    summary["input_kind"] = kind
    summary["frequency"] = cfg.reduce.freq if cfg.reduce.kind == "time" else None
    with atomic_outputs() as outputs:
        bars.write_parquet(outputs.path(out_path))
        write_json_atomic(outputs.path(metrics), summary)
        columns = {"timestamp": "timestamp", "close": "close", "volume": "volume"}
        write_plot_csv(frame, outputs.path(plot_csv), columns)
        title = f"{cfg.data.name}: {len(frame):,} {cfg.reduce.kind} bars"
        save_figure(bars_overview(frame, title), outputs.path(figure))
    return summary


def run_features(
    cfg: PipelineConfig, in_path: Path, out_path: Path, metrics: Path
) -> dict[str, Any]:
    """Stage `features`: causal features over the bars (warm-up rows dropped).

    The bar budget of the split that follows is checked here too, before anything is
    written: a too-short series gets one error with every limit it breaks (the warm-up
    included), not one error per stage and rerun.
    """
    with _reading(in_path):
        bars = pd.read_parquet(in_path)
        features, budget = _features_and_budget(bars, cfg)
        budget.raise_if_broken()
        budget.log_warnings()
    columns = columns_after_bars(features)
    summary = {
        "bars_in": len(bars),
        "rows_out": len(features),
        "warmup_rows_dropped": len(bars) - len(features),
        "features": len(columns),
        "feature_columns": columns,
        "warmup_share": round((len(bars) - len(features)) / len(bars), 6),
        "windows": window_bars(resolve_windows(cfg.features, bars["timestamp"])),
        "budget": budget.report(),
    }
    with atomic_outputs() as outputs:
        features.to_parquet(outputs.path(out_path), index=False)
        write_json_atomic(outputs.path(metrics), summary)
    log.info(
        "features: %d bars in, %d warm-up rows dropped, %d out, %d feature columns",
        len(bars), summary["warmup_rows_dropped"], len(features), len(columns),
    )  # fmt: skip
    return summary


def run_split(
    cfg: PipelineConfig, in_path: Path, out_dir: Path, metrics: Path, figure: Path
) -> dict[str, Any]:
    """Stage `split`: chronological and walk-forward splits, causally normalised."""
    with _reading(in_path), atomic_outputs() as outputs:
        features = pd.read_parquet(in_path)
        key, _ = longest_window(cfg.features, features["timestamp"])  # named in errors only
        folder = outputs.dir(out_dir)
        made = features.attrs.get("features", {}).get("config")
        settings = pipeline_settings(cfg, made, features["timestamp"])
        columns = columns_after_bars(features)
        meta = make_dataset(features, columns, cfg.split, folder, key, pipeline=settings)
        write_json_atomic(outputs.path(metrics), _split_metrics(meta))
        columns = ["timestamp", "close", "split"]
        dataset = pd.read_parquet(folder / "dataset.parquet", columns=columns)
        title = f"{cfg.data.name}: chronological split"
        save_figure(split_overview(dataset, title), outputs.path(figure))
    return meta


def run_panel_raw(cfg: PipelineConfig, out_dir: Path, metrics: Path) -> dict[str, Any]:
    """Stage `panel_raw`: the multi-asset source (sample or files) copied into `out_dir`."""
    from qraptor.core.paths import project_root

    with atomic_outputs() as outputs:
        summary = materialise_panel_raw(cfg.panel, outputs.dir(out_dir), project_root())
        write_json_atomic(outputs.path(metrics), {"name": cfg.panel.name, **summary})
    return summary


def run_panel_dataset(
    cfg: PipelineConfig, raw_dir: Path, out_dir: Path, metrics: Path
) -> dict[str, Any]:
    """Stage `panel_dataset`: read, check, featurise and split the panel (panel_dataset.py)."""
    with _reading(raw_dir), atomic_outputs() as outputs:
        meta = make_panel_dataset(
            raw_dir, cfg.panel, cfg.split, outputs.dir(out_dir), clean=cfg.clean
        )
        write_json_atomic(outputs.path(metrics), _panel_metrics(meta))
    return meta


def _panel_metrics(meta: dict[str, Any]) -> dict[str, Any]:
    """The panel's report for `dvc metrics show`: counts per span, instruments' problems."""
    instruments = meta["instruments"]
    return {
        "instruments": len(meta["symbols"]),
        "bars": meta["rows"],
        "warmup": meta["budget"]["warmup_rows"],
        "embargo_bars": meta["embargo_bars"],
        "chrono": meta["chrono"]["counts"],
        "folds": len(meta["walk_forward"]["folds"]),
        "missing_bars": sum(i["missing_bars"] for i in instruments.values()),
        "starts_late": sorted(s for s, i in instruments.items() if i["starts_late"]),
        "delisted": sorted(s for s, i in instruments.items() if i["delisted"]),
        "index": meta["index_symbol"],
        "cleaning": cleaning_summary(meta["cleaning"]),
    }


def _features_and_budget(bars: pd.DataFrame, cfg: PipelineConfig) -> tuple[pd.DataFrame, Budget]:
    """The features and the split's bar budget for them (the warm-up measured, or, when it
    takes every bar, estimated from the longest window)."""
    try:
        features = compute_features(bars, cfg.features)
    except DataError as exc:
        if exc.rule != "features_warmup":
            raise
        key, needed = longest_window(cfg.features, bars["timestamp"])
        _, _, budget = plan(
            bars["timestamp"].iloc[:0], cfg.split, len(bars), key, embargo_clock=bars["timestamp"]
        )
        budget.problems.insert(
            0,
            f"features warm-up: features.{key} needs about {needed} bars, the series has "
            f"{len(bars)}: the warm-up takes all of them (100%)",
        )
        return bars.iloc[:0], budget
    key, _ = longest_window(cfg.features, bars["timestamp"])
    # the embargo counted on the featurised bars, as the split stage counts it
    _, _, budget = plan(
        features["timestamp"], cfg.split, features.attrs["features"]["warmup_rows"], key
    )
    return features, budget


def _bar_summary(bars: pd.DataFrame, kind: str) -> dict[str, Any]:
    return {
        "bars": len(bars),
        "bar_kind": kind,
        "first": bars["timestamp"].iloc[0].isoformat(),
        "last": bars["timestamp"].iloc[-1].isoformat(),
        "volume": float(bars["volume"].sum()),
        "trades": int(bars["trades"].sum()),
    }


def _split_metrics(meta: dict[str, Any]) -> dict[str, Any]:
    """Keep the numbers of the split metadata (DVC metrics shows numbers and strings)."""
    flat: dict[str, Any] = {}
    for key, value in meta.items():
        if isinstance(value, int | float | str | bool) or value is None:
            flat[key] = value
        elif isinstance(value, dict):
            flat[key] = {
                k: v for k, v in value.items() if isinstance(v, int | float | str | bool | dict)
            }
    return flat
