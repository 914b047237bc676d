"""runner=queue: a study's sessions submitted to the MongoDB queue and waited for.

Sessions go in with the study id as their sweep id and a ``study:<id>`` tag (the worker then
nests each session's MLflow run under the study's parent run, as for any sweep); `qraptor
worker`s anywhere train them. The study polls their statuses (a few reads per poll: the
queue is a slow database, STACK.md) and, for each succeeded one, reads the test evaluation
back from the store: the metrics from the session document, the per-bar equity of the
agent and its baselines from GridFS (``test_equity.csv``, ``test_baselines_equity.csv``).
A config the queue refuses (validated at submit time) is a failed outcome, never queued.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from qraptor.core import layout
from qraptor.core.errors import ConfigError
from qraptor.core.log import get_logger
from qraptor.store.status import TERMINAL, Status
from qraptor.store.store import SessionStore
from qraptor.study.config import QueueConfig
from qraptor.study.process_runner import OnDone
from qraptor.study.sessions import EVAL_SPLIT, SessionOutcome, SessionSpec, equity_from_csvs
from qraptor.worker.submit import enqueue, session_request

log = get_logger(__name__)


class QueueRunner:
    """Queue sessions in `store`, wait for their outcomes; files land in `sessions_dir`."""

    parallel = True  # workers train a batch together: a trial's folds are queued at once

    def __init__(
        self, store: SessionStore, cfg: QueueConfig, sessions_dir: Path, root: Path | None = None
    ) -> None:
        self.store = store
        self.cfg = cfg
        self.sessions_dir = Path(sessions_dir)
        self.root = root

    def run(
        self, specs: Sequence[SessionSpec], on_done: OnDone | None = None
    ) -> list[SessionOutcome]:
        outcomes: dict[int, SessionOutcome] = {}
        queued: dict[int, str] = {}
        for i, spec in enumerate(specs):
            try:
                request = session_request(spec.config)
            except ConfigError as exc:  # refused before queueing: the trial fails
                outcomes[i] = SessionOutcome(spec, "failed", error=f"ConfigError: {exc}")
                if on_done is not None:
                    on_done(outcomes[i])
                continue
            (queued[i],) = enqueue(
                self.store,
                [request],
                priority=self.cfg.priority,
                tags=[f"study:{spec.study_id}"],
                sweep_id=spec.study_id,
                max_attempts=self.cfg.max_attempts,
                root=self.root,
            )
        began = time.monotonic()
        while queued:
            for i, session_id in list(queued.items()):
                doc = self.store.get(session_id)
                if Status(doc["status"]) in TERMINAL:
                    outcomes[i] = self._outcome(specs[i], doc, time.monotonic() - began)
                    del queued[i]
                    if on_done is not None:
                        on_done(outcomes[i])
            if not queued:
                break
            if (
                self.cfg.timeout_seconds is not None
                and time.monotonic() - began > self.cfg.timeout_seconds
            ):
                for i, session_id in queued.items():
                    self.store.cancel(session_id)
                    error = (
                        f"no outcome after {self.cfg.timeout_seconds:g} s; "
                        f"session {session_id} cancelled"
                    )
                    outcomes[i] = SessionOutcome(specs[i], "failed", error=error, run=session_id)
                    if on_done is not None:
                        on_done(outcomes[i])
                break
            time.sleep(self.cfg.poll_seconds)
        return [outcomes[i] for i in range(len(specs))]

    def _outcome(self, spec: SessionSpec, doc: dict, seconds: float) -> SessionOutcome:
        session_id = doc["_id"]
        if doc["status"] != Status.SUCCEEDED.value:
            error = doc.get("error") or f"session {session_id} ended {doc['status']}"
            return SessionOutcome(spec, "failed", error=str(error).strip().splitlines()[-1],
                                  seconds=seconds, run=session_id)  # fmt: skip
        folder = self.sessions_dir / spec.name
        refs = {ref.name: ref for ref in self.store.files(session_id)}
        paths = {}
        for file in (layout.EQUITY, layout.BASELINES_EQUITY):
            name = layout.stored_name(EVAL_SPLIT, file)
            if name not in refs:
                error = f"session {session_id} succeeded without its {name} in the store"
                return SessionOutcome(spec, "failed", error=error, seconds=seconds, run=session_id)
            paths[file] = self.store.download_file(session_id, refs[name], folder / name)
        metrics = (doc.get("metrics") or {}).get("splits", {}).get(EVAL_SPLIT, {}).get("agent", {})
        return SessionOutcome(
            spec,
            "succeeded",
            equity=equity_from_csvs(paths[layout.EQUITY], paths[layout.BASELINES_EQUITY]),
            metrics=dict(metrics),
            seconds=seconds,
            run=session_id,
        )
