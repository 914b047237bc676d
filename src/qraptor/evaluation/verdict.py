"""A verdict on every report: is there evidence that the agent has an edge after costs?

One session's Sharpe ratio on a few thousand bars means little: the standard error of a
per-bar Sharpe estimate is about 1/sqrt(T), so on 2,290 one-minute bars (~98k bars a year)
an annualised Sharpe of 6.8 is one standard error from zero. A report that prints the
Sharpe alone invites reading noise as skill. `judge` turns the agent's and the benchmark's
bar returns (the same bars, the same costs) into one line a researcher can act on.

The rule (all at `confidence`, 0.95 by default; PSR and DSR as in statistics.py):

1. PSR(0) of the agent-minus-benchmark bar returns >= confidence: the agent did better
   than the benchmark (buy-and-hold) on these bars by more than chance explains (a paired
   test: both ran over the same bars);
2. PSR(0) of the agent's own bar returns >= confidence: beating a falling market while
   losing money is not an edge;
3. with n_trials > 1 (the agent was selected from a sweep): the deflated Sharpe ratio
   DSR >= confidence, i.e. the agent's Sharpe beats what the best of `n_trials` skill-less
   trials would show (SR0 from the variance of the trials' per-bar Sharpe ratios);
4. with a PBO (probability of backtest overfitting, from a study): PBO < 0.5.

An edge is claimed only when every condition that applies holds; otherwise the text names
each one that failed, in words, with the numbers. On skill-less returns (1) and (2) each
pass about 5 % of the time and together less often, so a verdict claims an edge on at most
~5 % of skill-less sessions (tests/evaluation/test_verdict.py checks it by simulation).

Degenerate inputs give a verdict, never an exception: bars where either series is not
finite are dropped; fewer than 2 bars left is "no verdict"; an agent whose returns never
vary (it never held a position) has PSR 0.5 and is told so.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from qraptor.core.numbers import json_number
from qraptor.evaluation.metrics import padded_equity, simple_returns, t_statistic
from qraptor.evaluation.statistics import (
    ReturnMoments,
    deflated_sharpe_ratio,
    probabilistic_sharpe_ratio,
    return_moments,
    sharpe_ratio_std,
)

BENCHMARK = "buy_and_hold"
CONFIDENCE = 0.95
NO_VERDICT = "no verdict:"
NUMBERS = ("sharpe", "t_stat", "psr", "psr_vs_benchmark", "dsr", "pbo")
PBO_LIMIT = 0.5  # at or above: the in-sample best is as likely as not below the OOS median


@dataclass(frozen=True)
class Verdict:
    """The verdict on one agent and split (see the module docstring for the rule)."""

    split: str
    benchmark: str  # "buy_and_hold"
    edge: bool  # evidence of an edge over the benchmark after costs
    sharpe: float  # agent, annualised
    t_stat: float  # t of the agent's mean bar return
    psr: float  # PSR(0) of the agent's bar returns
    psr_vs_benchmark: float  # PSR(0) of (agent - benchmark) bar returns
    dsr: float | None  # DSR when n_trials > 1
    n_trials: int
    pbo: float | None
    text: str  # the one line a report prints

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None): what a session summary keeps per split."""
        out = dataclasses.asdict(self)
        for key in NUMBERS:
            out[key] = json_number(out[key])
        return out

    def to_metrics(self) -> dict[str, Any]:
        """Numbers and the edge flag, no text (the DVC metrics file: `dvc metrics show` makes
        a column of every key). The benchmark is in a key: ``psr_vs_buy_and_hold``."""
        out: dict[str, Any] = {"edge": self.edge}
        out.update({key: json_number(getattr(self, key)) for key in ("sharpe", "t_stat", "psr")})
        out[f"psr_vs_{self.benchmark}"] = json_number(self.psr_vs_benchmark)
        if self.n_trials > 1:
            out.update(dsr=json_number(self.dsr), n_trials=self.n_trials)
        if self.pbo is not None:
            out["pbo"] = json_number(self.pbo)
        return out

    @classmethod
    def from_dict(cls, split: str, data: Mapping[str, Any]) -> Verdict:
        """A verdict from `to_dict` (its text kept) or from `to_metrics` (the text rebuilt
        from the numbers at the default confidence)."""
        benchmark = data.get("benchmark")
        if not isinstance(benchmark, str):
            keys = [str(k) for k in data if str(k).startswith("psr_vs_")]
            benchmark = keys[0].removeprefix("psr_vs_") if keys else BENCHMARK
        vs = data.get("psr_vs_benchmark", data.get(f"psr_vs_{benchmark}"))
        verdict = cls(
            split=str(data.get("split", split)),
            benchmark=benchmark,
            edge=bool(data.get("edge")),
            sharpe=_nan(data.get("sharpe")),
            t_stat=_nan(data.get("t_stat")),
            psr=_nan(data.get("psr")),
            psr_vs_benchmark=_nan(vs),
            dsr=data.get("dsr"),
            n_trials=int(data.get("n_trials") or 1),
            pbo=data.get("pbo"),
            text=str(data.get("text") or ""),
        )
        return verdict if verdict.text else _decided(verdict, CONFIDENCE)


def judge(
    agent_returns: Sequence[float] | np.ndarray,
    benchmark_returns: Sequence[float] | np.ndarray,
    *,
    split: str,
    periods_per_year: float,
    benchmark: str = BENCHMARK,
    n_trials: int = 1,
    trials_sharpe_variance: float = math.nan,
    pbo: float | None = None,
    confidence: float = CONFIDENCE,
) -> Verdict:
    """The verdict on the agent's bar returns against the benchmark's on the same bars.

    `trials_sharpe_variance`: V[SR_n] of the per-bar Sharpe ratios of the sweep's trials
    (needed for the DSR when `n_trials` > 1; NaN leaves the DSR unknown, hence no edge).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    agent = np.asarray(agent_returns, dtype=np.float64).reshape(-1)
    bench = np.asarray(benchmark_returns, dtype=np.float64).reshape(-1)
    if len(agent) != len(bench):
        raise ValueError(
            f"{split}: {len(agent)} agent returns against {len(bench)} {benchmark} returns; "
            "the verdict compares the same bars"
        )
    both = np.isfinite(agent) & np.isfinite(bench)
    agent, bench = agent[both], bench[both]
    if len(agent) < 2:
        return _no_verdict(split, benchmark, n_trials, pbo, len(agent))
    moments = return_moments(agent)
    excess = return_moments(agent - bench)
    dsr = None
    if n_trials > 1:
        dsr = deflated_sharpe_ratio(
            moments.sharpe,
            moments.bars,
            moments.skewness,
            moments.kurtosis,
            n_trials,
            trials_sharpe_variance,
        )
    verdict = Verdict(
        split=split,
        benchmark=benchmark,
        edge=False,
        sharpe=moments.sharpe * math.sqrt(periods_per_year),
        t_stat=t_statistic(agent),
        psr=_psr(moments),
        psr_vs_benchmark=_psr(excess),
        dsr=dsr,
        n_trials=n_trials,
        pbo=pbo,
        text="",
    )
    return _decided(verdict, confidence)


def over_trials(
    verdict: Verdict,
    n_trials: int,
    dsr: float,
    pbo: float | None = None,
    confidence: float = CONFIDENCE,
) -> Verdict:
    """One session's verdict as the best of a sweep of `n_trials`: its DSR (statistics.
    sweep_significance) and, from a study, the PBO join the rule."""
    if verdict.text.startswith(NO_VERDICT):
        return verdict
    selected = dataclasses.replace(verdict, n_trials=n_trials, dsr=dsr if n_trials > 1 else None)
    return _decided(dataclasses.replace(selected, pbo=pbo), confidence)


def judge_equity(
    agent_equity: Sequence[float] | np.ndarray,
    baseline_equity: Mapping[str, Sequence[float] | np.ndarray],
    *,
    split: str,
    periods_per_year: float,
    benchmark: str = BENCHMARK,
) -> Verdict:
    """`judge` of one session from equity curves over the same bars (evaluate.py's curves).

    The agent's curve may be shorter (an env stop ended it): after the stop its equity
    stays where it ended, i.e. returns of 0, so both series cover the same bars. Without a
    `benchmark` curve, the benchmark is cash (`flat`: returns of 0).
    """
    if benchmark not in baseline_equity:
        benchmark, bench = "flat", None
    else:
        bench = np.asarray(baseline_equity[benchmark], dtype=np.float64)
    agent = np.asarray(agent_equity, dtype=np.float64)
    agent = padded_equity(agent, len(bench) if bench is not None else len(agent))
    agent_returns = _returns(agent)
    bench_returns = _returns(bench) if bench is not None else np.zeros(len(agent_returns))
    return judge(
        agent_returns,
        bench_returns,
        split=split,
        periods_per_year=periods_per_year,
        benchmark=benchmark,
    )


def judge_stored_curves(
    curves: Mapping[str, Any], *, split: str, sharpe: float, benchmark: str = BENCHMARK
) -> Verdict | None:
    """The verdict of a run whose summary has none (written before verdicts existed), from
    its stored equity frame (report.equity_frame: `agent` and one column per baseline, over
    the agent's bars). The bar rate is not stored with the curves: `sharpe` is the summary's
    annualised one. None without an agent curve."""
    if "agent" not in curves:
        return None
    baselines = {benchmark: np.asarray(curves[benchmark])} if benchmark in curves else {}
    verdict = judge_equity(
        np.asarray(curves["agent"]), baselines, split=split, periods_per_year=1.0
    )
    return dataclasses.replace(verdict, sharpe=sharpe)


def sharpe_psr(metrics: Mapping[str, Any]) -> float | None:
    """PSR(0) from a metrics dict's per-bar moments (sharpe_per_bar, bars, skewness,
    kurtosis), the uncertainty a table shows next to a Sharpe; None if one is missing."""
    keys = ("sharpe_per_bar", "bars", "skewness", "kurtosis")
    values = [metrics.get(key) for key in keys]
    numbers = [float(v) for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if len(numbers) < len(keys):
        return None
    sharpe, bars, skewness, kurtosis = numbers
    # metrics' bars counts the steps, i.e. the returns: T of the PSR
    return json_number(probabilistic_sharpe_ratio(sharpe, int(bars), skewness, kurtosis))


def sharpe_uncertainty(
    metrics: Mapping[str, Any], periods_per_year: float, confidence: float = CONFIDENCE
) -> dict[str, Any]:
    """The annualised Sharpe ratio's interval at `confidence` (estimate +- z x the standard
    error of the per-bar Sharpe under the returns' skew and kurtosis,
    statistics.sharpe_ratio_std) and PSR(0): how much these bars say about the agent. One
    definition for `qraptor backtest`'s metrics.json and the model card."""
    from scipy import stats

    per_bar = _number(metrics.get("sharpe_per_bar"))
    bars, skewness, kurtosis = (_number(metrics.get(k)) for k in ("bars", "skewness", "kurtosis"))
    se = math.nan
    if all(math.isfinite(v) for v in (per_bar, bars, skewness, kurtosis)):
        se = sharpe_ratio_std(per_bar, int(bars), skewness, kurtosis)
    z, scale = float(stats.norm.ppf(0.5 + confidence / 2)), math.sqrt(periods_per_year)
    defined = math.isfinite(se)
    return {
        "confidence": confidence,
        "sharpe": metrics.get("sharpe"),
        "sharpe_low": (per_bar - z * se) * scale if defined else None,
        "sharpe_high": (per_bar + z * se) * scale if defined else None,
        "sharpe_std": se * scale if defined else None,
        "psr": sharpe_psr(metrics),
    }


def benchmark_label(benchmark: str) -> str:
    """buy_and_hold -> buy-and-hold, as the verdict's text names it."""
    return benchmark.replace("_", "-")


def _psr(moments: ReturnMoments) -> float:
    return probabilistic_sharpe_ratio(
        moments.sharpe, moments.bars, moments.skewness, moments.kurtosis
    )


def _below(value: float | None, confidence: float) -> bool:
    """Fails the threshold: below it, or unknown (NaN)."""
    return value is None or not value >= confidence


def _decided(v: Verdict, confidence: float) -> Verdict:
    """`v` with its edge and text set from its numbers by the rule."""
    if not math.isfinite(v.psr):
        text = v.text if v.text.startswith(NO_VERDICT) else f"{NO_VERDICT} too few bars"
        return dataclasses.replace(v, edge=False, text=text)
    failed = _failed(v, confidence)
    return dataclasses.replace(v, edge=not failed, text=_text(v, failed))


def _failed(v: Verdict, confidence: float) -> list[str]:
    """Each condition of the rule that failed, in words (the module docstring's order)."""
    failed = []
    if v.sharpe == 0.0 and v.t_stat == 0.0:  # return_moments: returns that never vary
        failed.append("never held a position")
    if _below(v.psr_vs_benchmark, confidence):
        failed.append(f"not ahead of {benchmark_label(v.benchmark)} beyond chance")
    if _below(v.psr, confidence):
        failed.append("Sharpe not above 0 beyond chance")
    if v.n_trials > 1 and _below(v.dsr, confidence):
        if v.dsr is None or not math.isfinite(v.dsr):
            failed.append(f"DSR unknown over {v.n_trials} trials (no Sharpe variance)")
        else:
            failed.append(f"not above the best of {v.n_trials} skill-less trials")
    if v.pbo is not None and not v.pbo < PBO_LIMIT:
        failed.append("likely overfit")
    return failed


def _numbers(v: Verdict) -> str:
    """PSR 0.41 vs buy-and-hold, 0.62 alone, t 0.9; DSR 0.12 over 16 trials; PBO 0.62"""
    parts = [
        f"PSR {_f(v.psr_vs_benchmark)} vs {benchmark_label(v.benchmark)}, "
        f"{_f(v.psr)} alone, t {_f(v.t_stat, 1)}"
    ]
    if v.n_trials > 1:
        parts.append(f"DSR {_f(v.dsr)} over {v.n_trials} trials")
    if v.pbo is not None:
        parts.append(f"PBO {_f(v.pbo)}")
    return "; ".join(parts)


def _text(v: Verdict, failed: list[str]) -> str:
    label = benchmark_label(v.benchmark)
    if not failed:
        return f"evidence of an edge over {label} after costs ({_numbers(v)})"
    return f"no evidence of an edge over {label} after costs ({_numbers(v)}): " + "; ".join(failed)


def _no_verdict(split: str, benchmark: str, n_trials: int, pbo: float | None, bars: int) -> Verdict:
    text = (
        f"{NO_VERDICT} {bars} bar{'s' if bars != 1 else ''} of returns with both the agent "
        f"and {benchmark_label(benchmark)} defined (at least 2 needed)"
    )
    nan = math.nan
    dsr = nan if n_trials > 1 else None
    return Verdict(split, benchmark, False, nan, nan, nan, nan, dsr, n_trials, pbo, text)


def _returns(equity: np.ndarray) -> np.ndarray:
    """Simple bar returns of an equity curve (not finite after a wipe-out: judge drops them)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return simple_returns(equity)


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _number(value: Any) -> float:
    """A number as a float; anything else (None, text) as NaN."""
    return float(value) if isinstance(value, int | float) else math.nan


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"
