"""A gymnasium environment trading one instrument over the bars of one split.

At step t the agent has seen bars 0..t; its action fills during bar t+1 and the account is
marked at that bar's close (kernel.py holds every rule). The observation is the last
`window` rows of a [T, F + S] float32 grid: the bar's features and the agent's state at
that bar's close, written as the episode goes, so nothing after t can enter it.

`step` is kept to the work the API demands: one compiled call (accounting + a copy of the
window into a fresh slot, since gymnasium requires observations that share no memory) and
the info dict.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from qraptor.env import inputs, kernel
from qraptor.env.config import EnvConfig
from qraptor.env.market import Market
from qraptor.env.spaces import EpisodeSpan, action_levels, action_space, observation_space

_TERMINATED = (False, True, False, True)  # by kernel status code
_TRUNCATED = (False, False, True, True)
FLAT_TARGET = 0.0  # close_out's target exposure
CHUNK_STEPS = 64  # observations per freshly allocated block (a kept one pins <= 64 windows)


class TradingEnv(gym.Env):
    """One account trading `market` under `cfg` (see conf/env/default.yaml).

    Info per step: ``timestamp`` (int ns, UTC, of the fill bar t+1), ``fill_price``,
    ``exec_price``, ``units`` (after the trade), ``exposure`` (units * close), ``trade``
    (units bought, negative = sold), ``costs`` (fee + slippage cost, cash), ``cash``,
    ``equity`` (at the close) and ``equity_change``: enough to rebuild the trade log.
    """

    # gymnasium's Env annotates its class-level `metadata` without ClassVar (ruff's RUF012
    # wants one here), so mypy sees a class variable overriding an instance variable
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}  # type: ignore[misc]

    def __init__(self, market: Market, cfg: EnvConfig, render_mode: str | None = None) -> None:
        if render_mode not in (None, "ansi"):
            # TypeError, so that SB3's make_vec_env (which tries render_mode="rgb_array"
            # first) falls back to making the env without it.
            raise TypeError(f"render_mode {render_mode!r} is not supported; use None or 'ansi'")
        if cfg.features is not None:
            market = market.select(cfg.features)
        self.market = market
        self.cfg = cfg
        self.render_mode = render_mode
        self.action_space = action_space(cfg)
        self.observation_space = observation_space(cfg, market.features.shape[1])
        self.episode_span = EpisodeSpan(cfg, len(market))

        bars = inputs.market_arrays(
            market, cfg.execution.price, cfg.costs.slippage_bps, cfg.costs.slippage_range_fraction
        )
        n_features = market.features.shape[1]
        self._book = inputs.single_book(bars, inputs.kernel_params(cfg, n_features))
        self._account = self._book[0, : kernel.N_FIELDS]  # a view: the account's state fields
        grid = np.zeros((len(market), n_features + len(cfg.state)), dtype=np.float32)
        grid[:, :n_features] = market.features
        self._grid = grid.reshape(-1)  # flat rows, as the kernel indexes them
        self._chunk_shape = (CHUNK_STEPS, *self.observation_space.shape)
        self._new_chunk()
        self._timestamps = market.timestamps.tolist()
        self._continuous = cfg.action.type == "continuous"
        self._targets = dict(enumerate(action_levels(cfg)))
        self._bar = -1

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (seeded: the same seed draws the same window)."""
        super().reset(seed=seed)
        if options:
            raise ValueError(f"TradingEnv.reset takes no options, got {sorted(options)}")
        start, last = self.episode_span.draw(self.np_random)
        self._new_chunk()  # nothing shared with the previous episode's observations
        self._slot = 0
        kernel.reset_single(self._book, self._grid, self._cells, 0, start, last)
        self._bar = start
        cash = self.cfg.initial_cash
        info = {"timestamp": self._timestamps[start], "cash": cash, "equity": cash, "units": 0.0}
        return self._chunk[0], info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Fill `action` in the next bar, mark at its close, observe up to that close."""
        if self._continuous:
            try:
                tau = float(action[0])
            except (TypeError, IndexError):
                tau = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        else:
            try:
                tau = self._targets[action]
            except (KeyError, TypeError):
                tau = self._target_of(action)
        slot = self._slot + 1
        if slot == CHUNK_STEPS:
            self._new_chunk()
            slot = 0
        self._slot = slot
        code, reward, fill, exe, units, exposure, trade, costs, cash, equity, change = (
            kernel.step_single(self._book, self._grid, self._cells, slot, tau)
        )
        if code < 0:
            raise RuntimeError("the episode has ended (or not started): call reset()")
        bar = self._bar = self._bar + 1
        info = {
            "timestamp": self._timestamps[bar],
            "fill_price": fill,
            "exec_price": exe,
            "units": units,
            "exposure": exposure,
            "trade": trade,
            "costs": costs,
            "cash": cash,
            "equity": equity,
            "equity_change": change,
        }
        return self._chunk[slot], reward, _TERMINATED[code], _TRUNCATED[code], info

    def close_out(self) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Step with a flat target that always trades: the position is sold (or bought
        back) at the next bar's fill price, paying the kernel's fees and slippage, so the
        account ends in cash. Evaluation calls it instead of the policy's last decision of
        a span; training never does. `min_trade` cannot hold a small position open (the
        held target is set out of reach first), and flat discrete levels need not exist.

        After a stop ended the episode early, the exit is the one bar more that a real
        account would need to get out: the episode is extended to the next bar, if the
        market has one.
        """
        account = self._account
        if account[kernel.BAR] >= account[kernel.LAST] and self._bar + 1 < len(self.market):
            account[kernel.LAST] = self._bar + 1
        account[kernel.TARGET] = math.inf  # |0 - inf| > any min_trade: the trade happens
        return self.step_to(FLAT_TARGET)

    def step_to(self, target: float) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Step with a target exposure instead of an action, whatever the action type: an
        account that follows given positions (a served policy replaying the positions a
        client held) goes through the same accounting as the agent's own."""
        continuous, self._continuous = self._continuous, True
        try:
            return self.step((float(target),))
        finally:
            self._continuous = continuous

    def _new_chunk(self) -> None:
        """Fresh memory for the next CHUNK_STEPS observations (`_cells` is its flat view)."""
        self._chunk = np.empty(self._chunk_shape, dtype=np.float32)
        self._cells = self._chunk.reshape(-1)
        self._slot = CHUNK_STEPS - 1

    def _target_of(self, action: Any) -> float:
        """Slow path for actions that are not plain ints (0-d arrays, shape (1,) arrays)."""
        values = np.asarray(action).reshape(-1)
        if values.size == 1 and float(values[0]).is_integer() and int(values[0]) in self._targets:
            return self._targets[int(values[0])]
        raise ValueError(f"invalid action {action!r}; valid: 0..{len(self._targets) - 1}")

    @property
    def bar(self) -> int:
        """Index of the last bar the agent has seen (its current decision bar)."""
        return self._bar

    @property
    def last_bar(self) -> int:
        """The episode's last bar: the step whose fill lands there ends it (truncated)."""
        return int(self._account[kernel.LAST])

    @property
    def target(self) -> float:
        """The target exposure the account holds (set by its last trade; 0 at the start)."""
        return float(self._account[kernel.TARGET])

    @property
    def equity(self) -> float:
        return float(self._account[kernel.EQUITY])

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        s = self._account
        stamp = np.datetime64(self._timestamps[self._bar], "ns") if self._bar >= 0 else None
        return (
            f"{stamp} bar {self._bar}: units {s[kernel.UNITS]:.6g} cash {s[kernel.CASH]:.2f} "
            f"equity {s[kernel.EQUITY]:.2f} (drawdown {s[kernel.DRAWDOWN]:.2%})"
        )
