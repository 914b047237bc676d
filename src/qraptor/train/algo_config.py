"""Schemas of conf/algo: one dataclass per algorithm, field names = SB3 keyword arguments.

`algo.name` picks the schema, so a key that one algorithm has and another lacks (say
`n_epochs` under `algo=dqn`) fails as unknown, naming the key. Which action types an
algorithm can drive is checked here too, before any model is built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from qraptor.core.config import check
from qraptor.core.errors import ConfigError
from qraptor.env.config import EnvConfig
from qraptor.env.portfolio.config import PortfolioEnvConfig

ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu", "gelu", "silu")
POLICIES = ("MlpPolicy",)  # observations are a [window, columns] box, flattened
DISCRETE_ACTIONS = ("discrete", "long_only", "levels")


@dataclass
class PolicyKwargsConfig:
    net_arch: list[int]  # hidden layer widths (SB3: separate policy / value(s) networks)
    activation_fn: str  # a name of ACTIVATIONS (algos.py maps it to torch.nn)

    def __post_init__(self) -> None:
        check(len(self.net_arch) >= 1, "policy_kwargs.net_arch", "give at least one layer")
        check(all(n >= 1 for n in self.net_arch), "policy_kwargs.net_arch", "widths must be >= 1")
        check(
            self.activation_fn in ACTIVATIONS,
            "policy_kwargs.activation_fn",
            f"'{self.activation_fn}' is not one of {', '.join(ACTIVATIONS)}",
        )


def _common(algo: Any) -> None:
    check(algo.policy in POLICIES, "policy", f"valid: {', '.join(POLICIES)}")
    lr = algo.learning_rate
    check(0 < lr < 1 and math.isfinite(lr), "learning_rate", "must be in (0, 1)")
    check(0 < algo.gamma <= 1, "gamma", "must be in (0, 1]")


@dataclass
class PPOConfig:
    name: str
    policy: str
    learning_rate: float
    n_steps: int
    batch_size: int
    n_epochs: int
    gamma: float
    gae_lambda: float
    clip_range: float
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    normalize_advantage: bool
    target_kl: float | None
    policy_kwargs: PolicyKwargsConfig

    def __post_init__(self) -> None:
        _common(self)
        check(self.n_steps >= 1, "n_steps", "must be >= 1")
        check(self.batch_size >= 2, "batch_size", "must be >= 2")
        check(self.n_epochs >= 1, "n_epochs", "must be >= 1")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", "must be in [0, 1]")
        check(0 < self.clip_range < 1, "clip_range", "must be in (0, 1)")
        check(self.ent_coef >= 0, "ent_coef", "must be >= 0")
        check(self.vf_coef >= 0, "vf_coef", "must be >= 0")
        check(self.max_grad_norm > 0, "max_grad_norm", "must be > 0")
        check(self.target_kl is None or self.target_kl > 0, "target_kl", "must be > 0 or null")


@dataclass
class A2CConfig:
    name: str
    policy: str
    learning_rate: float
    n_steps: int
    gamma: float
    gae_lambda: float
    ent_coef: float
    vf_coef: float
    max_grad_norm: float
    normalize_advantage: bool
    use_rms_prop: bool
    policy_kwargs: PolicyKwargsConfig

    def __post_init__(self) -> None:
        _common(self)
        check(self.n_steps >= 1, "n_steps", "must be >= 1")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", "must be in [0, 1]")
        check(self.ent_coef >= 0, "ent_coef", "must be >= 0")
        check(self.vf_coef >= 0, "vf_coef", "must be >= 0")
        check(self.max_grad_norm > 0, "max_grad_norm", "must be > 0")


def _off_policy(algo: Any) -> None:
    _common(algo)
    check(algo.buffer_size >= 1, "buffer_size", "must be >= 1")
    check(algo.learning_starts >= 0, "learning_starts", "must be >= 0")
    check(algo.batch_size >= 1, "batch_size", "must be >= 1")
    check(0 < algo.tau <= 1, "tau", "must be in (0, 1]")
    check(algo.train_freq >= 1, "train_freq", "must be >= 1")
    steps = algo.gradient_steps
    check(steps >= 1 or steps == -1, "gradient_steps", "must be >= 1, or -1 (one per sample)")


@dataclass
class DQNConfig:
    name: str
    policy: str
    learning_rate: float
    buffer_size: int
    learning_starts: int
    batch_size: int
    tau: float
    gamma: float
    train_freq: int
    gradient_steps: int
    target_update_interval: int
    exploration_fraction: float
    exploration_initial_eps: float
    exploration_final_eps: float
    max_grad_norm: float
    policy_kwargs: PolicyKwargsConfig

    def __post_init__(self) -> None:
        _off_policy(self)
        check(self.target_update_interval >= 1, "target_update_interval", "must be >= 1")
        check(0 < self.exploration_fraction <= 1, "exploration_fraction", "must be in (0, 1]")
        for key in ("exploration_initial_eps", "exploration_final_eps"):
            check(0 <= getattr(self, key) <= 1, key, "must be in [0, 1]")
        check(self.max_grad_norm > 0, "max_grad_norm", "must be > 0")


@dataclass
class SACConfig:
    name: str
    policy: str
    learning_rate: float
    buffer_size: int
    learning_starts: int
    batch_size: int
    tau: float
    gamma: float
    train_freq: int
    gradient_steps: int
    ent_coef: str  # "auto", "auto_<initial value>" or a fixed positive number
    policy_kwargs: PolicyKwargsConfig

    def __post_init__(self) -> None:
        _off_policy(self)
        check(_valid_ent_coef(self.ent_coef), "ent_coef", "must be auto, auto_<number> or > 0")


@dataclass
class TD3Config:
    name: str
    policy: str
    learning_rate: float
    buffer_size: int
    learning_starts: int
    batch_size: int
    tau: float
    gamma: float
    train_freq: int
    gradient_steps: int
    policy_delay: int
    target_policy_noise: float
    target_noise_clip: float
    action_noise_sigma: float  # std of Gaussian exploration noise on the [-1, 1] action
    policy_kwargs: PolicyKwargsConfig

    def __post_init__(self) -> None:
        _off_policy(self)
        check(self.policy_delay >= 1, "policy_delay", "must be >= 1")
        check(self.target_policy_noise >= 0, "target_policy_noise", "must be >= 0")
        check(self.target_noise_clip >= 0, "target_noise_clip", "must be >= 0")
        check(self.action_noise_sigma >= 0, "action_noise_sigma", "must be >= 0")


def _valid_ent_coef(value: str) -> bool:
    text = value[len("auto_") :] if value.startswith("auto_") else value
    if value == "auto":
        return True
    try:
        return float(text) > 0
    except ValueError:
        return False


AlgoConfig = PPOConfig | A2CConfig | DQNConfig | SACConfig | TD3Config
ALGO_SCHEMAS: dict[str, type] = {
    "ppo": PPOConfig,
    "a2c": A2CConfig,
    "dqn": DQNConfig,
    "sac": SACConfig,
    "td3": TD3Config,
}
# Action types each algorithm can drive (SB3: DQN needs Discrete, SAC/TD3 need a Box).
ACTION_TYPES = {
    "ppo": (*DISCRETE_ACTIONS, "continuous"),
    "a2c": (*DISCRETE_ACTIONS, "continuous"),
    "dqn": DISCRETE_ACTIONS,
    "sac": ("continuous",),
    "td3": ("continuous",),
}


def check_algo_fits(algo: AlgoConfig, env: EnvConfig | PortfolioEnvConfig, n_envs: int) -> None:
    """Cross-section checks: the action space the algorithm needs, batch sizes vs envs."""
    allowed = ACTION_TYPES[algo.name]
    if isinstance(env, PortfolioEnvConfig):  # target weights from N + 1 unbounded scores
        if "continuous" not in allowed:
            alternatives = ", ".join(n for n, t in ACTION_TYPES.items() if "continuous" in t)
            raise ConfigError(
                "algo.name",
                f"{algo.name} needs a discrete action space; the portfolio env's actions are "
                f"continuous scores (one per instrument and cash): use algo={alternatives}",
            )
    elif env.action.type not in allowed:
        alternatives = ", ".join(n for n, types in ACTION_TYPES.items() if env.action.type in types)
        raise ConfigError(
            "env.action.type",
            f"algo.name={algo.name} needs env.action.type in ({', '.join(allowed)}), got "
            f"'{env.action.type}'; change env.action.type or use algo={alternatives}",
        )
    if isinstance(algo, PPOConfig):
        rollout = algo.n_steps * n_envs
        if rollout < 2:
            raise ConfigError("algo.n_steps", "n_steps x session.n_envs must be >= 2 (SB3)")
        if algo.batch_size > rollout:
            raise ConfigError(
                "algo.batch_size",
                f"{algo.batch_size} is larger than a rollout: algo.n_steps x session.n_envs = "
                f"{algo.n_steps} x {n_envs} = {rollout}",
            )
    if isinstance(algo, DQNConfig | SACConfig | TD3Config) and algo.buffer_size < algo.batch_size:
        raise ConfigError("algo.buffer_size", f"must be >= algo.batch_size ({algo.batch_size})")
