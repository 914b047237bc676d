"""What a download records, and where, so that DVC's data hash stays reproducible.

Two records, split by whether they change when nothing about the data changed:

* `download.json`, inside the data folder (so it travels with the data in DVC's cache):
  source, URLs, sha256 and sizes of the files. Downloading the same data again writes the
  same bytes, so the folder's DVC hash is a function of the data alone.
* the stage's metrics file (`reports/metrics/raw.json`, `cache: false`): the same plus the
  download time and the qraptor version. It changes on every fetch, as it should, and DVC
  keeps it out of the data hash.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qraptor import __version__
from qraptor.core.atomic import stable_json_value

RECORD_NAME = "download.json"


def write_record(folder: Path, record: dict[str, Any]) -> None:
    """The stable record, inside the (temporary) output folder: sorted keys, no times."""
    (folder / RECORD_NAME).write_text(
        json.dumps(stable_json_value(record), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def stage_metrics(record: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The stage's metrics: the record with the download time (UTC) and qraptor's version."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        **record,
        "downloaded_at": moment.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "qraptor_version": __version__,
    }
