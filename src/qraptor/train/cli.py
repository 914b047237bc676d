"""`python -m qraptor.train [overrides]`: train one session in this process with Hydra.

    python -m qraptor.train experiment=quick
    python -m qraptor.train algo=a2c session.seed=3
    python -m qraptor.train -m session.seed=0,1,2                      # basic launcher, in turn
    python -m qraptor.train -m hydra/launcher=joblib_local session.seed=0,1   # 2 in parallel
    python -m qraptor.train hparams_search=ppo_optuna                  # Optuna sweep

conf/ is found from the current directory (or $QRAPTOR_CONF_DIR). Outputs go to Hydra's
run directory (conf/train.yaml `hydra.run.dir`, one subfolder per job with `-m`). The task
returns the session's objective (`session.objective`, validation Sharpe by default), which
is what the Optuna sweeper maximises. A bad config or bad data prints one readable line and
exits with status 2 (in a sweep, that job fails and the sweep reports it). Ctrl-C stops at
the next step with a checkpoint.

The task function lives here, not in __main__.py: parallel launchers (joblib/loky) pickle
it, and a function of the `__main__` module is pickled by value with its globals (a rich
console holds a lock: unpicklable); from an importable module it goes by reference.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from qraptor.common.log import console, setup_logging
from qraptor.config import find_conf_dir
from qraptor.errors import QraptorError
from qraptor.train.config import TRAIN_CONFIG, train_config_from

if TYPE_CHECKING:
    from qraptor.train.trainer import TrainResult

# metric -> column title of the summary table
SUMMARY_METRICS = {
    "total_return": "return",
    "annual_return": "annual",
    "sharpe": "sharpe",
    "sortino": "sortino",
    "max_drawdown": "max dd",
    "n_trades": "trades",
    "costs_paid": "costs",
}


def run(composed: DictConfig) -> float | None:
    """The Hydra task: validate, train, evaluate, print the summary, return the objective."""
    setup_logging()
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    try:
        cfg = train_config_from(composed)
        # Imported after validation: a bad config fails before torch and SB3 load (~2 s).
        from qraptor.train.trainer import TrainHooks, train_session

        stop = _StopOnInterrupt()
        result = train_session(cfg, out_dir, TrainHooks(should_stop=stop))
    except QraptorError as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # the sweep records this job as failed, with the message
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    _print_summary(cfg.session.name, result, out_dir)
    return result.objective


class _StopOnInterrupt:
    """SIGINT handler + should_stop hook: the first Ctrl-C stops cleanly, a second kills."""

    def __init__(self) -> None:
        self.requested = False
        # Not the main thread (a threaded launcher): keep the default handler.
        with contextlib.suppress(ValueError):
            signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __call__(self) -> bool:
        return self.requested


def _print_summary(name: str, result: TrainResult, out_dir: Path) -> None:
    """The agent next to its baselines, per split, on stdout."""
    speed = f"{result.timesteps_per_second:,.0f}/s"
    table = Table(title=f"session {name}: {result.timesteps:,} timesteps ({speed})")
    table.add_column("split / policy")
    for title in SUMMARY_METRICS.values():
        table.add_column(title, justify="right")
    for split, metrics in result.metrics.items():
        table.add_row(f"{split} agent", *(_fmt(metrics[m]) for m in SUMMARY_METRICS))
        for baseline, values in result.baselines[split].items():
            table.add_row(f"  {baseline}", *(_fmt(values[m]) for m in SUMMARY_METRICS))
    out = Console(width=None if sys.stdout.isatty() else 120)
    out.print(table)
    if result.stopped_early:
        out.print(f"stopped early; last checkpoint: {result.model_path}")
    out.print(f"objective {result.objective}; outputs in {out_dir}")


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def main() -> None:
    try:
        conf_dir = find_conf_dir()
    except QraptorError as exc:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    hydra.main(version_base="1.3", config_path=str(conf_dir), config_name=TRAIN_CONFIG)(run)()
