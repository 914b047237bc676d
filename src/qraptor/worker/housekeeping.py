"""What dead workers leave behind, cleared by the live ones every few minutes.

A worker killed between uploading a file and linking it leaves an unlinked GridFS file (or,
killed mid-upload, chunks without a file document); one killed on a session's last attempt,
or whose session was cancelled after it died, leaves the session's MLflow run RUNNING for
good, and one killed between completing a session and closing its run leaves the run
unfinished and its model unregistered. Every worker runs `Housekeeping.due()` between
sessions: the sweep is idempotent, so several workers doing it at once only repeat work.

Only what is older than `min_age_seconds` is touched: a younger unlinked file may be an
upload about to be linked, a younger succeeded session's run may still be closing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from pymongo.errors import PyMongoError

from qraptor.core.log import get_logger
from qraptor.store.errors import StoreError
from qraptor.store.status import Status
from qraptor.store.store import SessionStore
from qraptor.tracking.config import TrackingConfig

log = get_logger(__name__)
RUN_STATUS = {
    Status.SUCCEEDED.value: "FINISHED",
    Status.FAILED.value: "FAILED",
    Status.CANCELLED.value: "KILLED",
}


@dataclass
class Housekeeping:
    """Runs `sweep` when `every_seconds` have passed since the last one (the first at once)."""

    store: SessionStore
    every_seconds: float
    min_age_seconds: float
    tracking: TrackingConfig | None = None
    root: Path | None = None
    _last: float | None = field(default=None, repr=False)

    def due(self) -> None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every_seconds:
            return
        self._last = now
        try:
            self.sweep()
        except (StoreError, PyMongoError) as exc:  # the database went away: next round
            log.warning("housekeeping skipped: %s", exc)

    def sweep(self) -> tuple[int, int]:
        """(files deleted, MLflow runs ended)."""
        files = self.store.collect_orphan_files(self.min_age_seconds)
        return files, self.end_abandoned_runs()

    def end_abandoned_runs(self) -> int:
        from qraptor.tracking.session_run import end_abandoned_run

        cutoff = self.store.now() - timedelta(seconds=self.min_age_seconds)
        ended = 0
        for doc in self.store.open_runs(succeeded_before=cutoff):
            sid, run_id = doc["_id"], doc["mlflow_run_id"]
            now = self.store.get(sid)  # retried and reclaimed since? then the run is in use
            if now["status"] != doc["status"] or not now.get("mlflow_run_open"):
                continue
            try:
                end_abandoned_run(
                    doc["config"], run_id, RUN_STATUS[doc["status"]], session_id=sid,
                    sweep_id=doc.get("sweep_id"), tracking=self.tracking, root=self.root,
                )  # fmt: skip
            except Exception as exc:  # the tracking server is away: next round
                log.warning("session %s: could not end MLflow run %s: %s", sid, run_id, exc)
                continue
            if self.store.run_closed(sid, run_id, status=doc["status"]):
                ended += 1
        return ended
