"""The sessions of a study: what each one trains and evaluates, and what comes back.

conf/train.yaml is composed once (with study.overrides), and every session is that resolved
config with a trial's parameters, a fold (or none: the held-out evaluation) and a seed set
on it, so a key of the search space is a dotted key of the session config
(``algo.learning_rate``), not a Hydra group. A fold session trains on the fold's training
span and is evaluated on its test window only; a held-out session trains on the
chronological train split and is evaluated on the test span only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from qraptor.core import layout
from qraptor.core.errors import ConfigError

EVAL_SPLIT = "test"  # a fold's test window, or the held-out test span
STITCHED_BASELINES = ("buy_and_hold", "flat")  # always evaluated next to the agent
PORTFOLIO_STITCHED = ("equal_weight", "buy_and_hold")  # a portfolio study's: 1/N first


def stitched_baselines(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The baselines every session of a study evaluates and the study stitches: one
    instrument's buy-and-hold and flat, a portfolio's 1/N and buy-and-hold."""
    env = config.get("env") or {}
    return PORTFOLIO_STITCHED if env.get("kind") == "portfolio" else STITCHED_BASELINES


def study_benchmark(config: Mapping[str, Any]) -> str:
    """What the study's verdicts compare against: the first stitched baseline."""
    return stitched_baselines(config)[0]


@dataclass(frozen=True)
class SessionSpec:
    """One session of a study: trial `trial`, fold `fold` (None: held out), seed `seed`."""

    study_id: str
    trial: int
    fold: int | None
    seed: int
    config: dict[str, Any]  # the resolved train config (session, algo, env, tracking...)

    @property
    def held_out(self) -> bool:
        return self.fold is None

    @property
    def name(self) -> str:
        where = "test" if self.fold is None else f"fold{self.fold}"
        return f"trial{self.trial:03d}-{where}-seed{self.seed}"

    def describe(self) -> dict[str, Any]:
        session = self.config.get("session", {})
        return {
            "trial": self.trial,
            "fold": self.fold,
            "seed": self.seed,
            "train_split": session.get("train_split"),
            "eval_splits": list(session.get("eval", {}).get("splits", [])),
        }


@dataclass
class SessionOutcome:
    """What a runner hands back: status, and the test evaluation when it succeeded."""

    spec: SessionSpec
    status: str  # succeeded | failed
    error: str | None = None
    equity: pd.DataFrame | None = None  # timestamp, agent, <baseline>... (one row per bar)
    metrics: dict[str, Any] = field(default_factory=dict)  # the split's agent metrics
    seconds: float = 0.0
    run: str | None = None  # the run folder, or the queued session's id

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


def session_config(
    base: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    study_id: str,
    name: str,
    trial: int,
    fold: int | None,
    seed: int,
) -> dict[str, Any]:
    """`base` (a resolved train config) with `params` and the study's session settings."""
    tree = OmegaConf.create(copy.deepcopy(dict(base)))
    for key, value in params.items():
        if OmegaConf.select(tree, key, default=_MISSING) is _MISSING:
            raise ConfigError(f"study.space.{key}", "no such key in the session config")
        OmegaConf.update(tree, key, value, merge=False)
    session = tree.session
    session.name = name
    session.seed = seed
    session.fold = fold
    if fold is not None:  # a fold has no val span: no in-training validation, the final model
        session.validation.every_timesteps = None
        session.select = "final"
    session.train_split = "train"
    session.eval.splits = [EVAL_SPLIT]
    session.objective = f"{EVAL_SPLIT}.sharpe"
    baselines = list(session.eval.baselines)
    stitched = stitched_baselines(tree)
    session.eval.baselines = [*baselines, *(b for b in stitched if b not in baselines)]
    session.tags = [*session.tags, f"study:{study_id}", f"trial:{trial}"]
    return OmegaConf.to_container(tree, resolve=True)  # type: ignore[return-value]


_MISSING = object()


def read_equity(run_dir: Path, split: str = EVAL_SPLIT) -> pd.DataFrame:
    """The agent's and the baselines' equity on `split` of a run folder, one row per bar."""
    folder = layout.eval_dir(run_dir, split)
    return equity_from_csvs(folder / layout.EQUITY, folder / layout.BASELINES_EQUITY)


def equity_from_csvs(agent_csv: Path, baselines_csv: Path) -> pd.DataFrame:
    """timestamp, agent, <baseline>...: the evaluation's equity.csv and baselines_equity.csv."""
    agent = pd.read_csv(agent_csv, usecols=["timestamp", "equity"])
    baselines = pd.read_csv(baselines_csv)
    frame = agent.rename(columns={"equity": "agent"}).merge(baselines, on="timestamp", how="left")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def bar_returns(equity: pd.DataFrame) -> pd.DataFrame:
    """Per-bar simple returns of every equity column, indexed by the bar they accrue on."""
    values = equity.drop(columns="timestamp").to_numpy(dtype=np.float64)
    returns = values[1:] / values[:-1] - 1.0
    index = pd.DatetimeIndex(equity["timestamp"].iloc[1:], name="timestamp")
    return pd.DataFrame(returns, index=index, columns=equity.columns.drop("timestamp"))
