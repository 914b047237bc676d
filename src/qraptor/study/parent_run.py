"""The study's MLflow parent run: its sessions nest under it, its result goes on it.

The study id is the sweep id of every session, so each session's run (in this process or
on a worker) finds or creates the same parent in the study's experiment (tracking/runs.py:
exactly once under concurrency). After the report, the parent gets what the study
concluded: the selection's score, PBO, DSR, the bars of record still needed, the held-out
Sharpe and verdict (metrics ``study/*``, tag ``qraptor.verdict``) and the report's files.
Nothing happens when the sessions' tracking is off.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from qraptor.core.log import get_logger
from qraptor.evaluation.metric_names import SEP
from qraptor.tracking.config import resolve_tracking_uri, tracking_config_from
from qraptor.tracking.session_run import create_sweep_run

log = get_logger(__name__)
REPORT_FILES = ("study.json", "oos_returns.parquet", "oos_equity.png")


def _key(name: str) -> str:
    """``study/pbo``: the study's own figures, one chart group in MLflow's UI."""
    return f"study{SEP}{name}"


def study_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """The figures of a study summary worth a chart: those that exist, as floats."""
    stats, selection, held = summary["statistics"], summary["selection"], summary["held_out"]
    found = {
        _key("n_trials"): float(len(summary["trials"])),
        _key("pbo"): stats["pbo"].get("pbo"),
        _key("selected_score"): (selection or {}).get("score"),
        _key("dsr"): (stats.get("dsr") or {}).get("dsr"),
        _key("bars_still_needed"): (stats.get("track_record") or {}).get("bars_still_needed"),
        _key("held_out_sharpe"): (held or {}).get("sharpe_annualised"),
        _key("held_out_edge"): None,
    }
    verdict = (held or {}).get("verdict")
    if verdict:
        found[_key("held_out_edge")] = 1.0 if verdict["edge"] else 0.0
    return {k: float(v) for k, v in found.items() if v is not None}


def log_to_parent(
    session_config: Mapping[str, Any],
    study_id: str,
    summary: Mapping[str, Any],
    out_dir: Path,
    root: Path | None,
) -> str | None:
    """Log the study's result to its parent run (created if no session made it); its id,
    or None when the sessions are not tracked. `session_config`: one session's config."""
    tracking = tracking_config_from(session_config)
    if not tracking.enabled:
        return None
    from mlflow.entities import Metric

    from qraptor.tracking import runs

    run_id = create_sweep_run(
        session_config, study_id, tracking=tracking, tags={"qraptor.study_id": study_id},
        root=root,
    )  # fmt: skip
    assert run_id is not None  # tracking is enabled
    client = runs.connect(runs.use_credentials(resolve_tracking_uri(tracking, root)))
    stamp = int(time.time() * 1000)
    metrics = [Metric(k, v, stamp, 0) for k, v in study_metrics(summary).items()]
    client.log_batch(run_id, metrics=metrics)
    verdict = (summary.get("held_out") or {}).get("verdict")
    if verdict:
        client.set_tag(run_id, "qraptor.verdict", str(verdict["text"])[:5000])
    for name in REPORT_FILES:
        if (Path(out_dir) / name).is_file():
            client.log_artifact(run_id, str(Path(out_dir) / name), "study")
    client.set_terminated(run_id, "FINISHED")
    log.info("study %s: result logged to MLflow run %s", study_id, run_id)
    return run_id
