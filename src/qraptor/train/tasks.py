"""What a session trains on and is evaluated with: one instrument or a portfolio.

`train_session` (trainer.py) is the same for both; what differs is behind `SessionTask`:
the data of a split (a `Market` or a `Panel`), the batched env of the training split, the
in-training validation score on val, and the post-training evaluation of a split with its
baselines and files. `session_task` picks the task from the config (`env.kind`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from stable_baselines3.common.vec_env import VecEnv

from qraptor.core import layout
from qraptor.data.panel_dataset import read_panel_metadata
from qraptor.env.fits import check_dataset_fits
from qraptor.env.market import load_market
from qraptor.env.portfolio.config import PortfolioEnvConfig
from qraptor.env.portfolio.load import cut_span, load_full_panel, load_index_panel
from qraptor.env.portfolio.panel import Panel
from qraptor.env.portfolio.vector_env import PortfolioVecEnv
from qraptor.env.vector_env import BatchedTradingEnv
from qraptor.evaluation.backtest import backtest_model
from qraptor.evaluation.evaluate import evaluate_model, write_evaluation
from qraptor.evaluation.metrics import bars_per_year, compute_metrics
from qraptor.evaluation.portfolio import model_rollout
from qraptor.evaluation.portfolio_evaluate import (
    evaluate_portfolio,
    portfolio_metrics,
    write_portfolio_evaluation,
)
from qraptor.train.config import TrainConfig

Score = Callable[[Any], dict[str, float]]  # a model -> its metrics on the val span


@dataclasses.dataclass
class SplitOutcome:
    """One split's evaluation, as the session result keeps it."""

    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    random_sharpes: list[float]
    verdict: dict[str, Any] | None
    trades: Path
    equity: Path
    portfolio: dict[str, Any] | None = None  # diagnostics and versus (a portfolio's)


class SessionTask(Protocol):
    periods_per_year: float  # of the training span: every evaluation annualises with it

    def train_env(self) -> VecEnv: ...

    def validation_score(self, deterministic: bool) -> Score: ...

    def evaluate(self, model: Any, split: str, out_dir: Path) -> SplitOutcome: ...


def session_task(cfg: TrainConfig, dataset: Path) -> SessionTask:
    """The task of `cfg` on `dataset` (its data checked against the env first)."""
    if isinstance(cfg.env, PortfolioEnvConfig):
        return PortfolioTask(cfg, dataset)
    return InstrumentTask(cfg, dataset)


class InstrumentTask:
    """One instrument: `Market`s, `BatchedTradingEnv`, evaluation.evaluate_model."""

    def __init__(self, cfg: TrainConfig, dataset: Path) -> None:
        s = cfg.session
        self.cfg, self.env, self.dataset = cfg, cfg.instrument_env, dataset
        validated = ["val"] if s.validation.enabled and "val" not in s.eval.splits else []
        check_dataset_fits(dataset, self.env, s.train_split, [*s.eval.splits, *validated], s.fold)
        self.market = load_market(dataset, s.train_split, s.fold, cfg.env.features)
        self.periods_per_year = bars_per_year(self.market.timestamps)

    def train_env(self) -> VecEnv:
        s = self.cfg.session
        return BatchedTradingEnv(self.market, self.env, s.n_envs, seed=s.seed)

    def validation_score(self, deterministic: bool) -> Score:
        cfg, s = self.cfg, self.cfg.session
        market = load_market(self.dataset, "val", s.fold, cfg.env.features)  # loaded once

        def score(model: Any) -> dict[str, float]:
            backtest = backtest_model(
                model, market, self.env, deterministic, liquidate=s.eval.liquidate
            )
            return compute_metrics(
                backtest.curve, self.periods_per_year,
                min_annualised_days=s.eval.min_annualised_days,
            )  # fmt: skip

        return score

    def evaluate(self, model: Any, split: str, out_dir: Path) -> SplitOutcome:
        cfg, s = self.cfg, self.cfg.session
        market = load_market(self.dataset, split, s.fold, cfg.env.features)
        evaluation = evaluate_model(
            model,
            market,
            self.env,
            split=split,
            deterministic=s.eval.deterministic,
            baselines=s.eval.baselines,
            random_runs=s.eval.random_runs,
            seed=s.seed,
            periods_per_year=self.periods_per_year,
            ma_windows=s.eval.ma_windows,
            liquidate=s.eval.liquidate,
            min_annualised_days=s.eval.min_annualised_days,
        )
        trades, equity = write_evaluation(evaluation, layout.eval_dir(out_dir, split))
        verdict = evaluation.verdict.to_dict() if evaluation.verdict is not None else None
        return SplitOutcome(evaluation.metrics, evaluation.baselines,
                            evaluation.random_sharpes, verdict, trades, equity)  # fmt: skip


class PortfolioTask:
    """A portfolio: `Panel`s of a panel dataset, `PortfolioVecEnv`, evaluate_portfolio."""

    def __init__(self, cfg: TrainConfig, dataset: Path) -> None:
        assert isinstance(cfg.env, PortfolioEnvConfig)
        s = cfg.session
        self.cfg, self.env, self.dataset = cfg, cfg.env, dataset
        # read once: every span the session steps through is cut from it
        self.full, self.metadata = load_full_panel(dataset), read_panel_metadata(dataset)
        self.panel = self.span(s.train_split)
        self.periods_per_year = bars_per_year(self.panel.timestamps)
        # every span the session will step through must hold a window and an episode
        # (Book raises naming the key); checked now, not after training
        splits = {*s.eval.splits, *(["val"] if s.validation.enabled else [])}
        PortfolioVecEnv(self.panel, self.env, 1)
        full_episode = dataclasses.replace(
            self.env, episode=dataclasses.replace(self.env.episode, mode="full")
        )
        for split in sorted(splits):
            PortfolioVecEnv(self.span(split), full_episode, 1)

    def span(self, split: str) -> Panel:
        """A split of the session's fold (or chronological split), from the panel read once."""
        return cut_span(self.full, self.metadata, split, self.cfg.session.fold)[0]

    def train_env(self) -> VecEnv:
        s = self.cfg.session
        return PortfolioVecEnv(self.panel, self.env, s.n_envs, seed=s.seed)

    def validation_score(self, deterministic: bool) -> Score:
        s = self.cfg.session
        panel = self.span("val")

        def score(model: Any) -> dict[str, float]:
            backtest = model_rollout(panel, self.env, model, deterministic=deterministic,
                                     liquidate=s.eval.liquidate)  # fmt: skip
            return portfolio_metrics(backtest, self.periods_per_year, s.eval.min_annualised_days)

        return score

    def evaluate(self, model: Any, split: str, out_dir: Path) -> SplitOutcome:
        s = self.cfg.session
        panel, history = cut_span(
            self.full, self.metadata, split, s.fold, self.env.baselines.lookback
        )
        evaluation = evaluate_portfolio(
            model,
            panel,
            self.env,
            split=split,
            deterministic=s.eval.deterministic,
            baseline_names=s.eval.baselines,
            periods_per_year=self.periods_per_year,
            liquidate=s.eval.liquidate,
            min_annualised_days=s.eval.min_annualised_days,
            index_panel=load_index_panel(self.dataset, split, s.fold),
            history=history,
        )
        trades, equity = write_portfolio_evaluation(evaluation, layout.eval_dir(out_dir, split))
        verdict = evaluation.verdict.to_dict() if evaluation.verdict is not None else None
        summary = evaluation.summary()
        extra = {"diagnostics": summary["diagnostics"], "versus": summary["versus"]}
        return SplitOutcome(
            evaluation.metrics, evaluation.baselines, [], verdict, trades, equity, extra
        )
