"""Algorithm registry: `algo.name` -> stable-baselines3 class, and models built from config.

An AlgoConfig's fields are SB3 keyword arguments by design; the few that are not plain
values are translated here: `policy_kwargs.activation_fn` (a name) becomes a torch.nn
class, TD3's `action_noise_sigma` becomes Gaussian action noise, SAC's `ent_coef` a
number unless it is "auto...".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import A2C, DQN, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

from qraptor.train.algo_config import AlgoConfig, SACConfig, TD3Config

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "ppo": PPO,
    "a2c": A2C,
    "dqn": DQN,
    "sac": SAC,
    "td3": TD3,
}
ACTIVATION_CLASSES: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
_NOT_SB3 = ("name", "policy", "policy_kwargs", "action_noise_sigma")


def algorithm_class(name: str) -> type[BaseAlgorithm]:
    """The SB3 class registered under `name` (ppo, a2c, dqn, sac, td3)."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown algorithm '{name}'; valid: {', '.join(ALGORITHMS)}") from None


def model_kwargs(algo: AlgoConfig, env: VecEnv) -> dict[str, Any]:
    """The SB3 constructor's keyword arguments for `algo` (policy and env excluded)."""
    kwargs = {k: v for k, v in dataclasses.asdict(algo).items() if k not in _NOT_SB3}
    kwargs["policy_kwargs"] = {
        "net_arch": list(algo.policy_kwargs.net_arch),
        "activation_fn": ACTIVATION_CLASSES[algo.policy_kwargs.activation_fn],
    }
    if isinstance(algo, SACConfig) and not algo.ent_coef.startswith("auto"):
        kwargs["ent_coef"] = float(algo.ent_coef)
    if isinstance(algo, TD3Config) and algo.action_noise_sigma > 0:
        assert env.action_space.shape is not None  # TD3 acts only in a Box, which has one
        n = int(np.prod(env.action_space.shape))
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n), np.full(n, algo.action_noise_sigma))
    return kwargs


def build_model(
    algo: AlgoConfig,
    env: VecEnv,
    *,
    seed: int,
    device: str,
    tensorboard_log: Path | None = None,
) -> BaseAlgorithm:
    """A fresh SB3 model of `algo` on `env` (seeded)."""
    cls = algorithm_class(algo.name)
    return cls(
        algo.policy,
        env,
        seed=seed,
        device=device,
        verbose=0,
        tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
        **model_kwargs(algo, env),
    )


def load_model(name: str, path: Path, env: VecEnv | None, *, device: str) -> BaseAlgorithm:
    """A saved model (a checkpoint or a final model zip) of algorithm `name`, on `env`."""
    return algorithm_class(name).load(str(path), env=env, device=device)
