"""`qraptor/Portfolio-v0`: one account allocating across a panel's instruments and cash.

Observation: float32 [window x N x (features + tradable flag) + N + 1]: the window of every
instrument's features (0 where it has no bar) and tradable flags, then the current weights
(cash first). Action: N + 1 scores in [-logit_bound, logit_bound] that become target
weights (conf/env/portfolio.yaml ``weights``). Reward: the step's log return after costs
(or its differential Sharpe ratio), never the portfolio's level. Info per step: timestamp
(of the fill bar), weights, pre-rebalance weights, traded notional per instrument, costs,
equity. The batched form is `PortfolioVecEnv` (the same `Book`, B accounts).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from qraptor.env.portfolio import ENV_ID  # noqa: F401 - registered there
from qraptor.env.portfolio.book import Book, StepResult
from qraptor.env.portfolio.config import PortfolioEnvConfig
from qraptor.env.portfolio.panel import Panel


def observation_space(book: Book) -> spaces.Box:
    return spaces.Box(-np.inf, np.inf, shape=(book.obs_size,), dtype=np.float32)


def action_space(book: Book) -> spaces.Box:
    bound = book.cfg.weights.logit_bound
    n = book.panel.n_instruments + 1
    return spaces.Box(-bound, bound, shape=(n,), dtype=np.float32)


def step_info(result: StepResult, k: int) -> dict[str, Any]:
    """Account `k`'s info dict of one step."""
    s = result.step
    return {
        "timestamp": int(result.timestamps[k]),
        "weights": s.weights[k].copy(),
        "pre_rebalance_weights": s.pre_rebalance[k].copy(),
        "traded": s.traded[k, 1:].copy(),
        "costs": float(s.costs[k]),
        "equity": float(s.value[k]),
    }


class PortfolioEnv(gym.Env):
    """One portfolio account over `panel` (module docstring)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}  # type: ignore[misc]

    def __init__(self, panel: Panel, cfg: PortfolioEnvConfig) -> None:
        self.book = Book(panel, cfg, 1)
        self.render_mode = None
        self.observation_space = observation_space(self.book)
        self.action_space = action_space(self.book)
        self._started = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.book.reset(np.array([0]), self.np_random)
        self._started = True
        info = {"timestamp": int(self.book.panel.timestamps[self.book.bar[0]]),
                "equity": float(self.book.value[0])}  # fmt: skip
        return self.book.observations()[0], info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self._started:
            raise RuntimeError("the episode has ended (or not started): call reset()")
        book = self.book
        result = book.step(book.targets(np.asarray(action)[None]))
        truncated = bool(result.truncated[0])
        self._started = not truncated
        return (book.observations()[0], float(result.rewards[0]), False, truncated,
                step_info(result, 0))  # fmt: skip

    @property
    def weights(self) -> np.ndarray:
        return self.book.weights[0].copy()

    @property
    def equity(self) -> float:
        return float(self.book.value[0])
