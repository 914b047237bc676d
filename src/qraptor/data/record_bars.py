"""Bars checked against a run's data record and made into its observations: the part of
replaying a trained agent that needs nothing but bars and data.json, shared by `qraptor
backtest --data` (qraptor.agent.bars, after ingest, clean and reduce) and the served model
(qraptor.evaluation.serving, on the bars of a request).

Refused, naming where the bars came from: time bars of another spacing than the model's
(daily bars to an hourly model), and too few bars for the features' warm-up and one window.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from qraptor.core.errors import DataError
from qraptor.data.features import longest_window
from qraptor.data.record import features_config, observations_from_bars

SPACING_TOLERANCE = 1.25  # median bar spacing within this factor of the model's: the same bars


def check_bar_spacing(bars: pd.DataFrame, record: dict[str, Any], named: str) -> None:
    """Refuse time bars whose median spacing is not the model's (data.json ``bars``)."""
    model = record.get("bars") or {}
    expected = model.get("spacing_seconds")
    if model.get("kind") != "time" or not expected or len(bars) < 2:
        return  # tick, volume and dollar bars have no fixed spacing to compare
    stamps = pd.to_datetime(bars["timestamp"], utc=True)
    spacing = float(stamps.diff().dt.total_seconds().median())
    if abs(math.log(spacing / expected)) > math.log(SPACING_TOLERANCE):
        raise DataError(
            named,
            f"its bars are {_duration(spacing)} apart (median), the model's are "
            f"{_duration(expected)} ({model.get('freq')} time bars): the model was trained on "
            "another bar frequency; give it bars at its own",
            rule="bar_frequency",
        )


def features_of_bars(
    bars: pd.DataFrame, record: dict[str, Any], window: int, named: str
) -> pd.DataFrame:
    """observations_from_bars, with a warm-up that takes every bar said in figures."""
    try:
        return observations_from_bars(bars, record)
    except DataError as exc:
        if exc.rule != "features_warmup":
            raise
        key, needed = longest_window(features_config(record), bars["timestamp"])
        raise DataError(
            named,
            f"too few bars: {len(bars)} bars in, but the features' warm-up (features.{key}) "
            f"takes about {needed}; the model needs that + env.window + 1 = "
            f"{needed + window + 1} or more",
            rule="too_few_bars",
        ) from None


def _duration(seconds: float) -> str:
    """3600 -> "1h", 86400 -> "1d", 90 -> "1min 30s" (pandas' short form)."""
    text = pd.Timedelta(seconds=seconds).isoformat()  # P1DT0H0M0S
    days, _, clock = text.removeprefix("P").partition("T")
    parts = [days.replace("D", "d")] if days != "0D" else []
    for unit, short in (("H", "h"), ("M", "min"), ("S", "s")):
        number, _, clock = clock.partition(unit)
        if number and float(number) != 0:
            parts.append(f"{float(number):g}{short}")
    return " ".join(parts) or "0s"
