"""Connector `dumps`: an exchange's public bulk files, verified against their checksums.

Binance publishes every day (and month) of klines, trades and aggregate trades as one zip
at a fixed URL, each with a `<zip>.CHECKSUM` file holding its sha256 (`sha256sum` format).
The zips are kept exactly as published (ingest reads `.zip` directly), so anyone can check
them against the same checksum later; a file whose sha256 differs is refused by name, and
a day the server does not have is either an error (default) or skipped and listed.

A file already in the previous output with the published sha256 is reused, not fetched
again: extending `end` by a day downloads one day.
"""

from __future__ import annotations

import os
import re
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from qraptor.core.errors import DataError
from qraptor.core.log import get_logger, track
from qraptor.core.provenance import file_sha256
from qraptor.data.download.config import DumpsConfig
from qraptor.data.download.http import fetch, fetch_text

log = get_logger(__name__)

_SHA256 = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S+)\s*$")


def dump_dates(cfg: DumpsConfig) -> list[str]:
    """The {date} values from start to end inclusive: days, or months for monthly dumps."""
    first, last = date.fromisoformat(cfg.start), date.fromisoformat(cfg.end)
    if cfg.period == "daily":
        return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
    months = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def dump_url(cfg: DumpsConfig, when: str) -> str:
    """The URL of the file for one {date} value."""
    path = cfg.path.format(
        symbol=cfg.symbol, interval=cfg.interval or "", period=cfg.period, date=when
    )
    return f"{cfg.base_url.rstrip('/')}/{path.lstrip('/')}"


def download_dumps(cfg: DumpsConfig, work: Path, previous: Path | None) -> dict[str, Any]:
    """Fetch every file of `cfg` into the (temporary, empty) folder `work`.

    `previous` is the stage's last output folder, if any: files there whose sha256 equals
    the published one are reused. Returns the record of the download (no times: see
    `record.py`).
    """
    files: list[dict[str, Any]] = []
    missing: list[dict[str, str]] = []
    reused = 0
    scratch = work / ".checksums"
    scratch.mkdir()
    dates = dump_dates(cfg)
    for when in track(dates, "download", total=len(dates)):
        url = dump_url(cfg, when)
        name = url.rsplit("/", 1)[-1]
        expected = _published_sha256(cfg, url, name, scratch) if cfg.verify_checksum else None
        target = work / name
        old = previous / name if previous is not None else None
        reuse = (
            old is not None and old.is_file() and bool(expected) and file_sha256(old) == expected
        )
        if reuse and old is not None:
            _link_or_copy(old, target)
            reused += 1
        elif not fetch(url, target, timeout=cfg.timeout_seconds, retries=cfg.retries):
            missing.append(_missing(cfg, when, url))
            continue
        elif expected is None and cfg.verify_checksum:
            # the zip is there but its checksum is not: nothing to verify it against
            raise DataError(url, "the server has this file but no .CHECKSUM next to it; "
                            "set data.dumps.verify_checksum: false to take it unverified",
                            rule="checksum")  # fmt: skip
        actual = expected if reuse else file_sha256(target)
        if expected is not None and actual != expected:
            raise DataError(
                url,
                f"sha256 {actual} does not match the published {expected} "
                f"({url}.CHECKSUM): the file is corrupt or was replaced; nothing was kept",
                rule="checksum",
            )
        files.append(
            {
                "file": name,
                "url": url,
                "sha256": actual,
                "bytes": target.stat().st_size,
                "checksum": "verified" if expected is not None else "not checked",
            }
        )
    shutil.rmtree(scratch)
    if not files:
        raise DataError(
            dump_url(cfg, dump_dates(cfg)[0]),
            f"no file of {cfg.symbol} from {cfg.start} to {cfg.end} exists on the server "
            "(check symbol, interval, dates and the path template)",
            rule="missing_file",
        )
    if missing:
        log.warning(
            "download: %d %s file(s) missing and skipped: %s",
            len(missing),
            cfg.period,
            ", ".join(m["date"] for m in missing),
        )
    if reused:
        log.info("download: %d file(s) reused from the previous download (same sha256)", reused)
    return {
        "source": "dumps",
        "symbol": cfg.symbol,
        "interval": cfg.interval,
        "period": cfg.period,
        "start": cfg.start,
        "end": cfg.end,
        "files": files,
        "missing": missing,
    }


def _published_sha256(cfg: DumpsConfig, url: str, name: str, scratch: Path) -> str | None:
    """The sha256 in `<url>.CHECKSUM`, or None when the server has no checksum file."""
    text = fetch_text(
        f"{url}.CHECKSUM",
        timeout=cfg.timeout_seconds,
        retries=cfg.retries,
        target=scratch / f"{name}.CHECKSUM",
    )
    if text is None:
        return None
    for line in text.splitlines():
        match = _SHA256.match(line.strip())
        if match and match.group(2).rsplit("/", 1)[-1] == name:
            return match.group(1).lower()
    raise DataError(
        f"{url}.CHECKSUM",
        f"holds no sha256 line for {name} (expected '<64 hex digits>  {name}')",
        rule="checksum",
    )


def _missing(cfg: DumpsConfig, when: str, url: str) -> dict[str, str]:
    if cfg.on_missing == "fail":
        raise DataError(
            url,
            f"the server has no {cfg.period} file for {when} (HTTP 404): not published (yet: "
            f"daily files appear the next day, monthly ones early the next month) or the "
            f"symbol/interval does not exist; set data.dumps.end before {when}, or "
            "data.dumps.on_missing: skip to download the rest and list the missing ones",
            rule="missing_file",
        )
    return {"date": when, "url": url}


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link where the filesystem allows (DVC's cache links the same way), else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
