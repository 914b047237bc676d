"""A sweep's runs read back from MLflow, for `qraptor compare --sweep` when MongoDB cannot
tell: the database was down while the sweep ran (its trials never reached the ledger), or is
down now.

Every session run of a sweep carries ``qraptor.sweep_id`` and the session's files
(tracking.artifacts): ``config.yaml`` (the resolved config), ``metrics.json`` (its summary)
and ``eval/<split>/`` (equity curves). That is all a comparison needs, so the records built
here are the ones the store would give, with the run's MLflow status as the trial's: a
failed or killed run still counts as a trial of the sweep's deflated Sharpe ratio.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from mlflow import MlflowClient
from mlflow.entities import Run, ViewType

from qraptor.core import layout
from qraptor.core.errors import QraptorError
from qraptor.core.log import get_logger
from qraptor.evaluation.compare.comparison import EquityLoader, RunRecord
from qraptor.tracking.runs import KIND_TAG, SESSION_TAG, SWEEP_TAG

log = get_logger(__name__)
JOB_TAG = "qraptor.hydra_job_num"  # cli.train's tag of a multirun's job
# MLflow's run statuses as the store's session statuses
STATUS = {
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "cancelled",
    "RUNNING": "running",
    "SCHEDULED": "queued",
}


class NoSuchSweep(QraptorError):
    """MLflow holds no session run of the sweep asked for."""


def sweep_records(client: MlflowClient, sweep_id: str, *, limit: int) -> list[RunRecord]:
    """The session runs of sweep `sweep_id` in every live experiment, oldest first, as
    records (ids as the ledger gives them: ``<sweep_id>/<job number>``)."""
    experiments = [e.experiment_id for e in client.search_experiments()]
    query = f"tags.`{SWEEP_TAG}` = '{_quoted(sweep_id)}' and tags.`{KIND_TAG}` = 'session'"
    found = (
        client.search_runs(
            experiments,
            query,
            ViewType.ACTIVE_ONLY,
            max_results=limit,
            order_by=["attributes.start_time ASC"],
        )
        if experiments
        else []
    )
    if not found:
        raise NoSuchSweep(
            f"no MLflow run of {client.tracking_uri} belongs to sweep '{sweep_id}' "
            f"(runs tagged {SWEEP_TAG})"
        )
    with tempfile.TemporaryDirectory(prefix="qraptor-compare-") as scratch:
        return [_record(client, run, sweep_id, Path(scratch)) for run in found]


def _record(client: MlflowClient, run: Run, sweep_id: str, scratch: Path) -> RunRecord:
    tags = run.data.tags
    job = tags.get(JOB_TAG)
    run_id = run.info.run_id
    metrics = _artifact(client, run_id, layout.METRICS, scratch, json.loads)
    status = STATUS.get(run.info.status, run.info.status.lower())
    if status == "succeeded" and (metrics or {}).get("stopped_early"):
        status = "cancelled"  # as the ledger records a trial stopped before its end
    return RunRecord(
        id=f"{sweep_id}/{job}" if job is not None else tags.get(SESSION_TAG, run_id),
        status=status,
        config=_artifact(client, run_id, layout.CONFIG, scratch, yaml.safe_load) or {},
        metrics=metrics if status in ("succeeded", "cancelled") else None,
        source="trial" if job is not None else "session",
        sweep_id=sweep_id,
        experiment=tags.get("qraptor.session_name") or "default",
        mlflow_run_id=run_id,
        created_at=datetime.fromtimestamp(run.info.start_time / 1000, tz=UTC),
        error=tags.get("qraptor.error"),
    )


def _artifact(client: MlflowClient, run_id: str, name: str, scratch: Path, parse: Any) -> Any:
    """Artifact `name` of run `run_id` parsed, or None when the run has none (it failed
    before writing it) or it does not parse (named in a warning)."""
    folder = scratch / run_id
    folder.mkdir(exist_ok=True)
    try:
        path = Path(client.download_artifacts(run_id, name, str(folder)))
    except Exception:  # MLflow raises several types for a missing artifact
        return None
    try:
        value = parse(path.read_text(encoding="utf-8"))
    except (ValueError, yaml.YAMLError) as exc:
        log.warning("MLflow run %s: %s does not parse (%s); left out", run_id, name, exc)
        return None
    return value if isinstance(value, Mapping) else None


class MlflowEquity:
    """An EquityLoader over MLflow: a run's ``eval/<split>/`` artifacts downloaded into a
    scratch folder, once per run and split. Use as a context manager; the folder goes at
    exit."""

    def __init__(self, client: MlflowClient) -> None:
        self.client = client
        self.folder = Path(tempfile.mkdtemp(prefix="qraptor-compare-"))
        self._cache: dict[tuple[str, str], Any] = {}

    def __enter__(self) -> EquityLoader:
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __call__(self, record: RunRecord, split: str) -> Any:
        key = (record.id, split)
        if key not in self._cache:
            self._cache[key] = self._load(record, split)
        return self._cache[key]

    def _load(self, record: RunRecord, split: str) -> Any:
        from qraptor.evaluation.report import equity_frame

        if not record.mlflow_run_id:
            return None
        run_dir = self.folder / record.mlflow_run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        folder = layout.eval_dir(run_dir, split)
        remote = f"{layout.EVAL_DIR}/{split}"
        try:  # into <run_dir>/eval/<split>/: MLflow keeps the artifact's path
            self.client.download_artifacts(record.mlflow_run_id, remote, str(run_dir))
        except Exception as exc:  # no evaluation logged for this split
            log.debug("MLflow run %s: no %s (%s)", record.mlflow_run_id, remote, exc)
            return None
        if not (folder / layout.EQUITY).is_file():
            return None
        if not (folder / layout.BASELINES_EQUITY).is_file():  # none configured: it still plots
            stamps = pd.read_csv(folder / layout.EQUITY, usecols=["timestamp"])
            stamps.to_csv(folder / layout.BASELINES_EQUITY, index=False)
        return equity_frame(run_dir, split)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
