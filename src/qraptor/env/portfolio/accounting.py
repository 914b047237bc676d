"""The portfolio's accounting: one step, for one account or a batch of them (issue 16).

Weights are over N + 1 assets, cash first (asset 0), and sum to 1. A decision taken at
bar t's close (target weights `target`) fills at bar t + 1's fill price; the account is
marked at bar t + 1's close. One step:

1. **Drift to the fill.** From bar t's close to the fill the account holds its current
   weights `w`; the price relatives ``y = fill[t+1] / close[t]`` (cash: 1) move its value
   by ``y . w`` and its weights to ``w' = y * w / (y . w)``, the *pre-rebalance* weights.
2. **Rebalance at the fill** from `w'` to `target`, on the instruments tradable at that bar
   (a missing bar is not tradable: the instrument keeps its value, `tradable` below). The
   costs are proportional to traded notional, per instrument: a sale of notional s yields
   ``(1 - c_sell) s`` in cash, a purchase of notional b costs ``b / (1 - c_buy)`` (Jiang, Xu &
   Liang 2017, "A Deep Reinforcement Learning Framework for the Financial Portfolio
   Management Problem", eq. 14, with per-instrument rates: fee plus slippage). The share of
   value left after costs, the *transaction remainder factor* mu, solves
   ``mu = 1 - sum_i c_sell_i (w'_i - mu w_i)^+ - sum_i c_buy_i / (1 - c_buy_i) (mu w_i - w'_i)^+``
   (the paper's equation rearranged; the same solution), found by fixed-point iteration
   from ``1 - c sum |w'_i - w_i|``; it is exact to 1e-15 (a contraction of rate ~2c). With
   equal rates c and long-only weights it lies between ``1 - 2c T`` and ``1 - c T / (1 + c)``,
   T = ``sum_i |w'_i - w_i|`` over the instruments (tested; the often-quoted upper bound
   ``1 - c T`` holds to first order in c only: selling into cash can leave a little more).
   It needs no sign on the weights: shorts are sales, covers are purchases.
3. **Drift to the close** with ``close[t+1] / fill[t+1]`` (1 when the fill is the close).

The reward is the log return of the step after costs, never the portfolio level. Every
array function here takes a leading batch axis: the single environment is a batch of one,
so both forms compute identical numbers (one code path).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MU_TOLERANCE = 1e-15
MU_MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Step:
    """What one step did, per account ([B] or [B, N + 1] arrays)."""

    weights: np.ndarray  # [B, N+1] after the close: what the next decision starts from
    pre_rebalance: np.ndarray  # [B, N+1] w', drifted to the fill
    traded: np.ndarray  # [B, N+1] signed traded notional per instrument (cash column 0: 0)
    costs: np.ndarray  # [B] fees and slippage paid, cash
    value: np.ndarray  # [B] equity at the close
    growth: np.ndarray  # [B] value / previous value: the step's gross return after costs
    mu: np.ndarray  # [B] the transaction remainder factor


def drift(weights: np.ndarray, relatives: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(weights after prices moved by `relatives`, the value's growth ``y . w``)."""
    held = weights * relatives
    growth = held.sum(axis=-1)
    return held / growth[..., None], growth


def remainder_factor(
    pre: np.ndarray, target: np.ndarray, sell_rate: np.ndarray, buy_rate: np.ndarray
) -> np.ndarray:
    """mu of rebalancing from `pre` (w') to `target` (w), both [B, N + 1] with cash first,
    at per-instrument rates [N] or [B, N] (module docstring, step 2)."""
    dw = pre[..., 1:] - target[..., 1:]
    buy_cost = buy_rate / (1.0 - buy_rate)
    mu = 1.0 - (np.maximum(sell_rate, buy_rate) * np.abs(dw)).sum(axis=-1)
    done = np.zeros(mu.shape, dtype=bool)
    for _ in range(MU_MAX_ITERATIONS):
        change = pre[..., 1:] - mu[..., None] * target[..., 1:]
        sold, bought = np.maximum(change, 0.0), np.maximum(-change, 0.0)
        new = 1.0 - (sell_rate * sold).sum(axis=-1) - (buy_cost * bought).sum(axis=-1)
        # an account that has converged keeps its value: each account's iterations are
        # the same in a batch as alone, so batched and single numbers are identical
        converged = np.abs(new - mu) <= MU_TOLERANCE
        mu = np.where(done, mu, new)
        done |= converged
        if done.all():
            break
    return mu


def rebalance_targets(pre: np.ndarray, target: np.ndarray, tradable: np.ndarray) -> np.ndarray:
    """The weights the account can reach: an instrument not tradable at the fill keeps its
    pre-rebalance value; the rest of the account (cash and the tradable instruments) is
    split in the proportions `target` gives them. `tradable` is [B, N] (cash always is)."""
    if tradable.all():
        return target
    movable = np.concatenate([np.ones_like(tradable[..., :1]), tradable], axis=-1)
    frozen = np.where(movable, 0.0, pre)
    budget = 1.0 - frozen.sum(axis=-1, keepdims=True)
    wanted = np.where(movable, target, 0.0)
    total = wanted.sum(axis=-1, keepdims=True)
    # nothing wanted in what can move: the movable part goes to cash
    cash_only = np.zeros_like(target)
    cash_only[..., 0] = 1.0
    share = np.where(total > 0, wanted / np.where(total > 0, total, 1.0), cash_only)
    return frozen + budget * share


def step(
    weights: np.ndarray,
    value: np.ndarray,
    target: np.ndarray,
    close: np.ndarray,
    fill: np.ndarray,
    next_close: np.ndarray,
    *,
    sell_rate: np.ndarray,
    buy_rate: np.ndarray,
    tradable: np.ndarray | None = None,
    band: float = 0.0,
    hold: np.ndarray | None = None,
) -> Step:
    """One step of B accounts (module docstring). `weights`, `target`: [B, N + 1] (cash
    first); `value`: [B]; `close` (bar t), `fill` and `next_close` (bar t + 1): [B, N] or
    [N] prices, a missing price carried from the last one (valuation only); rates [N].

    `band`: the no-trade band, a share of value: a rebalance whose one-way turnover
    ``sum_i |w_i - w'_i| / 2`` (instruments only) is below it is not made (the account
    keeps its drifted weights and pays nothing). `hold` ([B] bool): accounts that do not
    trade at all this step (buy-and-hold), whatever `target` says."""
    batch = np.shape(weights)[:-1]
    pre, growth_to_fill = drift(weights, relatives(fill, close, batch))
    reachable = target
    if tradable is not None:
        reachable = rebalance_targets(pre, target, np.broadcast_to(tradable, pre[..., 1:].shape))
    if band > 0:
        small = 0.5 * np.abs(reachable[..., 1:] - pre[..., 1:]).sum(axis=-1) < band
        reachable = np.where(small[..., None], pre, reachable)
    if hold is not None:
        reachable = np.where(np.asarray(hold)[..., None], pre, reachable)
    mu = remainder_factor(pre, reachable, sell_rate, buy_rate)
    at_fill = value * growth_to_fill
    traded = np.zeros_like(pre)
    traded[..., 1:] = (mu[..., None] * reachable[..., 1:] - pre[..., 1:]) * at_fill[..., None]
    weights_after, growth_to_close = drift(reachable, relatives(next_close, fill, batch))
    new_value = at_fill * mu * growth_to_close
    return Step(
        weights=weights_after,
        pre_rebalance=pre,
        traded=traded,
        costs=at_fill * (1.0 - mu),
        value=new_value,
        growth=new_value / value,
        mu=mu,
    )


def relatives(numerator: np.ndarray, denominator: np.ndarray, batch: tuple[int, ...]) -> np.ndarray:
    """[*batch, N + 1] price relatives, cash (1) first."""
    moves = np.broadcast_to(numerator / denominator, (*batch, np.shape(numerator)[-1]))
    return np.concatenate([np.ones((*batch, 1)), moves], axis=-1)
