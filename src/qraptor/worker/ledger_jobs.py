"""The ledger from inside a sweep job: what `python -m qraptor.train -m` calls per trial.

    with record_sweep_job(composed, HydraConfig.get(), sweep_id) as job:
        result = train_session(cfg, out_dir, hooks)
        job.finished(result, cfg.session.objective)   # (+ mlflow_run_id=... if tracked)

Outside a multirun, without a `ledger` section, with `ledger.enabled=false` or without a
reachable database, `job` records nothing and costs nothing. Otherwise the trial is
recorded running on entry; `finished` stores succeeded with its metrics (cancelled when
training stopped early); an exception leaving the block stores failed (cancelled for
Ctrl-C) and propagates. Recording never breaks training: a failed write is logged.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pymongo.errors import PyMongoError

from qraptor.core.errors import QraptorError
from qraptor.core.ids import SWEEP_ENV
from qraptor.core.log import get_logger
from qraptor.core.redact import redact_text
from qraptor.store.ledger import (
    ledger_config_from,
    local_sweep_id,
    open_ledger,
    record_trial,
)
from qraptor.store.status import Status
from qraptor.store.store import SessionStore
from qraptor.train.summary import session_summary

log = get_logger(__name__)


class SweepTrial:
    """One job of an in-process sweep on the ledger: running, then succeeded, failed or
    cancelled."""

    def __init__(
        self,
        store: SessionStore,
        sweep_id: str,
        number: int,
        config: Mapping[str, Any],
        *,
        experiment: str = "default",
        overrides: Sequence[str] = (),
        collection: str = "trials",
    ) -> None:
        self.store, self.sweep_id, self.number = store, sweep_id, number
        self.config, self.experiment = config, experiment
        self.overrides, self.collection = list(overrides), collection
        self.id: str | None = None

    def running(self) -> None:
        self._record(Status.RUNNING)

    def finished(
        self, result: Any, objective_metric: str, mlflow_run_id: str | None = None
    ) -> None:
        """Succeeded with the result's metrics, or cancelled if it stopped early; with the
        MLflow run of the trial when there is one (compare links to it)."""
        if getattr(result, "stopped_early", False):
            self._record(Status.CANCELLED, mlflow_run_id=mlflow_run_id)
        else:
            metrics = session_summary(result, objective_metric)
            self._record(Status.SUCCEEDED, metrics=metrics, mlflow_run_id=mlflow_run_id)

    def cancelled(self) -> None:
        self._record(Status.CANCELLED)

    def failed(self, error: BaseException | str) -> None:
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self._record(Status.FAILED, error=text)

    def _record(self, status: Status, **fields: Any) -> None:
        try:
            self.id = record_trial(
                self.store, self.sweep_id, self.config, status, number=self.number,
                experiment=self.experiment, overrides=self.overrides,
                collection=self.collection, **fields,
            )  # fmt: skip
        except (QraptorError, PyMongoError) as exc:
            log.warning(
                "trial %d of sweep %s not recorded (%s): %s",
                self.number, self.sweep_id, status.value, redact_text(str(exc)),
            )  # fmt: skip


class _NoTrial:
    """What `record_sweep_job` yields when nothing is recorded."""

    id = None

    def finished(
        self, result: Any, objective_metric: str, mlflow_run_id: str | None = None
    ) -> None:
        pass


def sweep_trial(
    composed: Mapping[str, Any],
    *,
    sweep_dir: str | Path,
    number: int,
    overrides: Sequence[str] = (),
    experiment: str = "default",
    sweep_id: str | None = None,
) -> SweepTrial | None:
    """The ledger entry of job `number` of the in-process sweep in `sweep_dir`; None when
    the composed config has no `ledger` section, `ledger.enabled` is false or no database
    is reachable. The sweep id: `sweep_id`, else $QRAPTOR_SWEEP_ID (what the train CLI
    gives every job of one invocation, also the MLflow parent run's tag), else one derived
    from the sweep folder."""
    from qraptor.store.config import store_config_from

    section = composed.get("ledger") if isinstance(composed, Mapping) else None
    if section is None or "store" not in composed:
        return None
    ledger_cfg = ledger_config_from(section)
    if not ledger_cfg.enabled:
        return None
    store = open_ledger(store_config_from(composed["store"]), ledger_cfg)
    if store is None:
        return None
    sweep_id = sweep_id or os.environ.get(SWEEP_ENV) or local_sweep_id(sweep_dir)
    return SweepTrial(
        store, sweep_id, number, composed, experiment=experiment, overrides=overrides,
        collection=ledger_cfg.collection,
    )  # fmt: skip


@contextlib.contextmanager
def record_sweep_job(
    composed: Mapping[str, Any], hydra_cfg: Any, sweep_id: str | None = None
) -> Iterator[Any]:
    """Record this Hydra job on the ledger when it is one job of a multirun (see above).

    `hydra_cfg` is `HydraConfig.get()`: its mode, sweep.dir, job.num and overrides.task;
    `sweep_id` as for `sweep_trial` (pass the one the MLflow parent run is tagged with).
    """
    from hydra.types import RunMode

    trial = None
    if hydra_cfg.mode == RunMode.MULTIRUN:
        overrides = [str(o) for o in hydra_cfg.overrides.task]
        trial = sweep_trial(
            composed, sweep_dir=str(hydra_cfg.sweep.dir), number=int(hydra_cfg.job.num),
            overrides=overrides, experiment=_experiment_of(overrides), sweep_id=sweep_id,
        )  # fmt: skip
    if trial is None:
        yield _NoTrial()
        return
    trial.running()
    try:
        yield trial
    except KeyboardInterrupt:
        trial.cancelled()
        raise
    except BaseException as exc:
        trial.failed(exc)
        raise


def _experiment_of(overrides: Sequence[str]) -> str:
    """`experiment=NAME` among the overrides (submit.py's rule), else "default"."""
    chosen = "default"
    for override in overrides:
        key, eq, value = override.partition("=")
        if eq and key.lstrip("+~") == "experiment" and value not in ("", "null"):
            chosen = value
    return chosen
