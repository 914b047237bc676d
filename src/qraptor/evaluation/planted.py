"""Small datasets with a known edge (or none) for learnability checks, via the pipeline.

The synthetic tick generator plants an AR(1) signal in 1-minute returns (`ar_coef`); these
ticks are reduced to 1-minute bars, featurised and split by the data pipeline's own
functions, so an agent that learns here has learned through the same path as on real data.
`ar_coef=0` gives a pure random walk: nothing to learn, so nothing should be "found".
Bad ticks are switched off: cleaning is tested elsewhere and would only remove them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from qraptor.data.columns import columns_after_bars
from qraptor.data.features import compute_features
from qraptor.data.pipeline_config import load_pipeline_config
from qraptor.data.reduce.bars import reduce_ticks
from qraptor.data.split import make_dataset
from qraptor.data.synthetic.tape import generate_ticks

NO_BAD_TICKS = tuple(
    f"data.synthetic.bad_ticks.{rate}=0.0"
    for rate in ("spike_rate", "duplicate_rate", "out_of_order_rate", "nonpositive_rate")
)


def planted_dataset(
    out_dir: Path, *, ar_coef: float, days: int, seed: int, overrides: Sequence[str] = ()
) -> dict[str, Any]:
    """Write a dataset folder of `days` sessions of 1-minute bars; return its metadata.

    Composes conf/pipeline.yaml with ``data=synthetic reduce=minute`` and the given signal
    strength, length and seed; further pipeline `overrides` (e.g. ``split.walk_forward.
    enabled=false``, ``data.synthetic.ticks_per_second=0.5``) come last.
    """
    cfg = load_pipeline_config(
        [
            "data=synthetic",
            "reduce=minute",
            f"data.synthetic.ar_coef={ar_coef}",
            f"data.synthetic.days={days}",
            f"data.synthetic.seed={seed}",
            "data.synthetic.with_quotes=false",
            *NO_BAD_TICKS,
            *overrides,
        ]
    )
    assert cfg.data.synthetic is not None  # data=synthetic: DataConfig checks the section
    ticks = pl.concat(list(generate_ticks(cfg.data.synthetic)))
    bars = reduce_ticks(ticks, cfg.reduce)
    features = compute_features(bars, cfg.features)
    return make_dataset(features, columns_after_bars(features), cfg.split, Path(out_dir))
