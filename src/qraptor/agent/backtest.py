"""Replay a trained agent: the same environment, costs, baselines and verdict as training's
evaluation, on a split of its own dataset or on bars rebuilt from new data.

On a split (`split_replay`) it is training's evaluation again: the same dataset (checked to
be the one trained on), `load_market` with the run's features, `evaluate_model` with the
run's EnvConfig, `session.eval` settings and seed, and the annualisation the trainer used
(bars a year of the training split), so `qraptor backtest models/agent --split test` gives
eval/test's figures exactly. On new data (`data_replay`) the bars come from
`qraptor.agent.bars`; the annualisation is the same training split's, from data.json.

The outputs (`write_outputs`), one folder replaced whole: trades.csv, equity.csv,
baselines_equity.csv (the evaluation's own writer), decisions.csv (the policy's decision at
each bar, as a served model answers them: qraptor.evaluation.serving), metrics.json (the
evaluation's summary, plus the share of random runs beaten, the Sharpe ratio's 95 %
interval and PSR(0), and what was replayed on what) and equity.png (the evaluation
report's figure).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.agent.bars import BarsSource, Observations
from qraptor.agent.run_folder import TrainedAgent
from qraptor.core import layout
from qraptor.core.atomic import atomic_dir, write_json_atomic
from qraptor.core.errors import DataError
from qraptor.core.log import get_logger
from qraptor.data.plots import save_figure
from qraptor.data.record import frozen_z, run_record
from qraptor.data.split import load_split
from qraptor.env.config import EnvConfig
from qraptor.env.market import Market, load_market
from qraptor.evaluation.evaluate import SplitEvaluation, evaluate_model, write_evaluation
from qraptor.evaluation.metrics import YEAR_NS, bars_per_year
from qraptor.evaluation.report import evaluation_figure, split_frame
from qraptor.evaluation.serving import decision_table, observed_market
from qraptor.evaluation.verdict import sharpe_uncertainty
from qraptor.train.summary import beats_random_share

log = get_logger(__name__)
FIGURE = "equity.png"
DECISIONS = "decisions.csv"  # one row per decision: what a served model answers on these bars
OUTPUTS = (*layout.EVAL_FILES, layout.METRICS, DECISIONS, FIGURE)
DATA_LABEL = "data"  # the split column of a replay on new data
RECORD_KEYS = ("columns", "normalize", "spans")  # what makes a dataset the one trained on


@dataclass(frozen=True)
class Replay:
    """The bars to replay the agent on, and how to annualise its figures."""

    label: str  # the evaluation's split name: val, test or data
    market: Market
    periods_per_year: float
    about: dict[str, Any]  # metrics.json "backtest": what was replayed on what

    @property
    def span(self) -> str:
        first, last = (pd.Timestamp(self.market.timestamps[i], tz="UTC") for i in (0, -1))
        return f"{len(self.market):,} bars, {first} to {last}"


def split_replay(
    agent: TrainedAgent,
    split: str,
    fold: int | None = None,
    *,
    root: Path | None = None,
    allow_changed_data: bool = False,
) -> Replay:
    """`split` (val | test) of the run's dataset; with `fold`, that walk-forward fold's
    test span (the run's own fold: as trained; another: its bars with the run's frozen
    z-scores, since the fold's own were fitted on another training span)."""
    from qraptor.train.config import resolve_dataset

    cfg, record = agent.config, agent.record
    s = cfg.session
    dataset = resolve_dataset(s.dataset, root)
    check_dataset(agent, dataset, root, allow_changed_data)
    fold = s.fold if fold is None else fold
    if fold == s.fold:
        market = load_market(dataset, split, fold, cfg.env.features)
    else:
        frame = with_runs_z(load_split(dataset, split, fold), record)
        market = observed_market(frame, record, cfg.env.features)
    about = {"split": split, "fold": fold, "dataset": str(dataset), "data": record.get("dataset")}
    return Replay(split, market, _training_bars_per_year(agent, dataset), about)


def data_replay(
    agent: TrainedAgent, observations: Observations, source: BarsSource, root: Path | None = None
) -> Replay:
    """The rebuilt bars of `source` (`qraptor.agent.bars.rebuild_observations`), annualised
    as training was: from the run's training split when its dataset is here unchanged, else
    from data.json's training span (a warning says so: that span counts the normalisation's
    warm-up rows, which the training market does not hold)."""
    from qraptor.train.config import resolve_dataset

    record, s = agent.record, agent.config.session
    market = observed_market(observations.frame, record, agent.config.env.features)
    dataset = resolve_dataset(s.dataset, root)
    try:
        check_dataset(agent, dataset, root, allow_changed_data=False)
        per_year, annualised = _training_bars_per_year(agent, dataset), "training split"
    except DataError as exc:
        per_year, annualised = recorded_bars_per_year(record, s.train_split), "data.json span"
        log.warning(
            "annualising with data.json's %s span (%.1f bars a year), not the training split's "
            "own (%s): Sharpe and volatility may differ slightly from training's scale",
            s.train_split, per_year, exc.problem,
        )  # fmt: skip
    about = {"data": source.describe(), "bars": observations.describe(), "annualised": annualised}
    return Replay(DATA_LABEL, market, per_year, about)


def _training_bars_per_year(agent: TrainedAgent, dataset: Path) -> float:
    """The trainer's annualisation: bars a year of the training split's market."""
    s, features = agent.config.session, agent.config.env.features
    return bars_per_year(load_market(dataset, s.train_split, s.fold, features).timestamps)


def with_runs_z(frame: pd.DataFrame, record: dict[str, Any]) -> pd.DataFrame:
    """Another fold's bars with the run's z-scores: the fold's expanding statistics were
    fitted on its own training span, so they are replaced by the run's frozen ones (bar by
    bar: no history needed); a rolling z-score fits nothing, so the fold's are the run's."""
    settings = record["normalize"]
    if settings["method"] == "rolling":
        return frame
    columns = list(record["columns"]["features"])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(None, f"the bars lack the run's feature column(s) {missing}")
    z = frozen_z(frame, columns, settings)
    return pd.concat([frame.drop(columns=list(z.columns), errors="ignore"), z], axis=1)


def recorded_bars_per_year(record: dict[str, Any], split: str) -> float:
    """`bars_per_year` of the training split's span in data.json (first, last, rows): close
    to the trainer's annualisation when the dataset is not at hand. A record written by the
    trainer since carries the trainer's own figure (`periods_per_year`): that one wins."""
    if record.get("periods_per_year"):
        return float(record["periods_per_year"])
    span = (record.get("spans") or {}).get(split)
    if not span:
        raise DataError(None, f"the run's data record has no '{split}' span", rule="data_record")
    elapsed = float(pd.Timestamp(span["last"]).value - pd.Timestamp(span["first"]).value)
    return (int(span["rows"]) - 1) * YEAR_NS / elapsed


def check_dataset(
    agent: TrainedAgent, dataset: Path, root: Path | None, allow_changed_data: bool
) -> None:
    """Refuse (or, allowed, warn about) a dataset that is not the one the run was trained
    on: other columns, normalisation or spans, or another version hash of the same kind."""
    record = agent.record
    if not Path(dataset).is_dir():
        raise DataError(dataset, "the run's dataset is not here (`dvc pull` or `dvc repro`)")
    now = run_record(dataset, record.get("fold"), root)
    differs = [key for key in RECORD_KEYS if now.get(key) != record.get(key)]
    then_version, now_version = record.get("dataset") or {}, now.get("dataset") or {}
    if then_version.get("method") == now_version.get("method") and then_version.get(
        "hash"
    ) != now_version.get("hash"):
        differs.append("version hash")
    if not differs:
        return
    problem = (
        f"not the dataset {agent.name} was trained on ({', '.join(differs)} differ): trained "
        f"on {_version(then_version)}, now {_version(now_version)}; restore it (`dvc "
        "checkout` at the commit it was trained at) or pass --allow-changed-data"
    )
    if not allow_changed_data:
        raise DataError(dataset, problem, rule="dataset_changed")
    log.warning("%s: %s (replaying anyway: --allow-changed-data)", dataset, problem)


def replay(
    agent: TrainedAgent,
    bars: Replay,
    *,
    deterministic: bool | None = None,
    baselines: list[str] | None = None,
    random_runs: int | None = None,
) -> SplitEvaluation:
    """Training's evaluation of the agent on `bars`: `session.eval`'s settings unless given."""
    cfg = agent.config
    s, settings = cfg.session, cfg.session.eval
    model = seeded_model(agent)
    return evaluate_model(
        model,
        bars.market,
        cfg.instrument_env,
        split=bars.label,
        deterministic=settings.deterministic if deterministic is None else deterministic,
        baselines=settings.baselines if baselines is None else baselines,
        random_runs=settings.random_runs if random_runs is None else random_runs,
        seed=s.seed,
        periods_per_year=bars.periods_per_year,
        ma_windows=settings.ma_windows,
        liquidate=settings.liquidate,
        min_annualised_days=settings.min_annualised_days,
    )


def seeded_model(agent: TrainedAgent) -> Any:
    """The agent's SB3 model, loaded after seeding as training did (its seed, threads)."""
    from qraptor.train.algos import load_model
    from qraptor.train.trainer import seed_everything

    s = agent.config.session
    seed_everything(s.seed, s.torch_threads)
    return load_model(agent.config.algo.name, agent.model_path, None, device=s.device)


def backtest_summary(
    evaluation: SplitEvaluation, bars: Replay, agent: TrainedAgent
) -> dict[str, Any]:
    """metrics.json: the evaluation's summary (eval/<split>/metrics.json's keys and values),
    the share of random runs the agent beat, the uncertainty, what was replayed on what."""
    summary = evaluation.summary()
    summary["agent_beats_random_share"] = beats_random_share(
        evaluation.metrics.get("sharpe"), evaluation.random_sharpes
    )
    summary["uncertainty"] = sharpe_uncertainty(evaluation.metrics, bars.periods_per_year)
    summary["backtest"] = {
        "agent": agent.describe(),
        **bars.about,
        "periods_per_year": bars.periods_per_year,
    }
    return summary


def write_outputs(
    evaluation: SplitEvaluation,
    summary: dict[str, Any],
    out_dir: Path,
    *,
    plots: bool,
    title: str,
    env: EnvConfig,
) -> list[Path]:
    """The folder `out_dir`, replaced whole (module docstring); the files written."""
    out_dir = Path(out_dir)
    _refuse_foreign_folder(out_dir)
    with atomic_dir(out_dir) as tmp:
        write_evaluation(evaluation, tmp)
        write_json_atomic(tmp / layout.METRICS, summary)
        decisions_frame(evaluation, env).to_csv(tmp / DECISIONS, index=False)
        if plots:
            save_figure(evaluation_figure(split_frame(tmp), title), tmp / FIGURE)
    return sorted(p for p in out_dir.iterdir() if p.is_file())


def decisions_frame(evaluation: SplitEvaluation, env: EnvConfig) -> pd.DataFrame:
    """decisions.csv: the policy's decision at each bar of the replay (a liquidation step
    is not one), as `qraptor.evaluation.serving` names them, with the position held."""
    backtest = evaluation.agent
    n = len(backtest.actions)
    stamps = pd.DatetimeIndex(backtest.curve["timestamp"].iloc[:n]).as_unit("ns").asi8
    held = [0.0, *backtest.targets[: n - 1]]  # the account starts flat
    return decision_table(env, stamps, backtest.actions, held)


def _refuse_foreign_folder(out_dir: Path) -> None:
    """The folder is replaced whole: refuse one holding anything but a backtest's files."""
    if not out_dir.is_dir():
        return
    foreign = sorted(p.name for p in out_dir.iterdir() if p.name not in OUTPUTS)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise DataError(
            out_dir,
            f"holds other files ({shown}); the backtest replaces its folder whole: give "
            "--out a new or a backtest's folder",
            rule="out_folder",
        )


def _version(version: dict[str, Any]) -> str:
    if not version:
        return "an unrecorded version"
    return f"{version.get('method')} {str(version.get('hash'))[:16]}"
