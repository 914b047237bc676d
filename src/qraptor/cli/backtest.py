"""`qraptor backtest MODEL [--split val|test | --fold N | --data CONFIG_OR_FILE]`: replay a
trained agent (qraptor.agent) and report it as training's evaluation does.

Composes conf/qraptor.yaml once (its `store` and `tracking` sections: where a session id or
an MLflow URI is looked up, by the conventions of `qraptor sessions` and of tracking), turns
the arguments into the agent, the bars and the settings, and prints the agent-vs-baselines
table with its verdict line on stdout; progress goes to the log (stderr).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig, OmegaConf

from qraptor.core.config import compose_command, to_schema
from qraptor.core.errors import ConfigError, DataError
from qraptor.core.log import console_for_stdout, get_logger
from qraptor.core.paths import project_root
from qraptor.evaluation.baseline_names import BASELINES, PORTFOLIO_BASELINES

if TYPE_CHECKING:
    import pandas as pd

log = get_logger(__name__)
DEFAULT_OUT = Path("reports") / "backtests"


def run(args: argparse.Namespace, extra: list[str]) -> None:
    """The command: resolve, rebuild, replay, write, print."""
    from qraptor.agent.backtest import (
        backtest_summary,
        data_replay,
        replay,
        split_replay,
        write_outputs,
    )
    from qraptor.agent.resolve import resolve_agent

    overrides = [*args.overrides, *extra]
    unknown = [o for o in overrides if "=" not in o]
    if unknown:
        raise ConfigError(str(unknown[0]), "not an override (key=value); MODEL comes first")
    composed = compose_command("qraptor", overrides, primary="store")
    root = project_root()
    with tempfile.TemporaryDirectory(prefix="qraptor-backtest-") as scratch:
        work = Path(scratch)
        agent = resolve_agent(
            args.model, work / "agent",
            open_store=lambda: _open_store(composed, root),
            tracking_uri=lambda: _tracking_uri(composed, root),
        )  # fmt: skip
        cfg = agent.config
        log.info(
            "agent %s: %s %s, trained on %s (%s)",
            agent.name, cfg.algo.name, agent.model_path.name, cfg.session.dataset,
            _fold(agent.record.get("fold")),
        )  # fmt: skip
        if cfg.is_portfolio:
            _portfolio(args, agent, root)
            return
        if args.data is not None:
            source, what = _bars_source(args.data, agent.record)
            observations = _observations(args, agent, source, work / "bars", root)
            bars = data_replay(agent, observations, source, root)
        else:
            if args.start or args.end:
                raise ConfigError("--start", "cuts --data only; a split is replayed whole")
            split = "test" if args.split is None and args.fold is not None else args.split
            split = split or "test"
            what = split if args.fold is None else f"fold{args.fold}-{split}"
            bars = split_replay(
                agent, split, args.fold, root=root, allow_changed_data=args.allow_changed_data
            )
        log.info("replaying on %s: %s", what, bars.span)
        evaluation = replay(
            agent, bars,
            deterministic=args.deterministic,
            baselines=_baselines(args.baselines),
            random_runs=args.random_runs,
        )  # fmt: skip
        summary = backtest_summary(evaluation, bars, agent)
        out = args.out or root / DEFAULT_OUT / f"{agent.name}-{what}"
        title = f"{agent.name} on {what}: agent vs baselines (same costs)"
        write_outputs(
            evaluation, summary, out, plots=not args.no_plots, title=title,
            env=agent.config.instrument_env,
        )  # fmt: skip
    log.info("outputs in %s", out)
    _print_table(agent.name, what, bars.span, summary)


def _print_table(name: str, what: str, span: str, summary: dict) -> None:
    from qraptor.evaluation.policy_table import policy_rows, report_caption, rich_table

    splits = {summary["verdict"]["split"] if summary.get("verdict") else what: summary}
    title = f"backtest {name} on {what} ({span})"
    console = console_for_stdout()
    console.print(rich_table(policy_rows(splits), title=title, caption=report_caption(splits)))
    interval = summary["uncertainty"]
    if interval.get("sharpe_low") is not None:
        console.print(
            f"agent's Sharpe {interval['sharpe']:.2f}, 95% interval "
            f"[{interval['sharpe_low']:.2f}, {interval['sharpe_high']:.2f}], PSR(0) "
            f"{interval['psr']:.2f}"
        )


def _portfolio(args: argparse.Namespace, agent, root: Path) -> None:
    """A portfolio agent: a split (or fold) of its panel dataset, as training evaluated it."""
    from qraptor.agent.portfolio_backtest import (
        panel_replay,
        panel_split_replay,
        refuse_panel_data,
        write_panel_outputs,
    )

    if args.data is not None or args.start or args.end:
        refuse_panel_data()
    split = args.split or "test"
    what = split if args.fold is None else f"fold{args.fold}-{split}"
    bars = panel_split_replay(
        agent, split, args.fold, root=root, allow_changed_data=args.allow_changed_data
    )
    log.info("replaying on %s: %s", what, bars.span)
    evaluation = panel_replay(
        agent, bars, deterministic=args.deterministic,
        baselines=_baselines(args.baselines, PORTFOLIO_BASELINES),
    )  # fmt: skip
    out = args.out or root / DEFAULT_OUT / f"{agent.name}-{what}"
    title = f"{agent.name} on {what}: agent vs portfolio baselines (same costs)"
    summary = write_panel_outputs(
        evaluation, bars, agent, out, plots=not args.no_plots, title=title
    )
    log.info("outputs in %s", out)
    _print_table(agent.name, what, bars.span, summary)


def _observations(args, agent, source, work: Path, root: Path):  # -> Observations
    from qraptor.agent.bars import rebuild_observations

    return rebuild_observations(
        agent.record, source, work,
        window=agent.config.env.window,
        start=_timestamp(args.start, "--start"),
        end=_timestamp(args.end, "--end"),
        root=root,
    )  # fmt: skip


def _bars_source(value: str, record: dict):  # -> tuple[BarsSource, str]
    """--data: a data YAML, a raw file (the run's data settings), or a conf/data name."""
    from qraptor.agent.bars import BarsSource, run_data_config
    from qraptor.data.pipeline_config import load_pipeline_section
    from qraptor.data.sources import DataConfig

    path = Path(value).expanduser()
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise DataError(path, "no such data config")
        loaded = OmegaConf.load(path)
        if isinstance(loaded, DictConfig) and set(loaded) == {"data"}:
            loaded = loaded.data
        data = to_schema(loaded, DataConfig, "data")  # type: ignore[arg-type]
        return BarsSource(data), f"data-{path.stem}"
    if path.exists() or "/" in value or path.suffix:
        if not path.is_file():
            raise DataError(path, "no such data file")
        return BarsSource(run_data_config(record), (path,)), f"data-{_stem(path)}"
    data = load_pipeline_section("data", DataConfig, [f"data={value}"])
    return BarsSource(data), f"data-{value}"


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz", ".zip", ".csv", ".parquet"):
        name = name.removesuffix(suffix)
    return name


def _baselines(value: str | None, valid: tuple[str, ...] = BASELINES) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    bad = [n for n in names if n not in valid]
    if bad:
        raise ConfigError("--baselines", f"unknown {bad}; valid: {', '.join(valid)}")
    return names


def _timestamp(value: str | None, flag: str) -> pd.Timestamp | None:
    import pandas as pd

    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        raise ConfigError(flag, f"'{value}' is not a timestamp (2018-01-31 or ISO 8601)") from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _fold(fold: int | None) -> str:
    return "the chronological split" if fold is None else f"walk-forward fold {fold}"


def _open_store(composed: DictConfig, root: Path):  # -> SessionStore
    from qraptor.store.config import store_config_from
    from qraptor.store.store import SessionStore

    return SessionStore.from_config(store_config_from(composed.store), root)


def _tracking_uri(composed: DictConfig, root: Path) -> str:
    from qraptor.tracking.config import resolve_tracking_uri, tracking_config_from

    return resolve_tracking_uri(tracking_config_from(composed), root)
