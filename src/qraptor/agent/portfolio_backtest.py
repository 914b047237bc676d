"""Replay a trained portfolio agent on a split of its panel dataset (issue 16): training's
evaluation again, with the same environment config, baselines, seed and annualisation, so
`qraptor backtest RUN --split test` on a portfolio run gives its eval/test figures exactly.

Replaying a portfolio on other data (`--data`) needs the panel pipeline's features rebuilt
on another panel; it is refused with that said. Outputs, one folder replaced whole:
equity.csv, weights.csv, trades.csv, baselines_equity.csv, metrics.json (the evaluation's
summary plus the Sharpe ratio's interval and what was replayed) and equity.png (equity
against the baselines, drawdown, the weights over time).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qraptor.agent.backtest import FIGURE, check_dataset, seeded_model
from qraptor.agent.run_folder import TrainedAgent
from qraptor.core import layout
from qraptor.core.atomic import atomic_dir, write_json_atomic
from qraptor.core.errors import DataError
from qraptor.data.plots import save_figure
from qraptor.env.portfolio.config import PortfolioEnvConfig
from qraptor.env.portfolio.load import load_index_panel, load_panel, load_span
from qraptor.env.portfolio.panel import Panel
from qraptor.evaluation.metrics import bars_per_year
from qraptor.evaluation.portfolio_evaluate import (
    PortfolioEvaluation,
    evaluate_portfolio,
    write_portfolio_evaluation,
)
from qraptor.evaluation.report import split_figure
from qraptor.evaluation.verdict import sharpe_uncertainty

OUTPUTS = (*layout.EVAL_FILES, layout.WEIGHTS, layout.METRICS, FIGURE)


@dataclass(frozen=True)
class PanelReplay:
    label: str  # val | test
    panel: Panel
    index: Panel | None
    history: Panel | None  # the bars before the span: the look-back baselines' past
    periods_per_year: float
    about: dict[str, Any]

    @property
    def span(self) -> str:
        import pandas as pd

        first, last = (pd.Timestamp(self.panel.timestamps[i], tz="UTC") for i in (0, -1))
        return (
            f"{len(self.panel):,} bars x {self.panel.n_instruments} instruments, {first} to {last}"
        )


def panel_split_replay(
    agent: TrainedAgent,
    split: str,
    fold: int | None = None,
    *,
    root: Path | None = None,
    allow_changed_data: bool = False,
) -> PanelReplay:
    """`split` of the run's panel dataset (with `fold`: that fold's span)."""
    from qraptor.train.config import resolve_dataset

    s = agent.config.session
    dataset = resolve_dataset(s.dataset, root)
    check_dataset(agent, dataset, root, allow_changed_data)
    fold = s.fold if fold is None else fold
    assert isinstance(agent.config.env, PortfolioEnvConfig)
    panel, history = load_span(dataset, split, fold, agent.config.env.baselines.lookback)
    per_year = bars_per_year(load_panel(dataset, s.train_split, s.fold).timestamps)
    about = {"split": split, "fold": fold, "dataset": str(dataset),
             "data": agent.record.get("dataset")}  # fmt: skip
    index = load_index_panel(dataset, split, fold)
    return PanelReplay(split, panel, index, history, per_year, about)


def refuse_panel_data() -> None:
    raise DataError(
        None,
        "--data replays one instrument's bars; a portfolio agent replays a split of its panel "
        "dataset (--split, --fold). To test it on other instruments or dates, make a panel "
        "dataset of them (conf/panel, `dvc repro panel_dataset`) and train on it",
        rule="portfolio_data",
    )


def panel_replay(
    agent: TrainedAgent,
    bars: PanelReplay,
    *,
    deterministic: bool | None = None,
    baselines: list[str] | None = None,
) -> PortfolioEvaluation:
    """Training's evaluation of the agent on `bars`: `session.eval`'s settings unless given."""
    cfg = agent.config
    assert isinstance(cfg.env, PortfolioEnvConfig)
    settings = cfg.session.eval
    return evaluate_portfolio(
        seeded_model(agent),
        bars.panel,
        cfg.env,
        split=bars.label,
        deterministic=settings.deterministic if deterministic is None else deterministic,
        baseline_names=settings.baselines if baselines is None else baselines,
        periods_per_year=bars.periods_per_year,
        liquidate=settings.liquidate,
        min_annualised_days=settings.min_annualised_days,
        index_panel=bars.index,
        history=bars.history,
    )


def write_panel_outputs(
    evaluation: PortfolioEvaluation,
    bars: PanelReplay,
    agent: TrainedAgent,
    out_dir: Path,
    *,
    plots: bool,
    title: str,
) -> dict[str, Any]:
    """The folder `out_dir`, replaced whole (module docstring); the summary written."""
    out_dir = Path(out_dir)
    if out_dir.is_dir():
        foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in OUTPUTS)
        if foreign:
            raise DataError(out_dir, f"holds other files ({', '.join(foreign[:5])}); the "
                            "backtest replaces its folder whole", rule="out_folder")  # fmt: skip
    summary = evaluation.summary()
    summary["uncertainty"] = sharpe_uncertainty(evaluation.metrics, bars.periods_per_year)
    summary["backtest"] = {"agent": agent.describe(), **bars.about,
                           "periods_per_year": bars.periods_per_year}  # fmt: skip
    with atomic_dir(out_dir) as tmp:
        write_portfolio_evaluation(evaluation, tmp)
        write_json_atomic(tmp / layout.METRICS, summary)
        if plots:
            save_figure(split_figure(tmp, title), tmp / FIGURE)
    return summary
