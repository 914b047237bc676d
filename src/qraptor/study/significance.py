"""How much a study's selection can be trusted: PBO, DSR and the track record still needed.

* PBO (Bailey, Borwein, López de Prado and Zhu 2015, CSCV) over the T x N matrix of the
  finished trials' out-of-sample returns (each trial's seeds averaged bar by bar): the
  probability that the configuration best on one half of the bars ranks at or below the
  median on the other half. Near 0.5: the search picked noise.
* DSR of the selected trial's series over all N trials (failed and pruned ones count: each
  was a draw), with V[SR] from the finished trials' per-bar Sharpe ratios.
* MinTRL: the bars of record a per-bar Sharpe like the selected one needs before it is
  significantly above 0 at 95 %; minus the out-of-sample bars the folds already gave, the
  bars of live or paper record still needed.

The PBO and MinTRL functions are `qraptor.evaluation.statistics`'s (COMMON.md contract 1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from qraptor.evaluation.statistics import (
    minimum_track_record_length,
    probability_of_backtest_overfitting,
    return_moments,
    sweep_significance,
)
from qraptor.study.run import TrialRecord
from qraptor.study.search import FINISHED
from qraptor.study.stitch import bar_sharpe

PBO_BLOCKS = 16
MIN_TRL_CONFIDENCE = 0.95


def oos_matrix(trials: Sequence[TrialRecord]) -> pd.DataFrame:
    """T x trials: every trial's seed-averaged out-of-sample returns (NaN where a failed or
    pruned trial has no fold), on the union of the folds' bars."""
    columns = {trial_column(t.number): t.returns() for t in trials}
    frame = pd.concat(columns, axis=1) if columns else pd.DataFrame()
    frame.index.name = "timestamp"
    return frame.sort_index()


def trial_column(number: int) -> str:
    return f"trial_{number:03d}"


def backtest_overfitting(trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """PBO over the finished trials (complete series only), or why there is none."""
    finished = [t for t in trials if t.status == FINISHED]
    if len(finished) < 2:
        reason = "PBO compares configurations: it needs 2 or more finished trials"
        return {"pbo": None, "n_trials": len(finished), "reason": reason}
    matrix = oos_matrix(finished).dropna()
    try:
        result = probability_of_backtest_overfitting(matrix, n_blocks=PBO_BLOCKS)
    except ValueError as exc:  # too few bars for the blocks
        return {"pbo": None, "n_trials": len(finished), "reason": str(exc)}
    return {
        **result.to_dict(),
        "logits": [float(v) for v in np.asarray(result.logits)],
        "bars": len(matrix),
    }


def deflated(trials: Sequence[TrialRecord], selected: TrialRecord) -> dict[str, Any]:
    """PSR(0), SR0 and DSR of the selected trial's series over all trials."""
    sharpes = [bar_sharpe(t.returns()) for t in trials if t.status == FINISHED]
    best = return_moments(selected.returns().dropna().to_numpy())
    sig = sweep_significance(best, sharpes, n_trials=len(trials))
    return {
        "n_trials": sig.n_trials,
        "n_finished": sig.n_finished,
        "sharpe_per_bar": best.sharpe,
        "bars": best.bars,
        "trials_sharpe_variance": sig.sharpe_variance,
        "psr": sig.psr,
        "expected_max_sharpe": sig.expected_max_sharpe,
        "dsr": sig.dsr,
    }


def track_record(selected: TrialRecord, periods_per_year: float) -> dict[str, Any]:
    """MinTRL of the selected series and the bars of live or paper record still needed."""
    returns = selected.returns().dropna().to_numpy()
    bars = float(minimum_track_record_length(returns, 0.0, MIN_TRL_CONFIDENCE))
    observed = len(returns)
    needed = None if not math.isfinite(bars) else max(0, math.ceil(bars - observed))
    return {
        "min_track_record_bars": bars if math.isfinite(bars) else None,
        "confidence": MIN_TRL_CONFIDENCE,
        "target_sharpe": 0.0,
        "bars_observed": observed,
        "bars_still_needed": needed,
        "years_still_needed": None if needed is None else needed / periods_per_year,
        "note": None
        if needed is not None
        else "the out-of-sample Sharpe is not above 0: no length of record would show an edge",
    }
