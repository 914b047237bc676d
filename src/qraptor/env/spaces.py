"""Action and observation spaces, and which bars an episode covers.

Shared by the single and the batched environment so that both offer the same actions,
map them to the same target exposures and draw the same episode from the same seed.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from qraptor.core.errors import ConfigError
from qraptor.env.config import EnvConfig

FIXED_LEVELS = {"discrete": (-1.0, 0.0, 1.0), "long_only": (0.0, 1.0)}


def action_levels(cfg: EnvConfig) -> tuple[float, ...]:
    """Target exposure of each discrete action (empty for continuous actions)."""
    if cfg.action.type == "continuous":
        return ()
    if cfg.action.type == "levels":
        return tuple(float(x) for x in cfg.action.levels)
    return FIXED_LEVELS[cfg.action.type]


def target_name(target: float) -> str:
    """A target exposure in words: flat, long, short, or long 0.5 / short 0.25 for a part."""
    if target == 0:
        return "flat"
    side = "long" if target > 0 else "short"
    return side if abs(target) == 1 else f"{side} {abs(target):g}"


def action_names(cfg: EnvConfig) -> tuple[str, ...]:
    """The name of each discrete action, from its target exposure (empty for continuous):
    ("short", "flat", "long") for `discrete`."""
    return tuple(target_name(level) for level in action_levels(cfg))


def action_space(cfg: EnvConfig) -> spaces.Space:
    """Discrete(n levels), or Box[-1, 1] of shape (1,) for a continuous target exposure."""
    if cfg.action.type == "continuous":
        return spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    return spaces.Discrete(len(action_levels(cfg)))


def observation_space(cfg: EnvConfig, n_features: int) -> spaces.Box:
    """float32 [window, features + state]; features are clipped z-scores, state is small,
    but neither has a hard bound, so the box is unbounded."""
    shape = (cfg.window, n_features + len(cfg.state))
    return spaces.Box(-np.inf, np.inf, shape=shape, dtype=np.float32)


class EpisodeSpan:
    """Decision bars of an episode: it starts at bar `start` and ends at bar `last`.

    ``full``: from the first bar with a whole window behind it to the end of the market.
    ``random_window``: `length` steps from a start drawn uniformly with the env's RNG.
    """

    def __init__(self, cfg: EnvConfig, n_bars: int) -> None:
        self.first_start = cfg.window - 1
        self.mode = cfg.episode.mode
        self.length = cfg.episode.length
        if self.mode == "full":
            self.last_start = self.first_start
            if n_bars - 1 <= self.first_start:
                raise ConfigError(
                    "env.window",
                    f"window {cfg.window} leaves no step in a market of {n_bars} bars",
                )
        else:
            self.last_start = n_bars - 1 - self.length
            if self.last_start < self.first_start:
                raise ConfigError(
                    "env.episode.length",
                    f"{self.length} steps plus a window of {cfg.window} bars need "
                    f"{self.length + cfg.window} bars; the market has {n_bars}",
                )
        self.n_bars = n_bars

    def draw(self, rng: np.random.Generator) -> tuple[int, int]:
        """(start, last) of the next episode; `full` episodes consume no randomness."""
        if self.mode == "full":
            return self.first_start, self.n_bars - 1
        start = int(rng.integers(self.first_start, self.last_start + 1))
        return start, start + self.length
