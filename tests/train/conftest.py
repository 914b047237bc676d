"""Shared builders for the training tests: a tiny planted-signal dataset, fast overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

# A few hundred timesteps on small windows: proves the path, not skill ("fast dev run").
FAST = (
    "session.total_timesteps=256",
    "session.n_envs=4",
    "session.checkpoint_every=128",
    "session.eval.random_runs=2",
    "env.window=8",
    "env.episode.length=32",
)
# Per algorithm: rollouts / replay settings that fit 256 timesteps.
ALGO_FAST = {
    "ppo": ("algo=ppo", "algo.n_steps=32", "algo.batch_size=64", "algo.n_epochs=2"),
    "a2c": ("algo=a2c",),
    "dqn": ("algo=dqn", "algo.learning_starts=64", "algo.batch_size=32", "algo.buffer_size=1000"),
    "sac": (
        "algo=sac",
        "env.action.type=continuous",
        "algo.learning_starts=64",
        "algo.batch_size=32",
        "algo.buffer_size=1000",
    ),
    "td3": (
        "algo=td3",
        "env.action.type=continuous",
        "algo.learning_starts=64",
        "algo.batch_size=32",
        "algo.buffer_size=1000",
    ),
}


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fast_overrides(tiny_dataset: Path):
    """Hydra overrides for a fast dev run of `algo` on the tiny dataset."""

    def build(algo: str = "ppo", *extra: str) -> list[str]:
        return [*FAST, *ALGO_FAST[algo], f"session.dataset={tiny_dataset}", *extra]

    return build
