"""runner=process: a study's sessions trained in this process, one after the other.

Each session is tracked the way `qraptor train` tracks one (tracking/session_run.py: an
MLflow run with params, curves, metrics and files), nested under the study's parent run
(the study id is the sweep id), unless the sessions' `tracking.enabled` is false; each
run folder gets its model card (tracking/model_card.py). A session
that fails (a bad hyperparameter value, a dataset that cannot hold its window) is an outcome
with its error, not the end of the study: the trial it belongs to is recorded as failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text
from qraptor.study.sessions import SessionOutcome, SessionSpec, read_equity

log = get_logger(__name__)
OnDone = Callable[[SessionOutcome], None]


class ProcessRunner:
    """Train sessions here; their run folders go under `sessions_dir`."""

    parallel = False  # one after the other: a trial stops at its first failed fold

    def __init__(
        self,
        sessions_dir: Path,
        root: Path | None = None,
        card_defaults: Mapping[str, Any] | None = None,
    ) -> None:
        self.sessions_dir = Path(sessions_dir)
        self.root = root
        self.card_defaults = card_defaults  # the model cards' config diff (None: no diff)

    def run(
        self, specs: Sequence[SessionSpec], on_done: OnDone | None = None
    ) -> list[SessionOutcome]:
        outcomes = []
        for spec in specs:
            outcome = self._one(spec)
            outcomes.append(outcome)
            if on_done is not None:
                on_done(outcome)
        return outcomes

    def _one(self, spec: SessionSpec) -> SessionOutcome:
        # Imported here: a study that is refused (config, dataset) loads no torch or MLflow.
        from qraptor.tracking.config import tracking_config_from
        from qraptor.tracking.model_card import write_run_card
        from qraptor.tracking.session_run import start_session_run
        from qraptor.train.callbacks import TrainHooks
        from qraptor.train.config import train_config_from
        from qraptor.train.trainer import train_session

        run_dir = self.sessions_dir / spec.name
        began = time.perf_counter()
        try:
            cfg = train_config_from(spec.config)
            tracking = tracking_config_from(spec.config)
            with start_session_run(
                spec.config,
                sweep_id=spec.study_id,
                tags={"qraptor.study_id": spec.study_id, "qraptor.output_dir": str(run_dir)},
                tracking=tracking,
                run_name=f"{cfg.session.name}-{spec.name}",
                root=self.root,
            ) as tracker:
                hooks = tracker.train_hooks(TrainHooks(), run_dir)
                result = train_session(cfg, run_dir, hooks, root=self.root)
                if not result.stopped_early:
                    write_run_card(run_dir, self.card_defaults)
                tracker.log_result(result, run_dir)
            equity = read_equity(run_dir)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the session failed, not the study: record it and go on
            error = redact_text(f"{type(exc).__name__}: {exc}")
            log.error("study session %s failed: %s", spec.name, error)
            return SessionOutcome(
                spec, "failed", error=error, seconds=time.perf_counter() - began, run=str(run_dir)
            )
        return SessionOutcome(
            spec,
            "succeeded",
            equity=equity,
            metrics=dict(result.metrics.get("test", {})),
            seconds=time.perf_counter() - began,
            run=str(run_dir),
        )
