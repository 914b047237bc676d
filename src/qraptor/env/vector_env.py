"""N trading accounts stepped at once: an SB3 VecEnv whose step is one numba loop.

Each account runs the same compiled `kernel.advance` as `TradingEnv`, and env i draws
its episodes from ``gymnasium.utils.seeding.np_random(seed + i)`` exactly as a TradingEnv
reset with ``seed + i`` does (what SB3's ``make_vec_env(seed=...)`` passes), so N single
envs and one batched env given the same actions produce identical trajectories.

Per-step cost is kept to the API's demands: one fresh observation array filled inside
numba from per-env rings of rows, rewards and dones arrays, and infos that are one shared,
read-only empty dict for every env whose episode goes on; an env whose episode ended gets
its own dict with ``terminal_observation``, ``TimeLimit.truncated`` and the final step's
accounting, and is reset in place (SB3 auto-reset). The last step's accounting of every env
is available as arrays (``equity``, ``cash``, ``units``, ``fill_price``, ...) for backtests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils.seeding import np_random
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from qraptor.env import inputs, kernel
from qraptor.env.config import EnvConfig
from qraptor.env.market import Market
from qraptor.env.spaces import EpisodeSpan, action_levels, action_space, observation_space

# Per-env arrays of the last step (read-only views of the kernel's state rows).
STEP_ARRAYS = {
    "fill_price": kernel.FILL_PRICE,
    "exec_price": kernel.EXEC_PRICE,
    "units": kernel.STEP_UNITS,
    "exposure": kernel.EXPOSURE,
    "trade": kernel.TRADE,
    "costs": kernel.COSTS,
    "cash": kernel.STEP_CASH,
    "equity": kernel.STEP_EQUITY,
    "equity_change": kernel.EQUITY_CHANGE,
    "reward": kernel.REWARD,
}


class _QuietInfo(dict):
    """The info of an env whose episode goes on: empty, shared and read-only (cheap)."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(
            "BatchedTradingEnv shares one empty read-only info dict between running envs; "
            "copy it (dict(info)) before adding keys"
        )

    # deliberately one catch-all refuser for every mutator, whatever dict's signatures
    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse  # type: ignore[assignment]


_QUIET = _QuietInfo()


class BatchedTradingEnv(VecEnv):
    """`num_envs` accounts trading `market` under `cfg`, stepped together.

    Observations float32 [num_envs, window, F + S]; rewards float64; episodes auto-reset.
    `seed` seeds env i with ``seed + i`` at the first reset (like ``VecEnv.seed``).
    """

    render_mode = None

    # The read-only views of STEP_ARRAYS, set by name in __init__ (setattr).
    _fill_price: np.ndarray
    _exec_price: np.ndarray
    _units: np.ndarray
    _exposure: np.ndarray
    _trade: np.ndarray
    _costs: np.ndarray
    _cash: np.ndarray
    _equity: np.ndarray
    _equity_change: np.ndarray
    _reward: np.ndarray

    def __init__(
        self, market: Market, cfg: EnvConfig, num_envs: int, seed: int | None = None
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if cfg.features is not None:
            market = market.select(cfg.features)
        self.market = market
        self.cfg = cfg
        n_features = market.features.shape[1]
        super().__init__(num_envs, observation_space(cfg, n_features), action_space(cfg))
        self.episode_span = EpisodeSpan(cfg, len(market))
        self._bars = inputs.market_arrays(
            market, cfg.execution.price, cfg.costs.slippage_bps, cfg.costs.slippage_range_fraction
        )
        self._params = inputs.kernel_params(cfg, n_features)
        self._levels = np.array(action_levels(cfg), dtype=np.float64)
        self._features = np.array(market.features, dtype=np.float32).reshape(-1)  # flat rows
        assert self.observation_space.shape is not None  # a Box always has a shape
        self._obs_shape = (num_envs, *self.observation_space.shape)
        ring_size = num_envs * 2 * cfg.window * self._obs_shape[2]
        self._ring = np.zeros(ring_size, dtype=np.float32)  # flat [N, 2W, F + S]
        self._slots = np.zeros(num_envs, dtype=np.int64)  # ring slot of each current bar
        self._obs_size = int(np.prod(self._obs_shape))
        self._state = np.zeros((num_envs, kernel.N_FIELDS))
        self._codes = np.zeros(num_envs, dtype=np.int64)
        self._ended = np.zeros(num_envs, dtype=np.int64)  # envs whose episode just ended
        self._timestamps = market.timestamps.tolist()
        self._rngs = [np_random(None)[0] for _ in range(num_envs)]
        self._quiet_infos: list[dict[str, Any]] = [_QUIET] * num_envs
        self._actions: np.ndarray | None = None
        self._started = False
        for name, row in STEP_ARRAYS.items():
            view = self._state[:, row]
            view.flags.writeable = False
            setattr(self, f"_{name}", view)
        if seed is not None:
            self.seed(seed)

    # ---- last step's accounting, one value per env (overwritten by the next step) ----
    @property
    def equity(self) -> np.ndarray:
        return self._equity

    @property
    def cash(self) -> np.ndarray:
        return self._cash

    @property
    def units(self) -> np.ndarray:
        return self._units

    @property
    def fill_price(self) -> np.ndarray:
        return self._fill_price

    @property
    def exec_price(self) -> np.ndarray:
        return self._exec_price

    @property
    def trade(self) -> np.ndarray:
        return self._trade

    @property
    def costs(self) -> np.ndarray:
        return self._costs

    @property
    def exposure(self) -> np.ndarray:
        return self._exposure

    @property
    def equity_change(self) -> np.ndarray:
        return self._equity_change

    @property
    def reward(self) -> np.ndarray:
        return self._reward

    @property
    def fill_bar(self) -> np.ndarray:
        """Index of each env's last fill bar (its start bar right after a reset)."""
        return self._state[:, kernel.STEP_BAR].astype(np.int64)

    @property
    def timestamp(self) -> np.ndarray:
        """int64 ns UTC timestamps of each env's last fill bar."""
        return self.market.timestamps[self.fill_bar]

    # ---- VecEnv API ----
    def reset(self) -> np.ndarray:
        if any(self._options):
            raise ValueError("BatchedTradingEnv.reset takes no options")
        for i, seed in enumerate(self._seeds):
            if seed is not None:
                self._rngs[i] = np_random(seed)[0]
        envs = np.arange(self.num_envs, dtype=np.int64)
        obs = np.empty(self._obs_size, dtype=np.float32)
        self._reset(obs, envs, clear_outputs=True)
        self._reset_seeds()
        self._reset_options()
        self._started = True
        return obs.reshape(self._obs_shape)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        if not self._started or self._actions is None:
            raise RuntimeError("call reset() before step(), and step_async() before step_wait()")
        actions = np.asarray(self._actions, dtype=np.float64).reshape(self.num_envs)
        self._actions = None
        obs = np.empty(self._obs_size, dtype=np.float32)
        finished = kernel.step_batch(
            self._state, self._bars, self._params, self._levels, self._features,
            actions, self._ring, self._slots, obs, self._codes, self._ended,
        )  # fmt: skip
        if finished < 0:
            i = -1 - finished
            valid = f"0..{len(self._levels) - 1}"
            raise ValueError(f"invalid action {actions[i]!r} for env {i}; valid: {valid}")
        obs = obs.reshape(self._obs_shape)
        rewards = self._state[:, kernel.REWARD].copy()
        dones = self._codes != 0
        infos: list[dict[str, Any]] = self._quiet_infos.copy()
        if finished:
            self._end_episodes(obs, infos, self._ended[:finished].copy())
        return obs, rewards, dones, infos

    def _end_episodes(self, obs: np.ndarray, infos: list[dict[str, Any]], envs: np.ndarray) -> None:
        """Infos of the finished `envs` (terminal observation, final step), then auto-reset."""
        first, last = kernel.FILL_PRICE, kernel.EQUITY_CHANGE + 1
        for i, row in zip(envs.tolist(), self._state[envs].tolist(), strict=True):
            info = dict(zip(kernel.INFO_KEYS, row[first:last], strict=True))
            info["timestamp"] = self._timestamps[int(row[kernel.BAR])]
            info["terminal_observation"] = obs[i].copy()
            info["TimeLimit.truncated"] = int(self._codes[i]) == 2
            infos[i] = info
        self._reset(obs.reshape(-1), envs, clear_outputs=False)

    def _reset(self, obs: np.ndarray, envs: np.ndarray, clear_outputs: bool) -> None:
        """Draw and start the next episode of `envs` (each from its own RNG)."""
        ids = envs.tolist()
        spans = np.array([self.episode_span.draw(self._rngs[i]) for i in ids], dtype=np.int64)
        kernel.reset_batch(
            self._state, self._bars, self._params, self._features, self._ring, self._slots,
            obs, envs, spans[:, 0].copy(), spans[:, 1].copy(), clear_outputs,
        )  # fmt: skip
        cash = self.cfg.initial_cash
        for i, start in zip(ids, spans[:, 0].tolist(), strict=True):
            stamp = self._timestamps[start]
            self.reset_infos[i] = {"timestamp": stamp, "cash": cash, "equity": cash, "units": 0.0}

    def close(self) -> None:
        """Nothing to release: the env holds only arrays."""

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-env values for the step arrays (``equity``...), the shared value otherwise."""
        value = getattr(self, attr_name)
        if attr_name in STEP_ARRAYS or attr_name in ("fill_bar", "timestamp"):
            return [value[i].item() for i in self._get_indices(indices)]
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set a shared attribute (all envs at once); accounting state is not settable."""
        if attr_name in STEP_ARRAYS or attr_name.startswith("_"):
            raise AttributeError(f"'{attr_name}' is accounting state and cannot be set")
        if sorted(self._get_indices(indices)) != list(range(self.num_envs)):
            raise ValueError("BatchedTradingEnv attributes are shared: set them for all envs")
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call a method of the batched env once per requested index (methods are shared)."""
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in range(self.num_envs)]
