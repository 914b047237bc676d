"""The "known limits" of a model card: honest lines generated from the run's own facts.

A card that lists figures invites reading them as promises. These lines say, with the
run's numbers, why the figures may not carry over: spans too short to mean much, too few
trades, a Sharpe interval that includes zero, baselines the agent did not beat, the
assumptions of the backtest (costs, fills, one instrument, a deterministic policy). Each
rule is a small function of the facts; a rule whose facts are missing says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from qraptor.core.formatting import format_metric
from qraptor.evaluation.baseline_names import RANDOM
from qraptor.evaluation.verdict import BENCHMARK, benchmark_label
from qraptor.tracking.card_facts import RunFacts

FEW_TRADES = 30  # below: per-trade figures (hit rate, holding time) are anecdotes
SHORT_DAYS = 365  # below: the span cannot show how the agent does across a year's regimes
BEATS_RANDOM_ENOUGH = 0.95  # the share of matched random runs an agent with skill should beat


def known_limits(facts: RunFacts, uncertainty: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The limits of this run's evidence, one sentence each, most specific first.

    `uncertainty`: split -> `sharpe_uncertainty` of its agent metrics (what the card's
    metrics table shows, computed once)."""
    lines: list[str] = []
    for split, section in facts.splits.items():
        for rule in SPLIT_RULES:
            line = rule(split, section, uncertainty.get(split) or {})
            if line:
                lines.append(line)
    lines += [line for rule in RUN_RULES if (line := rule(facts))]
    return lines


def _span(split: str, section: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
    agent = section.get("agent") or {}
    bars, days = _num(agent.get("bars")), _num(agent.get("span_days"))
    if bars is None:
        return None
    length = f"{bars:,.0f} bars" + (f" ({days:,.1f} days)" if days is not None else "")
    if days is not None and days < SHORT_DAYS:
        return (
            f"The {split} evaluation spans {length}, less than a year: one market regime at "
            "most, so its figures say little about other periods."
        )
    return f"The {split} evaluation spans {length}: one stretch of history, not a forecast."


def _few_trades(split: str, section: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
    trades = _num((section.get("agent") or {}).get("n_trades"))
    if trades is None or trades >= FEW_TRADES:
        return None
    return (
        f"Only {trades:,.0f} trade{'s' if trades != 1 else ''} on {split}: hit rate and "
        "holding time rest on too few trades to mean much."
    )


def _interval(split: str, _: Mapping[str, Any], u: Mapping[str, Any]) -> str | None:
    low, high = _num(u.get("sharpe_low")), _num(u.get("sharpe_high"))
    if low is None or high is None:
        return None
    if low <= 0 <= high:
        share = f"{float(u.get('confidence', 0.95)):.0%}"
        return (
            f"The {split} Sharpe ratio's {share} interval [{low:.2f}, {high:.2f}] includes 0: "
            "these bars cannot tell the agent from one without skill."
        )
    return None


def _benchmark(split: str, section: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
    benchmark = (section.get("verdict") or {}).get("benchmark") or BENCHMARK  # 1/N: portfolios
    agent = _num((section.get("agent") or {}).get("sharpe"))
    held = _num(((section.get("baselines") or {}).get(benchmark) or {}).get("sharpe"))
    if agent is None or held is None or agent > held:
        return None
    return (
        f"On {split} the agent's Sharpe ratio ({format_metric('sharpe', agent)}) does not beat "
        f"{benchmark_label(benchmark)}'s ({format_metric('sharpe', held)})."
    )


def _random(split: str, section: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
    share = _num(section.get("agent_beats_random_share"))
    if share is None or share >= BEATS_RANDOM_ENOUGH:
        return None
    runs = len(section.get("random_sharpes") or [])
    return (
        f"On {split} the agent's Sharpe ratio is above {share:.0%} of the {runs} matched "
        f"{RANDOM} runs' (same time in market and trades): not clearly better than chance."
    )


def _verdict(split: str, section: Mapping[str, Any], _: Mapping[str, Any]) -> str | None:
    verdict = section.get("verdict")
    if not isinstance(verdict, Mapping) or verdict.get("edge"):
        return None
    return f"No evidence of an edge on {split} after costs (the verdict above)."


def _costs(facts: RunFacts) -> str | None:
    env = facts.config.get("env") or {}
    costs, execution = env.get("costs") or {}, env.get("execution") or {}
    if not costs:
        return None
    fee, slip = _num(costs.get("fee_rate")), _num(costs.get("slippage_bps"))
    parts = []
    if fee is not None:
        parts.append(f"a fee of {fee * 1e4:g} bp")
    if slip is not None:
        parts.append(f"{slip:g} bp of slippage")
    fills = f" at the next bar's {execution['price']}" if execution.get("price") else ""
    return (
        f"Costs are assumed, not measured: {' and '.join(parts) or 'the configured costs'} per "
        f"trade, fills{fills} with no market impact beyond that; real fills may cost more."
    )


def _instrument(facts: RunFacts) -> str | None:
    data = ((facts.record or {}).get("pipeline") or {}).get("data") or {}
    name = data.get("name")
    instruments = (facts.record or {}).get("instruments")
    if instruments:  # a portfolio session
        return (
            f"Trained and evaluated on one panel of {len(instruments)} instruments"
            f"{f' ({name})' if name else ''}, over one stretch of their history: nothing "
            "here says the agent works on other instruments, dates or bar sizes."
        )
    if not name:
        return "One dataset, one instrument: nothing here says the agent works on another."
    return (
        f"Trained and evaluated on one instrument ({name}, source {data.get('source')}): "
        "nothing here says the agent works on another market or bar size."
    )


def _deterministic(facts: RunFacts) -> str | None:
    deterministic = (facts.session.get("eval") or {}).get("deterministic")
    if deterministic is None:
        return None
    if deterministic:
        return (
            "Evaluated with the deterministic policy (its most likely action); the policy "
            "sampled (`--stochastic`) may trade differently."
        )
    return "Evaluated with the sampled policy: another seed gives other trades."


def _selection(facts: RunFacts) -> str | None:
    selected = facts.summary.get("selected") or {}
    if selected.get("model") != "best_val":
        return None
    return (
        "The model was picked for its val figures (session.select=best_val): its val "
        "metrics are optimistic; trust the test split's."
    )


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


SplitRule = Callable[[str, Mapping[str, Any], Mapping[str, Any]], str | None]
SPLIT_RULES: tuple[SplitRule, ...] = (_span, _few_trades, _interval, _benchmark, _random, _verdict)
RUN_RULES: tuple[Callable[[RunFacts], str | None], ...] = (
    _selection,
    _costs,
    _instrument,
    _deterministic,
)
