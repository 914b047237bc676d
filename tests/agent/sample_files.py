"""Files in the format of the demo's sample (conf/data/sample_eurusd.yaml), for --data tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SAMPLE_FORMAT = "%d.%m.%Y %H:%M:%S.000"  # the sample's timestamps


def write_sample_csv(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` (the sample's columns: Time, Open, High, Low, Close, Volume) as a CSV."""
    frame.to_csv(path, index=False)
    return path
