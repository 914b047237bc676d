"""The panel pipeline's stages (issue 16): raw files of N instruments to a split dataset.

`panel_raw` copies the configured source into the raw folder DVC versions (the shipped
S&P 500 sample from skfolio's wheel, or a user's wide file, long file or folder of
per-symbol files, and an optional index beside it). `panel_dataset` reads every symbol
(qraptor.data.panel_files: unreadable times or text in a price are refused naming the
file, symbol and row), cleans each one with the `clean` stage's rules and conf/clean's
settings (qraptor.data.panel_clean: a cleaning report per symbol), computes the causal
panel features (qraptor.data.panel_features: per instrument and cross-sectional, each
z-scored on its own past only), drops the leading
bars on which no instrument has every feature yet (the warm-up), and splits the remaining
calendar (the union of the symbols' bars) into the chronological spans and walk-forward
folds of conf/split, as the single-instrument split stage does (qraptor.data.split.plan:
the same embargo and bar budget). Output folder, written atomically::

    panel.parquet  long: timestamp, symbol, close (open when present), the features;
                   one row per bar an instrument has (a missing bar is no row)
    index.parquet  the benchmark index's closes on the panel's calendar, when one is given
    splits.json    kind "panel", symbols, spans and folds as [start_row, stop_row) of the
                   calendar, feature names, the feature settings
    pipeline.json  the settings that made it (a run's data.json and model card cite them)

qraptor.env.portfolio.load reads one split (or a fold's span) back as a `Panel`. No
normalisation is fitted on a training span here: the features are normalised causally
when they are made (an instrument's z-score at t uses its own bars up
to t), so every split and fold sees the same values.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qraptor.core.atomic import atomic_dir, stable_json_value
from qraptor.core.config import check
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger
from qraptor.data.clean.config import CleanConfig
from qraptor.data.panel_clean import clean_panel
from qraptor.data.panel_features import panel_features
from qraptor.data.panel_files import copy_sp500_sample, read_panel
from qraptor.data.split import (
    DATASET_FILE,
    FOLDS_DIR,
    METADATA_FILE,
    PIPELINE_FILE,
    SPLIT_LABELS,
    SplitConfig,
    plan,
    span_records,
)

log = get_logger(__name__)

PANEL_KIND = "panel"
PANEL_FILE = "panel.parquet"
INDEX_FILE = "index.parquet"
RAW_MANIFEST = "panel_raw.json"
FORMAT_VERSION = 1
SOURCES = ("sample", "files")
SAMPLE_INDEX_SYMBOL = "SP500"


@dataclass
class PanelFeaturesConfig:
    momentum: list[int]  # bars of the momentum features (the longest one is ranked)
    volatility: int  # bars of the volatility feature
    min_periods: int  # values before a feature's expanding z-score is defined
    clip: float  # z-scores clipped to +-clip

    def __post_init__(self) -> None:
        check(bool(self.momentum), "panel.features.momentum", "needs at least one window")
        check(all(m >= 1 for m in self.momentum), "panel.features.momentum", "windows >= 1")
        check(self.volatility >= 2, "panel.features.volatility", "must be >= 2")
        check(self.min_periods >= 2, "panel.features.min_periods", "must be >= 2")
        check(self.clip > 0, "panel.features.clip", "must be > 0")


@dataclass
class PanelConfig:
    """Schema of conf/panel/: where the instruments come from and their features."""

    name: str  # shown in reports and plots
    source: str  # sample (skfolio's S&P 500 sample) | files
    prices: str | None  # files: a wide file, a long file (symbol column) or a folder
    index: str | None  # files: a benchmark index (a file with a time and a close column)
    index_symbol: str | None  # the index's name in reports (the sample: SP500)
    fill: str  # close | open: the price column a decision fills at (close-only data: close)
    features: PanelFeaturesConfig = field(default_factory=lambda: PanelFeaturesConfig(
        [5, 21], 21, 63, 5.0))  # fmt: skip

    def __post_init__(self) -> None:
        check(self.source in SOURCES, "panel.source", f"valid: {', '.join(SOURCES)}")
        check(
            self.source != "files" or bool(self.prices),
            "panel.prices",
            "source=files needs the path of a wide/long file or a folder of per-symbol files",
        )
        check(self.fill in ("close", "open"), "panel.fill", "valid: close, open")


def materialise_panel_raw(cfg: PanelConfig, out_dir: Path, root: Path) -> dict[str, Any]:
    """Copy the configured panel source into `out_dir` (atomically); return what was copied."""
    with atomic_dir(out_dir) as tmp:
        if cfg.source == "sample":
            copied = copy_sp500_sample(tmp)
            prices = copied["prices"].name
            index_name: str | None = copied["index"].name
            symbol: str | None = cfg.index_symbol or SAMPLE_INDEX_SYMBOL
        else:
            assert cfg.prices is not None
            prices = _copy(_resolved(cfg.prices, root, "panel.prices"), tmp)
            index_name = (
                _copy(_resolved(cfg.index, root, "panel.index"), tmp) if cfg.index else None
            )
            symbol = cfg.index_symbol
        manifest = {"source": cfg.source, "prices": prices, "index": index_name,
                    "index_symbol": symbol if index_name else None}  # fmt: skip
        (tmp / RAW_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info("panel raw: %s (%s) -> %s", cfg.name, cfg.source, out_dir)
    return manifest


def make_panel_dataset(
    raw_dir: Path, cfg: PanelConfig, split: SplitConfig, out_dir: Path, *, clean: CleanConfig
) -> dict[str, Any]:
    """The panel dataset folder of the raw folder (module docstring); its metadata.
    `clean`: the pipeline's conf/clean settings, applied to every symbol (panel_clean.py)."""
    raw_dir = Path(raw_dir)
    manifest = _manifest(raw_dir)
    prices_path = raw_dir / manifest["prices"]
    frames, cleaning = clean_panel(read_panel(prices_path, check_values=False), clean, prices_path)
    if cfg.fill == "open":
        lacking = [s for s, f in frames.items() if "open" not in f.columns]
        if lacking:
            raise DataError(raw_dir / manifest["prices"], f"panel.fill=open but {lacking} "
                            "have no open column (close-only data fills at close)")  # fmt: skip
    f = cfg.features
    featured, names = panel_features(
        frames, momentum=f.momentum, volatility=f.volatility, min_periods=f.min_periods,
        clip=f.clip,
    )  # fmt: skip
    calendar = pd.DatetimeIndex(sorted(set().union(*(fr["timestamp"] for fr in frames.values()))))
    first = _first_defined(featured, names)
    kept = calendar[calendar >= first]
    warmup = len(calendar) - len(kept)
    timestamps = pd.Series(kept)
    spans, fold_spans, budget = plan(timestamps, split, warmup, "panel.features.min_periods")
    budget.raise_if_broken()
    budget.log_warnings()
    price_columns = ["close", *(["open"] if cfg.fill == "open" else [])]
    long = pd.concat(
        [
            fr.loc[fr["timestamp"] >= first, ["timestamp", *price_columns, *names]].assign(
                symbol=symbol
            )
            for symbol, fr in featured.items()
        ],
        ignore_index=True,
    )
    long = long[["timestamp", "symbol", *price_columns, *names]]
    long[names] = long[names].astype("float32")  # what the environment observes
    with atomic_dir(out_dir) as tmp:
        long.to_parquet(tmp / PANEL_FILE, index=False)
        index_symbol = None
        if manifest.get("index"):
            index_path = raw_dir / manifest["index"]
            index_frames, _ = clean_panel(read_panel(index_path, check_values=False), clean,
                                          index_path)  # fmt: skip
            index_symbol = manifest.get("index_symbol") or next(iter(index_frames))
            bars = next(iter(index_frames.values()))
            bars = bars.loc[(bars["timestamp"] >= kept[0]) & (bars["timestamp"] <= kept[-1])]
            _check_index_coverage(bars, kept, raw_dir / manifest["index"])
            bars[["timestamp", "close"]].to_parquet(tmp / INDEX_FILE, index=False)
        chrono = {"spans": span_records(spans, timestamps), "counts": _counts(spans)}
        folds = [
            {"fold": k, "spans": span_records(fs, timestamps), "counts": _counts(fs)}
            for k, fs in enumerate(fold_spans)
        ]
        metadata = {
            "format_version": FORMAT_VERSION,
            "kind": PANEL_KIND,
            "name": cfg.name,
            "symbols": list(frames),
            "index_symbol": index_symbol,
            "rows": len(kept),
            "row_convention": "spans are [start_row, stop_row) positions on the calendar (the "
            "union of the symbols' bar times from the first bar with features)",
            "fill": cfg.fill,
            "embargo": split.embargo,
            "embargo_bars": budget.embargo_bars,
            "budget": budget.report(),
            "columns": {"features": names, "observations": names},
            "normalize": {"method": "expanding per instrument", **asdict(cfg.features)},
            "instruments": _instruments(frames, kept),
            "cleaning": cleaning,  # per symbol: the clean stage's report
            "chrono": {**asdict(split.chrono), **chrono},
            "walk_forward": {**asdict(split.walk_forward), "folds": folds},
        }
        text = json.dumps(stable_json_value(metadata), indent=2) + "\n"
        (tmp / METADATA_FILE).write_text(text, encoding="utf-8")
        settings = _settings(cfg, split)
        text = json.dumps(stable_json_value(settings), indent=2, sort_keys=True) + "\n"
        (tmp / PIPELINE_FILE).write_text(text, encoding="utf-8")
    counts: dict[str, int] = chrono["counts"]  # type: ignore[assignment]
    log.info(
        "panel: %d instruments, %d bars (+%d warm-up) -> train %d, val %d, test %d; %d fold(s); %s",
        len(frames), len(kept), warmup, counts["train"], counts["val"], counts["test"],
        len(folds), out_dir,
    )  # fmt: skip
    return metadata


def is_panel_dataset(folder: str | Path) -> bool:
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        return False
    return json.loads(path.read_text(encoding="utf-8")).get("kind") == PANEL_KIND


def dataset_timestamps(folder: str | Path) -> pd.Series:
    """Every bar time of a dataset folder, either kind: a single instrument's rows or a
    panel's calendar (what a study annualises with)."""
    folder = Path(folder)
    if is_panel_dataset(folder):
        stamps = pd.read_parquet(folder / PANEL_FILE, columns=["timestamp"])["timestamp"]
        return pd.Series(np.sort(stamps.unique()), name="timestamp")
    return pd.read_parquet(folder / DATASET_FILE, columns=["timestamp"])["timestamp"]


def read_panel_metadata(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / METADATA_FILE
    if not path.is_file():
        raise DataError(folder, f"no {METADATA_FILE}: not a dataset folder; run `dvc repro`")
    metadata = json.loads(path.read_text(encoding="utf-8"))
    if metadata.get("kind") != PANEL_KIND:
        raise DataError(
            folder, "is a single-instrument dataset, not a panel: a portfolio session "
            "(env=portfolio) trains on the panel_dataset stage's folder (data/processed/panel)",
        )  # fmt: skip
    return dict(metadata)


def span_rows(metadata: dict[str, Any], split: str, fold: int | None) -> tuple[int, int]:
    """[start, stop) calendar rows of `split` (train | val | test) of the chronological
    split or of walk-forward fold `fold`."""
    if fold is None:
        spans = metadata["chrono"]["spans"]
    else:
        folds = metadata["walk_forward"]["folds"]
        if not 0 <= fold < len(folds):
            raise DataError(None, f"no fold {fold}: the panel has {len(folds)} fold(s)")
        if split == "val":
            raise DataError(None, "walk-forward folds have no 'val' span; use train or test")
        spans = folds[fold]["spans"]
    found = [s for s in spans.values() if s["label"] == split]
    if not found:
        raise DataError(None, f"unknown split '{split}'; valid: train, val, test")
    return int(found[0]["start_row"]), int(found[0]["stop_row"])


def _settings(cfg: PanelConfig, split: SplitConfig) -> dict[str, Any]:
    """pipeline.json of a panel: what made it (a run's data.json and model card read it).
    `bars` is null: the panel's bars are the files' own, not reduced from ticks."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": PANEL_KIND,
        "data": {"name": cfg.name, "source": cfg.source, "kind": "bars"},
        "panel": asdict(cfg),
        "split": asdict(split),
        "bars": None,
    }


def _instruments(frames: dict[str, pd.DataFrame], kept: pd.DatetimeIndex) -> dict[str, Any]:
    """Per symbol: first and last bar, bars, bars missing on the calendar, delisted."""
    out = {}
    for symbol, frame in frames.items():
        stamps = pd.DatetimeIndex(frame["timestamp"])
        inside = stamps[stamps >= kept[0]]
        span = kept[(kept >= inside[0]) & (kept <= inside[-1])] if len(inside) else kept[:0]
        out[symbol] = {
            "first": stamps[0].isoformat(),
            "last": stamps[-1].isoformat(),
            "bars": len(stamps),
            "missing_bars": int(len(span) - len(inside)),
            "starts_late": bool(len(inside) and inside[0] > kept[0]),
            "delisted": bool(stamps[-1] < kept[-1]),
        }
    return out


def _first_defined(featured: dict[str, pd.DataFrame], names: list[str]) -> pd.Timestamp:
    """The first bar at which some instrument has every feature (the end of the warm-up)."""
    firsts = []
    for frame in featured.values():
        defined = np.isfinite(frame[names].to_numpy(dtype=np.float64)).all(axis=1)
        if defined.any():
            firsts.append(frame["timestamp"].iloc[int(np.flatnonzero(defined)[0])])
    if not firsts:
        raise DataError(None, "no instrument has enough bars for the panel features "
                        "(panel.features: momentum, volatility, min_periods)",
                        rule="features_warmup")  # fmt: skip
    return min(firsts)


INDEX_COVERAGE = 0.5  # below this share of the panel's bars, the index is on another clock


def _check_index_coverage(bars: pd.DataFrame, kept: pd.DatetimeIndex, path: Path) -> None:
    """Refuse an index whose times miss most of the panel's bars (another time of day or
    time zone): its baseline would sit in cash, not hold the index."""
    matched = float(kept.isin(pd.DatetimeIndex(bars["timestamp"])).mean())
    if matched < INDEX_COVERAGE:
        raise DataError(
            path, f"the index has a bar at only {matched:.0%} of the panel's bar times: are its "
            "timestamps at another time of day or in another time zone than the prices'?",
            rule="panel_index",
        )  # fmt: skip


def _counts(spans: list[Any]) -> dict[str, int]:
    counts = dict.fromkeys(SPLIT_LABELS, 0)
    for s in spans:
        counts[s.label] += max(0, s.stop - s.start)
    return counts


def _manifest(raw_dir: Path) -> dict[str, Any]:
    path = raw_dir / RAW_MANIFEST
    if not path.is_file():
        raise DataError(raw_dir, f"no {RAW_MANIFEST}: run the panel_raw stage first")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _resolved(path: str | None, root: Path, key: str) -> Path:
    assert path is not None
    resolved = Path(path).expanduser()
    resolved = resolved if resolved.is_absolute() else root / resolved
    if not resolved.exists():
        raise DataError(resolved, f"{key}: no such file or folder", rule="panel_files")
    return resolved


def _copy(source: Path, dest: Path) -> str:
    target = dest / source.name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copyfile(source, target)
    return source.name


__all__ = [
    "FOLDS_DIR",
    "PanelConfig",
    "is_panel_dataset",
    "make_panel_dataset",
    "materialise_panel_raw",
]
