"""`run_study`: a validated study config and the sessions' base config in, the report out.

The entry point (cli/study.py) composes conf/study.yaml and conf/train.yaml once each and
hands the typed study section, the resolved train config and the store section down;
nothing below reads conf/. Everything that can be refused is refused before the first
session trains: the study's keys, the base session config, the dataset's fold layout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import rich.progress as bars

from qraptor.core.log import console, get_logger
from qraptor.data.panel_dataset import dataset_timestamps
from qraptor.evaluation.metrics import bars_per_year
from qraptor.study.config import StudyConfig
from qraptor.study.folds import purged_layout
from qraptor.study.process_runner import ProcessRunner
from qraptor.study.report import write_report
from qraptor.study.run import Runner, Study, new_study_id
from qraptor.study.sessions import session_config
from qraptor.train.config import resolve_dataset, train_config_from

if TYPE_CHECKING:
    from qraptor.store.config import StoreConfig

log = get_logger(__name__)
SESSIONS_DIR = "sessions"


def study_dir(cfg: StudyConfig, root: Path) -> Path:
    folder = Path(cfg.out_dir).expanduser()
    return folder if folder.is_absolute() else root / folder


def run_study(
    cfg: StudyConfig,
    base: Mapping[str, Any],
    root: Path,
    store_cfg: StoreConfig | None = None,
    progress: bool = True,
    card_defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run the study; its summary (study.json). `base`: the resolved train config.
    `card_defaults`: the default train config runner=process's sessions' model cards are
    diffed against (None: cards without the diff)."""
    dataset = resolve_dataset(str(base["session"]["dataset"]), root)
    layout = purged_layout(dataset, cfg.folds)
    # the base config with the study's settings, validated once: a typo fails here
    train_config_from(
        session_config(
            base,
            {},
            study_id="check",
            name=cfg.name,
            trial=0,
            fold=layout.folds[0].number,
            seed=cfg.first_seed,
        )
    )
    out_dir = study_dir(cfg, root)
    study_id = new_study_id(cfg.name)
    log.info("study %s (%s): %d trial(s) x %d fold(s) x %d seed(s) -> %s", cfg.name, study_id,
             cfg.n_trials, len(layout.folds), cfg.seeds, out_dir)  # fmt: skip
    with _runner(cfg, out_dir / SESSIONS_DIR, root, store_cfg, card_defaults) as runner:
        study = Study(cfg, base, layout, runner, study_id)
        with _progress(study.planned_sessions, enabled=progress) as (advance, skip):
            study.on_done, study.on_skip = advance, skip
            result = study.run()
    summary = write_report(result, out_dir, bars_per_year(dataset_timestamps(dataset)))
    from qraptor.study.parent_run import log_to_parent

    one_session = session_config(base, {}, study_id=study_id, name=cfg.name, trial=0,
                                 fold=None, seed=cfg.first_seed)  # fmt: skip
    log_to_parent(one_session, study_id, summary, out_dir, root)
    return summary


@contextmanager
def _runner(
    cfg: StudyConfig,
    sessions_dir: Path,
    root: Path,
    store_cfg: StoreConfig | None,
    card_defaults: Mapping[str, Any] | None,
) -> Iterator[Runner]:
    if cfg.runner == "process":
        yield ProcessRunner(sessions_dir, root, card_defaults)
        return
    from qraptor.store.store import SessionStore
    from qraptor.study.queue_runner import QueueRunner

    if store_cfg is None:
        raise ValueError("runner=queue needs the store section")
    with SessionStore.from_config(store_cfg, root) as store:
        yield QueueRunner(store, cfg.queue, sessions_dir, root)


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[tuple[Any, Any]]:
    """A bar over the study's sessions with its ETA; (advance per session, skip n)."""
    bar = bars.Progress(
        bars.TextColumn("study"),
        bars.BarColumn(),
        bars.MofNCompleteColumn(),
        bars.TextColumn("sessions"),
        bars.TimeElapsedColumn(),
        bars.TextColumn("ETA"),
        bars.TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),  # a log file gets the log lines only
    )
    with bar:
        task = bar.add_task("sessions", total=total)

        def advance(outcome: object) -> None:
            bar.advance(task)

        def skip(n: int) -> None:
            current = bar.tasks[task].total or total
            bar.update(task, total=max(0, current - n))

        yield advance, skip
