"""B portfolio accounts over one panel: the state and step both environments share.

`PortfolioEnv` is a book of one account, `PortfolioVecEnv` a book of B: the same arrays go
through the same `accounting.step`, so a batch computes exactly the single env's numbers.

At decision bar t an account sees the features of bars t - window + 1 .. t (a missing bar
shows 0, next to its tradable flag) and its current weights; its action becomes target
weights (`weights.target_weights`) that fill at bar t + 1 (`accounting.step`): nothing of
bar t + 1 or later enters the observation of bar t or the decision made on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qraptor.core.errors import ConfigError
from qraptor.env.portfolio import accounting
from qraptor.env.portfolio.config import PortfolioEnvConfig
from qraptor.env.portfolio.panel import NO_EXIT, Panel
from qraptor.env.portfolio.weights import target_weights

VARIANCE_FLOOR = 1e-20  # differential Sharpe: no reward until the moments have a variance
PLACEHOLDER_PRICE = 1.0  # before an instrument's first bar: it holds nothing (weight 0)


@dataclass
class StepResult:
    rewards: np.ndarray  # [B]
    truncated: np.ndarray  # [B] the episode's last step
    step: accounting.Step
    timestamps: np.ndarray  # [B] int ns of the fill bar


@dataclass
class Book:
    """B accounts trading `panel` under `cfg` (module docstring)."""

    panel: Panel
    cfg: PortfolioEnvConfig
    size: int
    bar: np.ndarray = field(init=False)
    last: np.ndarray = field(init=False)
    weights: np.ndarray = field(init=False)
    value: np.ndarray = field(init=False)
    moments: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        panel, cfg = self.panel, self.cfg
        features = np.nan_to_num(_select(panel, cfg.features), nan=0.0)
        flags = panel.tradable.astype(np.float32)[..., None]
        # one row per bar of what a window shows, made once: [T, N x (F + 1)]
        self.rows = np.concatenate([features, flags], axis=-1).reshape(len(panel), -1)
        self.rows = np.ascontiguousarray(self.rows, dtype=np.float32)
        self.close = np.where(np.isfinite(panel.close), panel.close, PLACEHOLDER_PRICE)
        fill = panel.fill if cfg.execution.price == "open" else panel.close
        self.fill = np.where(np.isfinite(fill), fill, PLACEHOLDER_PRICE)
        self.rate = np.full(panel.n_instruments, cfg.costs.rate)
        n = panel.n_instruments
        self.obs_size = cfg.window * self.rows.shape[1] + n + 1
        self.first_start = cfg.window - 1
        if cfg.episode.mode == "full":
            self.last_start = self.first_start
            too_short = len(panel) - 1 <= self.first_start
        else:
            self.last_start = len(panel) - 1 - cfg.episode.length
            too_short = self.last_start < self.first_start
        if too_short:
            raise ConfigError(
                "env.episode.length" if cfg.episode.mode != "full" else "env.window",
                f"a window of {cfg.window} bars and episodes of {cfg.episode.length} steps "
                f"({cfg.episode.mode}) do not fit a panel of {len(panel)} bars",
            )
        b = self.size
        self.bar = np.zeros(b, dtype=np.int64)
        self.last = np.zeros(b, dtype=np.int64)
        self.weights = np.zeros((b, n + 1))
        self.value = np.zeros(b)
        self.moments = np.zeros((b, 2))

    def reset(self, accounts: np.ndarray, rng: np.random.Generator) -> None:
        """Start `accounts` (indices) flat in cash at their episodes' first bar."""
        if self.cfg.episode.mode == "full":
            start = np.full(len(accounts), self.first_start)
            last = np.full(len(accounts), len(self.panel) - 1)
        else:
            start = rng.integers(self.first_start, self.last_start + 1, size=len(accounts))
            last = start + self.cfg.episode.length
        self.bar[accounts], self.last[accounts] = start, last
        self.weights[accounts] = 0.0
        self.weights[accounts, 0] = 1.0
        self.value[accounts] = self.cfg.initial_cash
        self.moments[accounts] = 0.0

    def observations(self) -> np.ndarray:
        """[B, obs_size] float32: the window of features and tradable flags, then weights."""
        w = self.cfg.window
        out = np.empty((self.size, self.obs_size), dtype=np.float32)
        cut = w * self.rows.shape[1]
        for k, bar in enumerate(self.bar):  # contiguous slices: no gather, no NaN pass
            out[k, :cut] = self.rows[bar - w + 1 : bar + 1].reshape(-1)
        out[:, cut:] = self.weights
        return out

    def targets(self, actions: np.ndarray) -> np.ndarray:
        """[B, N + 1] target weights of [B, N + 1] actions (scores)."""
        c = self.cfg.weights
        scores = np.clip(np.asarray(actions, dtype=np.float64), -c.logit_bound, c.logit_bound)
        return target_weights(
            scores, c.mapping, temperature=c.temperature, gross_cap=c.gross_cap,
            max_weight=c.max_weight,
        )  # fmt: skip

    def step(
        self, target: np.ndarray, hold: np.ndarray | None = None, band: float | None = None
    ) -> StepResult:
        """Fill `target` at bar t + 1 of every account and mark it at that bar's close;
        accounts in `hold` do not trade (a delisting is still sold). `band`: the no-trade
        band of this step (default: the config's; a liquidation passes 0)."""
        t, nxt = self.bar, self.bar + 1
        tradable = self.panel.tradable[nxt].copy()
        exits = self.panel.exit_bar
        if (exits != NO_EXIT).any():  # a delisted instrument is sold at its last price
            leaving = exits[None, :] == nxt[:, None]
            exiting = leaving.any(axis=1) & (hold if hold is not None else False)
            if exiting.any():  # a holding account keeps all but what leaves
                batch = (len(t),)
                pre, _ = accounting.drift(
                    self.weights, accounting.relatives(self.fill[nxt], self.close[t], batch)
                )
                target = np.where(exiting[:, None], pre, target)
                hold = hold & ~exiting if hold is not None else None
            tradable |= leaving
            moved = np.where(leaving, target[:, 1:], 0.0).sum(axis=1)
            target = target.copy()
            target[:, 1:] = np.where(leaving, 0.0, target[:, 1:])
            target[:, 0] += moved
        previous = self.value.copy()
        result = accounting.step(
            self.weights, self.value, target, self.close[t], self.fill[nxt], self.close[nxt],
            sell_rate=self.rate, buy_rate=self.rate, tradable=tradable,
            band=self.cfg.weights.band if band is None else band, hold=hold,
        )  # fmt: skip
        log_return = np.log(result.value / previous)
        self.weights, self.value, self.bar = result.weights, result.value, nxt
        rewards = self._rewards(log_return) * self.cfg.reward.scale
        return StepResult(rewards, nxt >= self.last, result, self.panel.timestamps[nxt])

    def _rewards(self, log_return: np.ndarray) -> np.ndarray:
        if self.cfg.reward.type == "log_return":
            return log_return
        eta = self.cfg.reward.sharpe_eta
        a, b = self.moments[:, 0], self.moments[:, 1]
        variance = b - a * a
        delta_a, delta_b = log_return - a, log_return * log_return - b
        with np.errstate(divide="ignore", invalid="ignore"):
            sharpe = (b * delta_a - 0.5 * a * delta_b) / variance**1.5
        reward = np.where(variance > VARIANCE_FLOOR, sharpe, 0.0)
        self.moments[:, 0] = a + eta * delta_a
        self.moments[:, 1] = b + eta * delta_b
        return reward


def _select(panel: Panel, names: list[str] | None) -> np.ndarray:
    if names is None:
        return panel.features
    missing = [n for n in names if n not in panel.feature_names]
    if missing:
        raise ConfigError(
            "env.features", f"{missing} are not panel features {list(panel.feature_names)}"
        )
    index = [panel.feature_names.index(n) for n in names]
    return np.ascontiguousarray(panel.features[:, :, index])
