"""Portfolio backtests, baselines and diagnostics (issue 16), through the environment's own
accounting: a policy and every baseline fill at the same bars with the same costs.

`rollout` plays a rule (bar, account -> target weights, or None to hold) over the whole
panel with a `Book` of one account and returns the equity curve and the weights per bar.
The baselines, each deciding at bar t from bars up to t only:

- ``equal_weight``: 1/N of the tradable instruments, rebalanced every bar;
- ``buy_and_hold``: 1/N at the first bar, then never traded (a delisting is still sold);
- ``momentum_top_k``: equal weights in the k instruments with the highest trailing return
  over `lookback` bars (ties and missing bars: not picked), rebalanced every bar;
- ``min_variance``, ``max_sharpe``: skfolio's MeanRisk fitted on the trailing returns up to
  t, refitted every `optimiser_every` bars (`optimised`);
- ``index``: the panel's benchmark series held in full, when one is given (an instrument of
  the panel, e.g. the S&P 500 beside its members).

`diagnostics` reports what users ask of a weight policy: turnover, concentration (HHI) and
entropy of the weights, the share of steps at a weight bound, and the log return split
into the market's part and the costs' (the reward has no penalty term). `versus` asks
whether a policy can be told apart from a baseline (1/N, buy-and-hold): in its returns
(PSR of the return difference, evaluation.verdict.judge) and in its weights (the mean
one-way distance between the two weight vectors).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from qraptor.env.config import EpisodeConfig
from qraptor.env.portfolio.book import Book
from qraptor.env.portfolio.config import PortfolioEnvConfig
from qraptor.env.portfolio.panel import Panel

# bar, the account's current weights [N + 1] -> target weights [N + 1], or None: hold
Rule = Callable[[int, np.ndarray], np.ndarray | None]
BOUND_TOLERANCE = 1e-9
CURVE_COLUMNS = (
    "timestamp", "equity", "costs", "turnover", "log_return", "market_log_return", "trades",
    "exposure_before",
)  # fmt: skip


@dataclasses.dataclass
class PortfolioBacktest:
    """One row per bar from the first decision: equity, weights, costs, log returns."""

    curve: pd.DataFrame  # timestamp, equity, costs, turnover, log_return, market_log_return,
    # trades (instruments traded at the step), exposure_before (gross risky weight held into it)
    weights: pd.DataFrame  # timestamp + cash + one column per symbol (after each close)
    trades: pd.DataFrame | None = None  # timestamp + traded notional per symbol (+ buys)


def rollout(
    panel: Panel, cfg: PortfolioEnvConfig, rule: Rule, *, liquidate: bool = False
) -> PortfolioBacktest:
    """`rule` over the whole panel (episode mode forced to full), one account."""
    return play(panel, cfg, lambda book: rule(int(book.bar[0]), book.weights[0].copy()),
                liquidate=liquidate)  # fmt: skip


def play(
    panel: Panel,
    cfg: PortfolioEnvConfig,
    decide: Callable[[Book], np.ndarray | None],
    *,
    liquidate: bool = False,
) -> PortfolioBacktest:
    """`decide` (the account's book -> target weights, None: hold) over the whole panel,
    one account. With `liquidate`, the last decision is all cash whatever `decide` says,
    outside the no-trade band: the span ends in cash, its sales' costs paid
    (`session.eval.liquidate`), except for an instrument with no bar at the last fill (it
    cannot be sold there and stays valued at its last price)."""
    full = dataclasses.replace(cfg, episode=EpisodeConfig("full", cfg.episode.length))
    book = Book(panel, full, 1)
    book.reset(np.array([0]), np.random.default_rng(0))
    start = int(book.bar[0])
    rows = [(panel.timestamps[start], book.value[0], 0.0, 0.0, 0.0, 0.0, 0, 0.0)]
    weights = [book.weights[0].copy()]
    traded = [np.zeros(panel.n_instruments)]
    cash = np.zeros(panel.n_instruments + 1)
    cash[0] = 1.0
    while True:
        closing = liquidate and int(book.bar[0]) + 1 >= int(book.last[0])
        target = cash if closing else decide(book)
        hold = np.array([target is None])
        chosen = book.weights.copy() if target is None else np.asarray(target)[None]
        previous = float(book.value[0])
        held = float(np.abs(book.weights[0, 1:]).sum())
        result = book.step(chosen, hold=hold, band=0.0 if closing else None)
        s = result.step
        value = float(s.value[0])
        turnover = float(np.abs(s.traded[0]).sum() / previous)  # traded notional / equity
        rows.append((
            result.timestamps[0], value, float(s.costs[0]), turnover,
            float(np.log(value / previous)), float(np.log(value / previous) - np.log(s.mu[0])),
            int(np.count_nonzero(s.traded[0, 1:])), held,
        ))  # fmt: skip
        weights.append(s.weights[0].copy())
        traded.append(s.traded[0, 1:].copy())
        if result.truncated[0]:
            break
    curve = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    curve["timestamp"] = pd.to_datetime(curve["timestamp"].astype("int64"), unit="ns", utc=True)
    frame = pd.DataFrame(np.asarray(weights), columns=["cash", *panel.symbols])
    frame.insert(0, "timestamp", curve["timestamp"])
    trades = pd.DataFrame(np.asarray(traded), columns=list(panel.symbols))
    trades.insert(0, "timestamp", curve["timestamp"])
    return PortfolioBacktest(curve, frame, trades)


def model_rollout(
    panel: Panel, cfg: PortfolioEnvConfig, model: Any, *, deterministic: bool, liquidate: bool
) -> PortfolioBacktest:
    """A trained policy's backtest: at every bar it sees the env's own observation and its
    action becomes target weights as in training (`Book.targets`)."""

    def decide(book: Book) -> np.ndarray:
        action, _ = model.predict(book.observations(), deterministic=deterministic)
        return book.targets(np.asarray(action).reshape(1, -1))[0]

    return play(panel, cfg, decide, liquidate=liquidate)


def equal_weight(panel: Panel) -> Rule:
    def rule(bar: int, _: np.ndarray) -> np.ndarray:
        return _equal(panel.tradable[bar])

    return rule


def buy_and_hold(panel: Panel) -> Rule:
    first: list[int] = []

    def rule(bar: int, _: np.ndarray) -> np.ndarray | None:
        if first:
            return None
        first.append(bar)
        return _equal(panel.tradable[bar])

    return rule


def momentum_top_k(panel: Panel, k: int, lookback: int, before: Panel | None = None) -> Rule:
    """`before`: bars preceding `panel` (its past), so that the trailing return exists from
    the span's first bar when history allows."""
    close, tradable, offset = _with_history(panel, before)

    def rule(bar: int, _: np.ndarray) -> np.ndarray:
        at = bar + offset
        if at < lookback:
            return _equal(np.zeros(panel.n_instruments, dtype=bool))
        with np.errstate(divide="ignore", invalid="ignore"):
            trailing = close[at] / close[at - lookback]
        trailing = np.where(tradable[at] & np.isfinite(trailing), trailing, -np.inf)
        picked = np.zeros(panel.n_instruments, dtype=bool)
        order = np.argsort(-trailing, kind="stable")[:k]
        picked[order[np.isfinite(trailing[order])]] = True
        return _equal(picked)

    return rule


def index_holding(panel: Panel, symbol: str) -> Rule:
    j = panel.symbols.index(symbol)

    def rule(bar: int, _: np.ndarray) -> np.ndarray:
        # always the index: at a fill without its bar the accounting keeps what is held
        # (and before its first bar, cash), so a missing bar is not a sale and a rebuy
        target = np.zeros(panel.n_instruments + 1)
        target[1 + j] = 1.0
        return target

    return rule


def optimised(
    panel: Panel, objective: str, lookback: int, every: int, before: Panel | None = None
) -> Rule:
    """skfolio's MeanRisk (variance as the risk, long-only, fully invested) fitted on the
    simple returns of the last `lookback` bars up to t (instruments with a bar on every one
    of them), refitted every `every` bars and held in between: ``min_variance`` or
    ``max_sharpe`` (cash when every trailing mean return is below 0: no long-only
    portfolio then has a positive Sharpe ratio). Before `lookback` bars exist: cash."""
    from qraptor.core.extras import require

    require("skfolio", "portfolio")
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    goal = {
        "min_variance": ObjectiveFunction.MINIMIZE_RISK,
        "max_sharpe": ObjectiveFunction.MAXIMIZE_RATIO,
    }[objective]
    last_fit: list[int] = []

    close, tradable, offset = _with_history(panel, before)

    def rule(bar: int, _: np.ndarray) -> np.ndarray | None:
        if last_fit and bar - last_fit[-1] < every:
            return None
        at = bar + offset
        if at < lookback:
            return _equal(np.zeros(panel.n_instruments, dtype=bool))
        span = slice(at - lookback, at + 1)  # prices up to t: returns of bars up to t
        usable = np.asarray(tradable[span].all(axis=0), dtype=bool)
        if usable.sum() < 2:
            return _equal(usable)
        prices = close[span][:, usable]
        returns = prices[1:] / prices[:-1] - 1.0
        model = MeanRisk(objective_function=goal, risk_measure=RiskMeasure.VARIANCE)
        last_fit.append(bar)
        try:
            model.fit(returns)
        except ValueError:
            if objective != "max_sharpe":
                raise
            # every trailing mean return is below the risk-free rate (0): no long-only
            # portfolio has a positive Sharpe ratio, and cash is the best one
            return _equal(np.zeros(panel.n_instruments, dtype=bool))
        target = np.zeros(panel.n_instruments + 1)
        target[1:][usable] = np.clip(model.weights_, 0.0, None)
        target[1:] /= target[1:].sum()
        return target

    return rule


def baselines(
    panel: Panel,
    cfg: PortfolioEnvConfig,
    *,
    k: int = 5,
    lookback: int = 126,
    index: str | None = None,
    optimiser_every: int | None = 21,
    names: Sequence[str] | None = None,
    liquidate: bool = False,
    before: Panel | None = None,
) -> dict[str, PortfolioBacktest]:
    """Every baseline of the module docstring (or those in `names`), through the same
    accounting as the agent; `optimiser_every=None` leaves out the optimised ones (no
    skfolio). `index`: a symbol of `panel` held in full. `before`: the bars preceding
    `panel`, which the look-back baselines read as their past."""
    makers: dict[str, Callable[[], Rule]] = {
        "equal_weight": lambda: equal_weight(panel),
        "buy_and_hold": lambda: buy_and_hold(panel),
        "momentum_top_k": lambda: momentum_top_k(panel, k, lookback, before),
    }
    if optimiser_every is not None:
        for objective in ("min_variance", "max_sharpe"):
            makers[objective] = functools.partial(
                optimised, panel, objective, lookback, optimiser_every, before
            )
    if index is not None:
        makers["index"] = lambda: index_holding(panel, index)
    chosen = list(makers) if names is None else [n for n in names if n in makers]
    return {n: rollout(panel, cfg, makers[n](), liquidate=liquidate) for n in chosen}


def diagnostics(backtest: PortfolioBacktest, max_weight: float = 1.0) -> dict[str, Any]:
    """Turnover, HHI, entropy, share of steps at a bound, the log return by source."""
    w = backtest.weights.drop(columns="timestamp").to_numpy()[1:]
    risky = w[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(w > 0, w * np.log(w), 0.0).sum(axis=1)
    at_bound = (
        (np.abs(risky) <= BOUND_TOLERANCE) | (np.abs(risky) >= max_weight - BOUND_TOLERANCE)
    ).all(axis=1)
    curve = backtest.curve.iloc[1:]
    return {
        "mean_turnover": float(curve["turnover"].mean()),
        "hhi": float((risky**2).sum(axis=1).mean()),
        "entropy": float(entropy.mean()),
        "max_entropy": float(np.log(w.shape[1])),
        "share_at_bounds": float(at_bound.mean()),
        "log_return": float(curve["log_return"].sum()),
        "market_log_return": float(curve["market_log_return"].sum()),
        "cost_log_return": float((curve["log_return"] - curve["market_log_return"]).sum()),
        "costs_paid": float(curve["costs"].sum()),
    }


def versus(
    policy: PortfolioBacktest,
    baseline: PortfolioBacktest,
    name: str,
    *,
    periods_per_year: float,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Can `policy` be told apart from `baseline` (named `name`) on the same bars? Its
    returns are *indistinguishable* when the PSR of the return difference lies within
    [1 - confidence, confidence] (neither better nor worse beyond chance); `weight_distance`
    is the mean of ``sum |w - w_baseline| / 2`` over the steps (0: the same portfolio)."""
    from qraptor.evaluation.verdict import judge

    mine = policy.curve["log_return"].to_numpy()[1:]
    theirs = baseline.curve["log_return"].to_numpy()[1:]
    verdict = judge(np.expm1(mine), np.expm1(theirs), split="portfolio",
                    periods_per_year=periods_per_year, benchmark=name)  # fmt: skip
    w = policy.weights.drop(columns="timestamp").to_numpy()[1:]
    v = baseline.weights.drop(columns="timestamp").to_numpy()[1:]
    psr = verdict.psr_vs_benchmark
    return {
        "baseline": name,
        "psr_vs_baseline": psr,
        "indistinguishable": bool(1 - confidence <= psr <= confidence),
        "weight_distance": float(0.5 * np.abs(w - v).sum(axis=1).mean()),
        "return_correlation": float(np.corrcoef(mine, theirs)[0, 1]),
    }


def _with_history(panel: Panel, before: Panel | None) -> tuple[np.ndarray, np.ndarray, int]:
    """Closes and tradable flags of `before` then `panel`, and where `panel` starts."""
    if before is None or len(before) == 0:
        return panel.close, panel.tradable, 0
    if before.symbols != panel.symbols:
        raise ValueError("the history panel must have the same instruments")
    close = np.concatenate([before.close, panel.close])
    return close, np.concatenate([before.tradable, panel.tradable]), len(before)


def _equal(picked: np.ndarray) -> np.ndarray:
    target = np.zeros(len(picked) + 1)
    if picked.any():
        target[1:][picked] = 1.0 / picked.sum()
    else:
        target[0] = 1.0
    return target
