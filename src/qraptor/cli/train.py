"""`qraptor train [overrides]` (alias: `python -m qraptor.train`): train one session in this
process with Hydra; `-m` makes a sweep of sessions (see EXAMPLES below).

conf/ is found from the current directory (or $QRAPTOR_CONF_DIR). Outputs go to Hydra's
run directory (conf/train.yaml `hydra.run.dir`, one subfolder per job with `-m`). The task
returns the session's objective (`session.objective`, validation Sharpe by default), which
is what the Optuna sweeper maximises. A bad config or bad data prints one readable line and
exits with status 2 (in a sweep, that job fails and the sweep reports it). Ctrl-C stops at
the next step with a checkpoint. A password among the overrides, or in the composed config
(a file under conf/), is refused the same way before Hydra writes anything
(`RefuseCredentials`, qraptor.core.credentials).

The run folder gets a model card (model_card.md, qraptor.tracking.model_card) once the
session is evaluated.

Each session is an MLflow run (conf/tracking; `tracking.enabled=false` to skip). A `-m`
sweep, with any launcher, is one parent run with a nested run per job: `main` gives the
invocation a sweep id ($QRAPTOR_SWEEP_ID, inherited by joblib's worker processes; set it
yourself to add jobs to an existing sweep) and the jobs find or create its parent run.

The task function lives here, not in __main__.py: parallel launchers (joblib/loky) pickle
it, and a function of the `__main__` module is pickled by value with its globals (a rich
console holds a lock: unpicklable); from an importable module it goes by reference.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig
from rich.markup import escape

from qraptor.core.config import find_conf_dir
from qraptor.core.credentials import refuse_secret_arguments, refuse_secret_config
from qraptor.core.errors import QraptorError
from qraptor.core.ids import OUTPUT_DIR_TAG, SWEEP_ENV, new_sweep_id
from qraptor.core.log import (
    console,
    console_for_stdout,
    get_logger,
    human_count,
    setup_logging,
)
from qraptor.core.paths import project_root
from qraptor.tracking.config import tracking_config_from
from qraptor.train.config import TRAIN_CONFIG, train_config_from

if TYPE_CHECKING:
    from hydra.conf import HydraConf

    from qraptor.tracking.config import TrackingConfig
    from qraptor.tracking.session_run import SessionTracker
    from qraptor.train.config import TrainConfig
    from qraptor.train.result import TrainResult

log = get_logger(__name__)
PROGRESS_LINE_SECONDS = 10.0  # off a terminal: how often a progress line is logged
DVC_STAGE_ENV = "DVC_STAGE"  # set by `dvc repro` for the command of each stage it runs
INIT_FROM_DIR = "init_from"  # <run dir>/init_from/: a downloaded model to fine-tune from
EXAMPLES = """\
usage: qraptor train [-m] [OVERRIDE ...]   (Hydra overrides of conf/train.yaml)

  qraptor train experiment=tiny                       # a smoke session of a few seconds
  qraptor train experiment=quick                      # a few thousand timesteps
  qraptor train algo=a2c session.seed=3               # another algorithm, another seed
  qraptor train session.total_timesteps=100000        # how long (timesteps in all)
  qraptor train tracking.enabled=false                # no MLflow run
  qraptor train session.validation.every_timesteps=10000 session.select=best_val
                                                      # validate on val, keep the best model
  qraptor train session.init_from=models/agent        # fine-tune: start from that model
  qraptor train session.init_from=models:/qraptor-default-ppo/3   # ...or a registered one
  qraptor train -m session.seed=0,1,2                 # a sweep, one session after the other
  qraptor train -m hydra/launcher=joblib_local session.seed=0,1   # 2 sessions in parallel
  qraptor train -m hydra/launcher=mongo session.seed=0,1,2        # queue them for workers
  qraptor train hparams_search=ppo_optuna             # an Optuna search
  qraptor train --cfg job                             # print the composed config, train nothing

Groups (conf/): env, algo (ppo | a2c | dqn | sac | td3), experiment, hparams_search, tracking,
store, ledger. Outputs: conf/hydra/default.yaml run.dir (one folder per job with -m).
Hydra's own options: qraptor train --hydra-help
"""


def run(composed: DictConfig) -> float | None:
    """The Hydra task: validate, train, evaluate, print the summary, return the objective."""
    setup_logging()
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    root = project_root()  # found once, here: relative datasets and stores are in it
    sweep_id = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        sweep_id = os.environ.get(SWEEP_ENV) or f"hydra:{Path(hydra_cfg.sweep.dir).resolve()}"
    try:
        # every trial of a sweep goes on the ledger, failed ones too (the deflated Sharpe
        # ratio counts them all); a single run loads no store
        with _ledger_job(composed, hydra_cfg, sweep_id) as job:
            cfg = train_config_from(composed)
            tracking = tracking_config_from(composed)
            # Imported after validation: a bad config fails before torch, SB3 and MLflow load.
            from qraptor.tracking.card_facts import train_defaults
            from qraptor.tracking.model_card import write_run_card
            from qraptor.tracking.session_run import start_session_run
            from qraptor.train.trainer import TrainHooks, train_session

            config = cfg.to_dict()
            run_name = None
            if hydra_cfg.mode == RunMode.MULTIRUN and tracking.enabled:
                from qraptor.tracking.run_metadata import default_run_name

                run_name = f"{default_run_name(config, None)}-job{hydra_cfg.job.num}"
            init_from = _init_from(cfg, composed, tracking, out_dir, root)
            stop = _StopOnInterrupt()
            with start_session_run(
                config,
                sweep_id=sweep_id,
                tags=_hydra_tags(hydra_cfg, out_dir),
                tracking=tracking,
                experiment_preset=hydra_cfg.runtime.choices.get("experiment"),
                run_name=run_name,
                root=root,
            ) as tracker:
                progress = None if sys.stderr.isatty() else _ProgressLines()  # a tty: a bar
                hooks = tracker.train_hooks(
                    TrainHooks(should_stop=stop, on_progress=progress), out_dir
                )
                result = train_session(cfg, out_dir, hooks, root=root, init_from=init_from)
                if not result.stopped_early:  # before log_result: MLflow gets the card too
                    write_run_card(out_dir, train_defaults(_conf_dir()))
                tracker.log_result(result, out_dir)
            job.finished(result, cfg.session.objective, tracker.run_id if tracker.enabled else None)
    except QraptorError as exc:
        if hydra_cfg.mode == RunMode.MULTIRUN:
            raise  # the sweep records this job as failed, with the message
        _fail(exc)
    _print_summary(cfg.session.name, cfg.session.objective, result, out_dir, tracker)
    return result.objective


def _init_from(
    cfg: TrainConfig, composed: DictConfig, tracking: TrackingConfig, out_dir: Path, root: Path
) -> Path | None:
    """`session.init_from` as a local zip: a path as is; a session id from the store, an
    MLflow URI from the tracking server, downloaded into <run dir>/init_from/."""
    spec = cfg.session.init_from
    if spec is None:
        return None
    from qraptor.store.config import store_config_from
    from qraptor.worker.model_source import resolve_with_config

    store_cfg = store_config_from(composed.store) if "store" in composed else None
    return resolve_with_config(
        spec, out_dir / INIT_FROM_DIR, root=root, tracking=tracking, store_cfg=store_cfg
    )


def _conf_dir() -> Path | None:
    """The conf/ this task was composed from (the model card's defaults), if found."""
    try:
        return find_conf_dir()
    except QraptorError:
        return None


class _NotASweepJob:
    """The ledger's stand-in for a single run: nothing to record."""

    def finished(self, *args: object, **kwargs: object) -> None:
        pass


def _ledger_job(composed: DictConfig, hydra_cfg: HydraConf, sweep_id: str | None):
    """The ledger's record of this job when it is one job of a multirun, else nothing."""
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return contextlib.nullcontext(_NotASweepJob())
    from qraptor.worker.ledger_jobs import record_sweep_job

    return record_sweep_job(composed, hydra_cfg, sweep_id)


def _hydra_tags(hydra_cfg: HydraConf, out_dir: Path) -> dict[str, str]:
    """Where and how Hydra ran this job, for the run's tags (overrides scrubbed)."""
    from qraptor.core.redact import scrub_override

    tags = {OUTPUT_DIR_TAG: str(out_dir.resolve())}
    overrides = [scrub_override(str(o)) for o in hydra_cfg.overrides.task]
    if overrides:
        tags["qraptor.overrides"] = " ".join(overrides)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        tags["qraptor.hydra_job_num"] = str(hydra_cfg.job.num)
        tags["qraptor.launcher"] = str(hydra_cfg.runtime.choices.get("hydra/launcher"))
    return tags


class _ProgressLines:
    """Training progress off a terminal (a pipe, a CI or dvc log, `make demo | tee`), where
    SB3's bar is not drawn: a line every `every` seconds with the share done and the time
    left, so a long session is not silence."""

    def __init__(self, every: float = PROGRESS_LINE_SECONDS) -> None:
        self.every = every
        self.started = time.monotonic()
        self.first: int | None = None
        self.last = self.started

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.first is None:  # a resumed session starts past 0: its rate counts from here
            self.first = done
        if now - self.last < self.every or done >= total:
            return
        self.last = now
        rate = (done - self.first) / max(now - self.started, 1e-9)
        left = f", about {(total - done) / rate:.0f} s left" if rate > 0 else ""
        log.info(
            "training: %s of %s timesteps (%.0f%%), %s/s%s",
            human_count(done), human_count(total), 100 * done / total, human_count(rate), left,
        )  # fmt: skip


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


def _print_summary(
    name: str,
    objective_metric: str,
    result: TrainResult,
    out_dir: Path,
    tracker: SessionTracker | None = None,
) -> None:
    """The agent next to its baselines, per split, on stdout (the session summary's table;
    as a DVC stage, one line: the evaluate stage shows the same figures)."""
    from qraptor.evaluation.metric_names import objective_key
    from qraptor.evaluation.policy_table import policy_rows, report_caption, rich_table
    from qraptor.train.summary import session_summary

    speed = f"{result.timesteps_per_second:,.0f}/s"
    title = f"session {name}: {result.timesteps:,} timesteps ({speed})"
    out = console_for_stdout()
    if os.environ.get(DVC_STAGE_ENV) and not result.stopped_early:
        # a pipeline's stage: its evaluate stage reports the same figures (`make demo`
        # prints that table once, at the end), so the log does not carry it twice
        out.print(f"{title}; evaluated (the table: evaluate stage)", highlight=False,
                  soft_wrap=True)  # fmt: skip
    else:
        splits = session_summary(result, objective_metric)["splits"]
        out.print(rich_table(policy_rows(splits), title=title, caption=report_caption(splits)))
    if result.stopped_early:
        out.print(f"stopped early; last checkpoint: {result.model_path}", soft_wrap=True)
    key = objective_key(objective_metric)  # the name MLflow and DVC give it
    # lines holding a path are never wrapped (a path cut in two cannot be pasted)
    out.print(f"objective {key} = {result.objective}; outputs in {out_dir}", soft_wrap=True)
    if tracker is not None and tracker.enabled:
        from qraptor.core.redact import redact_uri

        out.print(f"MLflow run {tracker.run_id} (experiment {tracker.experiment!r}) at "
                  f"{redact_uri(tracker.uri or '')}", soft_wrap=True)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    """Run the Hydra task on `argv` (default: the process's arguments after the command)."""
    if argv is not None:
        sys.argv = ["qraptor train", *argv]
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__.split("\n\n", 1)[0].replace("`", ""))
        print()
        print(EXAMPLES, end="")
        return
    # One sweep id per invocation: every job of a `-m` sweep (joblib's processes inherit
    # the environment) nests its MLflow run under the same parent.
    if not os.environ.get(SWEEP_ENV):
        os.environ[SWEEP_ENV] = new_sweep_id()
    try:
        refuse_secret_arguments(sys.argv[1:])  # before Hydra writes them into outputs/
        conf_dir = find_conf_dir()
    except QraptorError as exc:
        _fail(exc)
    hydra.main(version_base="1.3", config_path=str(conf_dir), config_name=TRAIN_CONFIG)(run)()


class RefuseCredentials(Callback):
    """`hydra.callbacks` of conf/hydra/default.yaml: refuses a composed config that holds a
    secret (a password in a file under conf/) before Hydra writes the run or sweep folder.

    Hydra composes the config, runs these hooks, and only then saves multirun.yaml (the
    sweeper) or .hydra/{config,hydra,overrides}.yaml (each job)."""

    def on_run_start(self, config: DictConfig, **kwargs: object) -> None:
        self._refuse(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        self._refuse(config)

    @staticmethod
    def _refuse(config: DictConfig) -> None:
        try:
            overrides = [*config.hydra.overrides.hydra, *config.hydra.overrides.task]
            refuse_secret_arguments([str(o) for o in overrides])  # when not run through main()
            refuse_secret_config(config)
        except QraptorError as exc:
            _fail(exc)


def _fail(exc: QraptorError) -> NoReturn:
    """One readable line and exit status 2 (SystemExit passes through Hydra's handler)."""
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    sys.exit(2)
