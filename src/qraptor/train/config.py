"""Schema of a training session: conf/train.yaml with its `session`, `algo` and `env` groups.

Types and ranges only; every value lives in conf/. A composed config is validated section by
section (the `algo` schema is chosen by `algo.name`), then across sections (an algorithm's
action-space needs, batch sizes against the number of envs), so a typo, a wrong type or an
impossible combination fails before any training with the dotted key named.

Nothing here imports torch or stable-baselines3: validating a config stays cheap for the
session tools that only queue sessions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from qraptor.core.config import check, compose, to_schema
from qraptor.core.errors import ConfigError
from qraptor.core.paths import project_root
from qraptor.env.config import EnvConfig
from qraptor.env.portfolio.config import PortfolioEnvConfig, is_portfolio_env
from qraptor.evaluation.baseline_names import BASELINES as BASELINE_NAMES
from qraptor.evaluation.baseline_names import PORTFOLIO_BASELINES, PORTFOLIO_BENCHMARK
from qraptor.evaluation.metric_names import METRIC_NAMES, objective_parts
from qraptor.train.algo_config import ALGO_SCHEMAS, AlgoConfig, check_algo_fits

TRAIN_CONFIG = "train"
# Top-level sections of the composed config. `store` belongs to the session store and
# `tracking` to MLflow tracking (each validated there); training ignores them. Anything else
# is a typo such as `+sesion.seed=1`.
TRAINING_SECTIONS = ("session", "algo", "env")  # what a session is: one definition
FOREIGN_SECTIONS = ("store", "tracking", "ledger")
SPLITS = ("train", "val", "test")
DEVICES = ("cpu", "cuda", "auto")
SELECT = ("final", "best_val")  # which model a session evaluates, exports and stores


@dataclass
class EvalConfig:
    splits: list[str]  # splits backtested after training
    deterministic: bool  # most likely action (True) or a sample from the policy
    baselines: list[str]  # buy_and_hold | flat | random | random_uniform | ma_crossover
    random_runs: int  # backtests per split of each random policy
    ma_windows: list[int | str]  # ma_crossover: [fast, slow] trailing means: bars or durations
    liquidate: bool  # every policy ends the span in cash (false: marked at the last close)
    min_annualised_days: float  # CAGR and Calmar blank on spans shorter than this

    def __post_init__(self) -> None:
        bad = [s for s in self.splits if s not in SPLITS]
        check(not bad, "eval.splits", f"unknown {bad}; valid: {', '.join(SPLITS)}")
        check(len(set(self.splits)) == len(self.splits), "eval.splits", "has duplicates")
        known = dict.fromkeys((*BASELINE_NAMES, *PORTFOLIO_BASELINES))
        bad = [b for b in self.baselines if b not in known]
        check(not bad, "eval.baselines", f"unknown {bad}; valid: {', '.join(known)}")
        check(len(set(self.baselines)) == len(self.baselines), "eval.baselines", "has duplicates")
        check(self.random_runs >= 1, "eval.random_runs", "must be >= 1")
        days = self.min_annualised_days
        check(
            math.isfinite(days) and days >= 0,
            "eval.min_annualised_days",
            f"must be a number of days >= 0, got {days}",
        )
        windows = self.ma_windows
        check(len(windows) == 2, "eval.ma_windows", f"must be [fast, slow], got {windows}")
        # imported here: it pulls in polars, and submitting a session needs none of it
        from qraptor.data.lengths import check_lengths

        check_lengths(windows, "eval.ma_windows")
        if all(isinstance(w, int) for w in windows):
            check(
                int(windows[0]) < int(windows[1]),
                "eval.ma_windows",
                f"must be [fast, slow] with 1 <= fast < slow, got {windows}",
            )


@dataclass
class ValidationConfig:
    """In-training validation (`session.validation`): a deterministic full-span backtest of
    the current policy on the val split every `every_timesteps` (and at the end), through
    the same env and costs as the final evaluation; null or 0 turns it off."""

    every_timesteps: int | None  # timesteps between evaluations; null/0 = off
    metric: str  # the metric the best checkpoint maximises (max_drawdown: minimised)
    deterministic: bool  # the policy's most likely action (false = sample from it)

    def __post_init__(self) -> None:
        every = self.every_timesteps
        check(every is None or every >= 0, "validation.every_timesteps", "must be >= 0 or null")
        check(
            self.metric in METRIC_NAMES,
            "validation.metric",
            f"'{self.metric}' is not a metric; valid: {', '.join(METRIC_NAMES)}",
        )

    @property
    def enabled(self) -> bool:
        return bool(self.every_timesteps)


@dataclass
class SessionConfig:
    """What to train on, for how long, and what to report (conf/train.yaml `session`)."""

    name: str
    seed: int
    total_timesteps: int
    n_envs: int
    torch_threads: int
    device: str
    checkpoint_every: int
    progress_seconds: float
    eval: EvalConfig
    objective: str  # "<split>.<metric>" (val.sharpe: MLflow's val/agent/sharpe) or that key
    dataset: str  # dataset folder of the split stage
    train_split: str
    fold: int | None
    tags: list[str]
    validation: ValidationConfig
    select: str  # final | best_val: the model evaluated, exported and stored
    init_from: str | None  # fine-tune: a model zip to start from (the CLI/worker resolve ids)

    def __post_init__(self) -> None:
        check(bool(self.name.strip()), "name", "must not be empty")
        check(self.seed >= 0, "seed", "must be >= 0")
        check(self.total_timesteps >= 1, "total_timesteps", "must be >= 1")
        check(self.n_envs >= 1, "n_envs", "must be >= 1")
        check(self.torch_threads >= 1, "torch_threads", "must be >= 1")
        check(self.device in DEVICES, "device", f"valid: {', '.join(DEVICES)}")
        check(self.checkpoint_every >= 1, "checkpoint_every", "must be >= 1 (timesteps)")
        check(
            self.progress_seconds > 0 and math.isfinite(self.progress_seconds),
            "progress_seconds",
            "must be > 0",
        )
        check(bool(self.dataset.strip()), "dataset", "must name the dataset folder")
        check(self.train_split in SPLITS, "train_split", f"valid: {', '.join(SPLITS)}")
        check(self.fold is None or self.fold >= 0, "fold", "must be >= 0 or null")
        if self.fold is not None:
            check(
                self.train_split != "val",
                "train_split",
                "a walk-forward fold has no 'val' span; use train",
            )
            check(
                "val" not in self.eval.splits,
                "eval.splits",
                "a walk-forward fold has no 'val' span; evaluate on [test] (and set "
                "session.objective=test.<metric>)",
            )
        check(self.select in SELECT, "select", f"'{self.select}'; valid: {', '.join(SELECT)}")
        if self.fold is not None:
            check(
                self.select != "best_val",
                "select",
                "a walk-forward fold has no 'val' span to pick a best model on; use final",
            )
            # no val span to validate on: validation is off for a fold session (rule kept
            # here so that `session.fold=k` works with the default config)
            self.validation.every_timesteps = None
        check(
            self.select != "best_val" or self.validation.enabled,
            "select",
            "best_val needs in-training validation: set session.validation.every_timesteps",
        )
        check(
            self.init_from is None or bool(self.init_from.strip()),
            "init_from",
            "must name a model (path, session id, runs:/ or models:/ URI) or be null",
        )
        try:
            split, metric = objective_parts(self.objective)
        except ValueError:
            split, metric = "", ""
        check(
            split in self.eval.splits and metric in METRIC_NAMES,
            "objective",
            f"'{self.objective}' must be <split>.<metric> (the agent's <split>/agent/<metric>;"
            f" that form is accepted too) with a split of eval.splits "
            f"({', '.join(self.eval.splits)}) and a metric of: {', '.join(METRIC_NAMES)}",
        )


@dataclass
class TrainConfig:
    """One training session: what to train (algo), where (env), how long and what to report."""

    session: SessionConfig
    algo: AlgoConfig
    env: EnvConfig | PortfolioEnvConfig  # one instrument, or a portfolio (env=portfolio)

    def __post_init__(self) -> None:
        check_algo_fits(self.algo, self.env, self.session.n_envs)
        valid = PORTFOLIO_BASELINES if self.is_portfolio else BASELINE_NAMES
        bad = [b for b in self.session.eval.baselines if b not in valid]
        kind = "a portfolio session (env=portfolio)" if self.is_portfolio else "one instrument"
        hint = " (experiment=portfolio_quick sets them)" if self.is_portfolio else ""
        check(
            not bad,
            "session.eval.baselines",
            f"{bad} are not baselines of {kind}; valid: {', '.join(valid)}{hint}",
        )
        check(
            not self.is_portfolio or PORTFOLIO_BENCHMARK in self.session.eval.baselines,
            "session.eval.baselines",
            f"a portfolio session's verdict is against {PORTFOLIO_BENCHMARK} (1/N): list it",
        )

    @property
    def is_portfolio(self) -> bool:
        """A session of the portfolio environment (its dataset is a panel)."""
        return isinstance(self.env, PortfolioEnvConfig)

    @property
    def instrument_env(self) -> EnvConfig:
        """The single instrument's env config, for code that trades one instrument only
        (ConfigError naming `env` for a portfolio session)."""
        if not isinstance(self.env, EnvConfig):
            raise ConfigError("env", "this needs a single-instrument session, not env=portfolio")
        return self.env

    def to_dict(self) -> dict[str, Any]:
        """The resolved config as plain data (saved next to the model, stored with a session)."""
        return {"session": asdict(self.session), "algo": asdict(self.algo), "env": asdict(self.env)}


def run_folder_config(folder: Path) -> TrainConfig:
    """The training config a run folder recorded (its config.yaml), validated as training
    validated it: what a replay or a served model of that run is built from."""
    from qraptor.core import layout

    loaded = OmegaConf.to_container(OmegaConf.load(Path(folder) / layout.CONFIG), resolve=True)
    return train_config_from(loaded)  # type: ignore[arg-type]


def train_config_from(composed: DictConfig | Mapping[str, Any]) -> TrainConfig:
    """Validate a composed config (from Hydra, or a stored session's resolved config)."""
    section = composed if isinstance(composed, DictConfig) else OmegaConf.create(dict(composed))
    unknown = [k for k in section if k not in (*TRAINING_SECTIONS, *FOREIGN_SECTIONS)]
    if unknown:
        raise ConfigError(
            str(unknown[0]),
            f"unknown top-level key; valid: {', '.join((*TRAINING_SECTIONS, *FOREIGN_SECTIONS))}",
        )
    missing = [k for k in TRAINING_SECTIONS if k not in section]
    if missing:
        raise ConfigError(missing[0], "missing section (compose conf/train.yaml)")
    session = to_schema(section.session, SessionConfig, "session")
    algo = _algo_config(section.algo)
    env: EnvConfig | PortfolioEnvConfig
    if is_portfolio_env(section.env):
        env = to_schema(section.env, PortfolioEnvConfig, "env")
    else:
        env = to_schema(section.env, EnvConfig, "env")
    return TrainConfig(session=session, algo=algo, env=env)


def load_train_config(overrides: Sequence[str] = ()) -> TrainConfig:
    """Compose conf/train.yaml with Hydra `overrides` (``algo=dqn``, ``session.seed=3``)."""
    return train_config_from(compose(TRAIN_CONFIG, overrides))


def _algo_config(section: DictConfig) -> AlgoConfig:
    name = section.get("name") if isinstance(section, DictConfig) else None
    if name not in ALGO_SCHEMAS:
        raise ConfigError("algo.name", f"'{name}' is not one of {', '.join(ALGO_SCHEMAS)}")
    return to_schema(section, ALGO_SCHEMAS[name], "algo")


def resolve_dataset(path: str, root: Path | None = None) -> Path:
    """A relative `session.dataset` is relative to the project root (qraptor.core.paths)."""
    dataset = Path(path).expanduser()
    return dataset if dataset.is_absolute() else (root or project_root()) / dataset
