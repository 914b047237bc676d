"""Small datasets with a known edge (or none) for learnability checks, via the pipeline,
and the oracle: the rule that knows the planted edge and trades it at the env's costs.

The synthetic tick generator plants an AR(1) signal in the returns of each `signal_period`
(`ar_coef`); these ticks are reduced to bars, featurised and split by the data pipeline's own
functions, so an agent that learns here has learned through the same path as on real data.
`ar_coef=0` gives a pure random walk: nothing to learn, so nothing should be "found".
Bad ticks are switched off: cleaning is tested elsewhere and would only remove them again.

Two markets (overrides of conf/pipeline.yaml with ``data=synthetic``):

* `MINUTE_STOCK`: 1-minute bars of conf/data/synthetic.yaml's stock (6.5-hour sessions,
  20 % volatility). Its bars move ~10 bp: at the default costs (2 bp fee + 0.5 bp slippage
  a unit of exposure traded) no edge of a realistic size survives, so it only serves tests
  that cut the costs.
* `HOURLY_CRYPTO`: hourly bars of a round-the-clock market (every day, 00:00-24:00 UTC) at
  crypto-like volatility (50 % a year in regime 1.0, 125 % in regime 2.5: ~95 % overall, bars
  of ~1 %). An AR coefficient of 0.1 there is worth ~8 bp a bar before costs to a rule that
  trades the sign of the last return: a realistic edge that beats the default costs when it
  is traded with care (`oracle_targets`). Few ticks an hour (72): generation is fast.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from qraptor.data.columns import columns_after_bars
from qraptor.data.features import compute_features
from qraptor.data.pipeline_config import load_pipeline_config
from qraptor.data.record import pipeline_settings
from qraptor.data.reduce.bars import reduce_ticks
from qraptor.data.split import make_dataset
from qraptor.data.synthetic.tape import generate_ticks
from qraptor.env.config import ActionConfig, EnvConfig
from qraptor.env.market import Market
from qraptor.evaluation.backtest import Backtest, rollout_by_bar

NO_BAD_TICKS = tuple(
    f"data.synthetic.bad_ticks.{rate}=0.0"
    for rate in ("spike_rate", "duplicate_rate", "out_of_order_rate", "nonpositive_rate")
)
MINUTE_STOCK = ("reduce=minute",)
HOURLY_CRYPTO = (
    "reduce=hourly",
    "data.synthetic.signal_period=1h",
    "data.synthetic.weekdays_only=false",
    "data.synthetic.session_start=00:00",
    "data.synthetic.session_end=24:00",
    "data.synthetic.timezone=UTC",
    "data.synthetic.annual_volatility=0.5",
    "data.synthetic.ticks_per_second=0.02",
)
# A long test span for the learnability check (a third of the bars: the oracle's t-statistic
# grows with its square root); no walk-forward folds (nothing trains per fold there).
LONG_TEST_SPLIT = (
    "split.walk_forward.enabled=false",
    "split.chrono.train_fraction=0.6",
    "split.chrono.val_fraction=0.1",
)


def planted_dataset(
    out_dir: Path,
    *,
    ar_coef: float,
    days: int,
    seed: int,
    market: Sequence[str] = MINUTE_STOCK,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Write a dataset folder of `days` sessions of `market`'s bars; return its metadata.

    Composes conf/pipeline.yaml with ``data=synthetic``, the `market` (`MINUTE_STOCK`,
    `HOURLY_CRYPTO`) and the given signal strength, length and seed; further pipeline
    `overrides` (e.g. ``split.walk_forward.enabled=false``) come last.
    """
    cfg = load_pipeline_config(
        [
            "data=synthetic",
            *market,
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
    settings = pipeline_settings(cfg, features.attrs["features"]["config"], features["timestamp"])
    columns = columns_after_bars(features)
    return make_dataset(features, columns, cfg.split, Path(out_dir), pipeline=settings)


def trade_cost(cfg: EnvConfig) -> float:
    """Proportional cost of trading one unit of exposure (fee + slippage), a share of equity.

    The fixed fee and the range-dependent slippage are left out: the oracle's threshold is
    the cost it can know before the fill.
    """
    return cfg.costs.fee_rate + cfg.costs.slippage_bps / 1e4


def oracle_targets(close: np.ndarray, ar_coef: float, cost: float) -> np.ndarray:
    """Target exposure decided at each bar t from ``close[: t + 1]`` only.

    The planted AR(1) makes the next bar's expected log return mu_t = ar_coef x log(close_t /
    close_{t-1}). Being at target s earns s x mu_t in expectation and moving to it costs
    `cost` x |s - held|, and the forecast fades by a factor ar_coef a bar, so the myopic best
    is: move to sign(mu_t) when |mu_t| > cost (from flat or from the other side alike), else
    keep the target held. This hysteresis is what keeps the edge above the costs: the plain
    sign rule flips about every other bar and pays ~cost a bar. Flat until the first move.
    """
    close = np.asarray(close, dtype=np.float64)
    mu = np.zeros(len(close))
    mu[1:] = ar_coef * np.diff(np.log(close))
    targets = np.zeros(len(close))
    held = 0.0
    for t, expected in enumerate(mu):
        if abs(expected) > cost:
            held = math.copysign(1.0, expected)
        targets[t] = held
    return targets


def oracle(market: Market, cfg: EnvConfig, ar_coef: float, *, liquidate: bool = False) -> Backtest:
    """The oracle rule's backtest over `market` (`oracle_targets` at `cfg`'s costs), through
    `rollout_by_bar`: the same env, fills at the next bar and costs as the agent, and with
    `liquidate` the same exit at the end of the span (`session.eval.liquidate`). Targets of
    exactly -1, 0 and +1 are given as continuous actions, whatever the agent's action type
    (as the baselines do)."""
    targets = oracle_targets(market.close, ar_coef, trade_cost(cfg))
    continuous = dataclasses.replace(
        cfg, action=ActionConfig(type="continuous", levels=list(cfg.action.levels))
    )
    return rollout_by_bar(
        market,
        continuous,
        lambda bar: np.array([targets[bar]], np.float32),
        liquidate=liquidate,
    )
