"""Stage `raw`: materialise the configured raw data source under `data/raw/`.

Three sources, picked by `conf/data/<name>.yaml`:

* ``sample``: real market data that an installed package carries (gym-anytrading's hourly
  EUR/USD and daily GOOGL bars), copied at run time, never committed;
* ``synthetic``: seeded synthetic ticks (see `synthetic.py`), for scale tests and planted
  signals;
* ``files``: the user's own files, kept where they are (a DVC-tracked folder under
  `data/raw/`, usually); this stage only records where they are;
* ``dumps``, ``ccxt``, ``yfinance``: downloaded by a connector (`qraptor.data.download`)
  into the stage's output, so DVC caches and versions what was fetched.
"""

from __future__ import annotations

import glob as globlib
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from qraptor.core.atomic import atomic_dir
from qraptor.core.config import check
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger
from qraptor.core.provenance import file_sha256
from qraptor.data.download import CONNECTORS, download
from qraptor.data.download.config import CcxtConfig, DumpsConfig, YfinanceConfig
from qraptor.data.ingest.csvshape import CsvConfig
from qraptor.data.ingest.files import FilesConfig, is_data_file
from qraptor.data.ingest.timestamps import TimestampConfig
from qraptor.data.synthetic.tape import SyntheticConfig, write_synthetic

log = get_logger(__name__)

SOURCES = ("sample", "synthetic", "files", *CONNECTORS)


@dataclass
class SampleConfig:
    """A data file shipped inside an installed Python package."""

    package: str
    resource: str


@dataclass
class DataConfig:
    """One raw dataset: where it comes from and how its files are written."""

    name: str
    source: str  # sample | synthetic | files | dumps | ccxt | yfinance
    kind: str  # ticks | bars
    sample: SampleConfig | None
    files: FilesConfig | None
    columns: dict[str, str]
    timestamp: TimestampConfig
    synthetic: SyntheticConfig | None
    csv: CsvConfig = field(default_factory=CsvConfig)  # header or none (positions)
    # the connectors' sections: absent (null) unless the source is that connector
    dumps: DumpsConfig | None = None
    ccxt: CcxtConfig | None = None
    yfinance: YfinanceConfig | None = None

    def __post_init__(self) -> None:
        check(self.source in SOURCES, "source", f"must be one of {list(SOURCES)}")
        check(self.kind in ("ticks", "bars"), "kind", "must be 'ticks' or 'bars'")
        check(
            getattr(self, self.source) is not None,
            self.source,
            f"source is '{self.source}' but the '{self.source}' section is empty",
        )
        check(
            self.source != "synthetic" or self.kind == "ticks",
            "kind",
            "the synthetic source makes ticks",
        )


def materialise_raw(cfg: DataConfig, out_dir: Path) -> dict[str, Any]:
    """Write the raw files of a sample, synthetic or connector source into `out_dir`
    (atomically); return what the stage records as its metrics."""
    if cfg.source in CONNECTORS:
        section = getattr(cfg, cfg.source)
        return download(cfg.source, section, out_dir, timezone=cfg.timestamp.timezone)
    if cfg.source == "sample":
        assert cfg.sample is not None
        source = _sample_path(cfg.sample)
        with atomic_dir(out_dir) as tmp:
            shutil.copyfile(source, tmp / Path(cfg.sample.resource).name)
        log.info("raw: copied sample %s from %s", Path(source).name, cfg.sample.package)
        copied = out_dir / Path(cfg.sample.resource).name
        return {
            "source": "sample",
            "files": 1,
            "package": cfg.sample.package,
            "resource": cfg.sample.resource,
            "sha256": file_sha256(copied),
            "bytes": copied.stat().st_size,
        }
    if cfg.source == "synthetic":
        assert cfg.synthetic is not None
        summary = write_synthetic(cfg.synthetic, out_dir)
        return {"source": "synthetic", **summary}
    with atomic_dir(out_dir) as tmp:
        assert cfg.files is not None
        (tmp / "README.txt").write_text(
            f"source=files: qraptor reads the raw files from {cfg.files.glob}\n",
            encoding="utf-8",
        )
    return {"source": "files"}


def raw_files(cfg: DataConfig, raw_dir: Path, root: Path | None = None) -> list[Path]:
    """The raw files the ingest stage reads, in order (name order = time order for daily files)."""
    if cfg.source == "files":
        assert cfg.files is not None
        pattern = cfg.files.glob
        if root is not None and not Path(pattern).is_absolute():
            pattern = str(root / pattern)
        found = sorted(Path(p) for p in globlib.glob(pattern, recursive=True) if Path(p).is_file())
        if not found:
            raise DataError(None, f"data.files.glob '{cfg.files.glob}' matches no file")
        return found
    found = sorted(
        p for p in raw_dir.iterdir() if p.is_file() and is_data_file(p)
    )  # .csv, .csv.gz, .zip (one CSV inside), .parquet
    if not found:
        raise DataError(raw_dir, "holds no raw data files; run the `raw` stage first")
    return found


def _sample_path(sample: SampleConfig) -> Path:
    try:
        path = resources.files(sample.package).joinpath(sample.resource)
    except ModuleNotFoundError:
        raise DataError(
            None,
            f"the sample data package '{sample.package}' is not installed; "
            "run the README's set-up command",
        ) from None
    if not path.is_file():
        raise DataError(None, f"package '{sample.package}' has no file '{sample.resource}'")
    return Path(str(path))
