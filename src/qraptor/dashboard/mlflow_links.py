"""Links from sessions to their MLflow runs: `<ui>/#/experiments/<experiment>/runs/<run>`.

The session document knows its run id, not the run's experiment, so the experiment is
looked up once per run in the tracking store and cached (a run never changes experiment).
An MLflow server is asked over HTTP with a short timeout (MLflow's own client retries for
minutes, too long for a page); a sqlite store through MlflowClient, warmed up in the
background at start (importing MLflow takes a second or two). When the lookup fails the
link falls back to `<ui>/#/runs/<run>`, which the MLflow UI redirects.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from qraptor.core.log import get_logger

log = get_logger(__name__)
HTTP_TIMEOUT_SECONDS = 1.5
FAILURE_TTL_SECONDS = 30.0


class MlflowLinks:
    def __init__(self, tracking_uri: str | None, ui_base: str) -> None:
        self.tracking_uri = tracking_uri
        self.ui_base = ui_base.rstrip("/")
        self._experiments: dict[str, str] = {}
        self._failed: dict[str, float] = {}
        self._client: Any = None
        self._lock = threading.Lock()

    def run_url(self, run_id: str | None) -> str | None:
        """The MLflow UI page of `run_id` (None without a run)."""
        if not run_id:
            return None
        experiment = self.experiment_of(run_id)
        if experiment is None:
            return f"{self.ui_base}/#/runs/{run_id}"
        return f"{self.ui_base}/#/experiments/{experiment}/runs/{run_id}"

    def experiment_of(self, run_id: str) -> str | None:
        if run_id in self._experiments:
            return self._experiments[run_id]
        if time.monotonic() - self._failed.get(run_id, -FAILURE_TTL_SECONDS) < FAILURE_TTL_SECONDS:
            return None
        try:
            experiment = self._lookup(run_id)
        except Exception as exc:  # the links degrade; the page must not
            log.warning("MLflow run %s: experiment lookup failed: %s", run_id, exc)
            experiment = None
        if experiment is None:
            self._failed[run_id] = time.monotonic()
        else:
            self._experiments[run_id] = experiment
        return experiment

    def warm(self) -> threading.Thread | None:
        """Import MLflow and open a local store in a background thread (first page fast)."""
        if not self._is_local_store():
            return None
        thread = threading.Thread(target=self._local_client, name="mlflow-warm", daemon=True)
        thread.start()
        return thread

    def _lookup(self, run_id: str) -> str | None:
        uri = self.tracking_uri or ""
        if uri.startswith(("http://", "https://")):
            import requests

            reply = requests.get(
                f"{uri.rstrip('/')}/api/2.0/mlflow/runs/get",
                params={"run_id": run_id},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
            reply.raise_for_status()
            return str(reply.json()["run"]["info"]["experiment_id"])
        client = self._local_client()
        return None if client is None else str(client.get_run(run_id).info.experiment_id)

    def run_tagged(self, tag: str, value: str) -> str | None:
        """The newest live run carrying tag `tag` = `value`, in any experiment (the pipeline's
        train stage is found by its output folder); None when none is, or MLflow cannot be
        asked (logged: the page shows the run without a link)."""
        clause = f"tags.`{tag}` = '{_quoted(value)}'"
        uri = self.tracking_uri or ""
        try:
            if uri.startswith(("http://", "https://")):
                import requests

                base = f"{uri.rstrip('/')}/api/2.0/mlflow"
                reply = requests.post(
                    f"{base}/experiments/search", json={"max_results": 1000},
                    timeout=HTTP_TIMEOUT_SECONDS,
                )  # fmt: skip
                reply.raise_for_status()
                ids = [e["experiment_id"] for e in reply.json().get("experiments", [])]
                reply = requests.post(
                    f"{base}/runs/search",
                    json={"experiment_ids": ids, "filter": clause, "max_results": 1,
                          "order_by": ["attributes.start_time DESC"]},
                    timeout=HTTP_TIMEOUT_SECONDS,
                )  # fmt: skip
                reply.raise_for_status()
                found = reply.json().get("runs", [])
                return str(found[0]["info"]["run_id"]) if found else None
            client = self._local_client()
            if client is None:
                return None
            ids = [e.experiment_id for e in client.search_experiments()]
            runs = client.search_runs(
                ids, clause, max_results=1, order_by=["attributes.start_time DESC"]
            )
            return runs[0].info.run_id if runs else None
        except Exception as exc:  # the link degrades; the page must not
            log.warning("MLflow: the run tagged %s=%s was not found: %s", tag, value, exc)
            return None

    def _is_local_store(self) -> bool:
        uri = self.tracking_uri or ""
        if not uri.startswith("sqlite:///"):
            return False
        database = uri.removeprefix("sqlite:///").split("?", 1)[0]
        return Path(database).expanduser().is_file()  # never create an empty store

    def _local_client(self) -> Any:
        with self._lock:
            if self._client is None and self._is_local_store():
                from mlflow import MlflowClient

                self._client = MlflowClient(self.tracking_uri, registry_uri=self.tracking_uri)
            return self._client


def _quoted(value: str) -> str:
    """`value` inside single quotes of an MLflow search filter."""
    return value.replace("\\", "\\\\").replace("'", "\\'")
