"""New market data -> what a trained agent observes, through the stages that made its training
data, with its own settings (data.json), never refitted.

    raw file(s) --ingest--> parts --clean--> parts --reduce--> bars
                --features + frozen z (qraptor.data.record.observations_from_bars)--> observations

The file is read with the run's data settings (columns, timestamp format, CSV shape:
``pipeline.data``), or with another data config's (a conf/data name or a YAML file: other
columns or format, the same bars made of them); cleaning, bar reduction and features use the
run's own settings. Each stage is the pipeline's core function, run in a scratch folder.

Refused, saying what differs: a file without the columns the mapping needs (ingest names the
file and the columns), bars of another spacing than the model's (daily bars to an hourly
model), features other than the model's, or too few bars for the features' warm-up and one
observation window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.core.config import to_schema
from qraptor.core.errors import DataError, located
from qraptor.core.log import get_logger, human_count
from qraptor.data.clean.frame import CleanConfig, clean_folder
from qraptor.data.ingest.files import ingest_files
from qraptor.data.record import features_config
from qraptor.data.record_bars import check_bar_spacing, features_of_bars
from qraptor.data.reduce.bars import ReduceConfig, reduce_folder
from qraptor.data.sources import DataConfig, materialise_raw, raw_files

log = get_logger(__name__)


@dataclass(frozen=True)
class BarsSource:
    """Where new bars come from: `files` read with `data`'s settings, or `data`'s own source
    (a sample, the user's files, a download) when `files` is empty."""

    data: DataConfig
    files: tuple[Path, ...] = ()

    def describe(self) -> dict[str, Any]:
        files = [str(f) for f in self.files]
        return {"data": self.data.name, "source": self.data.source, "files": files}


@dataclass(frozen=True)
class Observations:
    """The rebuilt span: bars with the run's features and z-scores, and how it was made."""

    frame: pd.DataFrame  # timestamp, prices, features, z_<feature>: one row per usable bar
    bars_in: int  # bars the reduction made
    warmup_rows: int  # dropped: features and normalisation not yet defined
    cut_rows: int  # dropped by --start/--end
    files: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        stamps = self.frame["timestamp"]
        return {
            "files": self.files,
            "bars_in": self.bars_in,
            "warmup_rows": self.warmup_rows,
            "cut_rows": self.cut_rows,
            "bars": len(self.frame),
            "first": pd.Timestamp(stamps.iloc[0]).isoformat(),
            "last": pd.Timestamp(stamps.iloc[-1]).isoformat(),
        }


def run_data_config(record: dict[str, Any]) -> DataConfig:
    """The data settings the run's bars were read with (pipeline.data of data.json)."""
    return to_schema(_pipeline(record)["data"], DataConfig, "data")


def rebuild_observations(
    record: dict[str, Any],
    source: BarsSource,
    work_dir: Path,
    *,
    window: int,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    root: Path | None = None,
) -> Observations:
    """The observations of `source`'s bars for the run of `record` (module docstring), cut
    to [`start`, `end`] after the warm-up (earlier bars still feed the features); at least
    `window` + 1 bars must remain (one observation window and one step)."""
    pipeline = _pipeline(record)
    work_dir = Path(work_dir)
    files = _files(source, work_dir, root)
    named = (
        ", ".join(str(f) for f in files)
        if source.files
        else f"data config '{source.data.name}' ({source.data.source} source)"
    )
    with located(named):
        bars = _bars(record, source.data, files, work_dir, pipeline)
        check_bar_spacing(bars, record, named)
        frame = features_of_bars(bars, record, window, named)
    warmup = len(bars) - len(frame)
    kept = _within(frame["timestamp"], start, end)
    observations = frame.loc[kept].reset_index(drop=True)
    cut = len(frame) - len(observations)
    if len(observations) < window + 1:
        raise DataError(
            named,
            f"too few bars: {len(bars)} bars in, {warmup} taken by the features' warm-up, "
            f"{cut} outside --start/--end, {len(observations)} left; the model needs "
            f"env.window + 1 = {window + 1} (one observation window and one step)",
            rule="too_few_bars",
        )
    log.info(
        "rebuilt %s bars from %s: %d warm-up, %d cut, %s observed (%s to %s)",
        human_count(len(bars)), named, warmup, cut, human_count(len(observations)),
        observations["timestamp"].iloc[0], observations["timestamp"].iloc[-1],
    )  # fmt: skip
    return Observations(observations, len(bars), warmup, cut, [str(f) for f in files])


def _pipeline(record: dict[str, Any]) -> dict[str, Any]:
    features_config(record)  # the DataError for a record without pipeline settings
    return dict(record["pipeline"])


def _files(source: BarsSource, work_dir: Path, root: Path | None) -> list[Path]:
    if source.files:
        missing = [f for f in source.files if not Path(f).is_file()]
        if missing:
            raise DataError(missing[0], "no such file", rule="data_file")
        return [Path(f) for f in source.files]
    raw = work_dir / "raw"
    materialise_raw(source.data, raw)
    return raw_files(source.data, raw, root=root or Path.cwd())


def _bars(
    record: dict[str, Any],
    data: DataConfig,
    files: list[Path],
    work_dir: Path,
    pipeline: dict[str, Any],
) -> pd.DataFrame:
    """ingest -> clean -> reduce with the run's clean and reduce settings."""
    clean_cfg = to_schema(pipeline["clean"], CleanConfig, "clean")
    reduce_cfg = to_schema(pipeline["reduce"], ReduceConfig, "reduce")
    ingested, cleaned = work_dir / "ingested", work_dir / "clean"
    fmt = data.files.format if data.files else "auto"
    ingest_files(
        files, ingested, kind=data.kind, columns=data.columns, timestamp=data.timestamp,
        fmt=fmt, csv=data.csv,
    )  # fmt: skip
    clean_folder(ingested, cleaned, data.kind, clean_cfg, work_dir / "tmp")  # logs its counts
    bars = reduce_folder(cleaned, data.kind, reduce_cfg, timezone=data.timestamp.timezone)
    if bars.height == 0:
        raise DataError(None, "the reduction made no bars (is the file empty?)")
    return bars.to_pandas()


def _within(stamps: pd.Series, start: pd.Timestamp | None, end: pd.Timestamp | None) -> pd.Series:
    stamps = pd.to_datetime(stamps, utc=True)
    kept = pd.Series(True, index=stamps.index)
    if start is not None:
        kept &= stamps >= start
    if end is not None:
        kept &= stamps <= end
    return kept
