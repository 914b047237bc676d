"""PortfolioVecEnv: B portfolio accounts as one stable-baselines3 VecEnv, one `Book` step for
all of them (the numbers of B single `PortfolioEnv`s on the same episodes, tested).

Episodes that end are reset at once (SB3's convention): the returned observation is the new
episode's first, the finished one's last is in ``infos[k]["terminal_observation"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from qraptor.env.portfolio.book import Book
from qraptor.env.portfolio.config import PortfolioEnvConfig
from qraptor.env.portfolio.panel import Panel
from qraptor.env.portfolio.portfolio_env import action_space, observation_space, step_info


class PortfolioVecEnv(VecEnv):
    """`num_envs` portfolio accounts over one panel (module docstring)."""

    render_mode = None  # nothing to render (SB3's VecEnv asks for it)

    def __init__(
        self, panel: Panel, cfg: PortfolioEnvConfig, num_envs: int, seed: int | None = None
    ) -> None:
        self.book = Book(panel, cfg, num_envs)
        super().__init__(num_envs, observation_space(self.book), action_space(self.book))
        self._rng = np.random.default_rng(seed)
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        self.book.reset(np.arange(self.num_envs), self._rng)
        return self.book.observations()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        assert self._actions is not None, "step_async first"
        book = self.book
        result = book.step(book.targets(self._actions))
        observations = book.observations()
        infos: list[dict[str, Any]] = [step_info(result, k) for k in range(self.num_envs)]
        done = result.truncated
        if done.any():
            ended = np.flatnonzero(done)
            for k in ended:
                infos[k]["terminal_observation"] = observations[k].copy()
                infos[k]["TimeLimit.truncated"] = True
            book.reset(ended, self._rng)
            observations[ended] = book.observations()[ended]
        return observations, result.rewards.astype(np.float32), done.copy(), infos

    def seed(self, seed: int | None = None) -> list[int | None]:
        self._rng = np.random.default_rng(seed)
        return [seed] * self.num_envs

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list:
        raise NotImplementedError("PortfolioVecEnv has no sub-environments to call")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)
