"""The pipeline's agent (`dvc repro`'s train stage, what `make demo` trains) as a session.

That agent never queued, so the store does not know it; its run folder (dvc.yaml's
``vars.paths.agent``) holds what a session document does: the config (config.yaml), the
summary with every split's metrics and verdict (metrics.json) and the evaluation files
(eval/<split>/). Read as a document with id ``pipeline``, it is shown by the session page
like any other session and listed by the sessions page above the queue, with its MLflow run
(found by the ``qraptor.output_dir`` tag the train stage gives it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from qraptor.analysis.project import project_paths
from qraptor.core import layout
from qraptor.core.errors import QraptorError
from qraptor.core.ids import OUTPUT_DIR_TAG
from qraptor.core.log import get_logger
from qraptor.dashboard.mlflow_links import MlflowLinks
from qraptor.dashboard.session_results import RUN_DIR

log = get_logger(__name__)
PIPELINE_ID = "pipeline"
SOURCE = "dvc repro"


def pipeline_doc(project: Path, links: MlflowLinks | None = None) -> dict[str, Any] | None:
    """The pipeline's trained agent as a session document, or None when the pipeline has
    not trained one yet (or its summary does not read: logged). `links`: to look up its
    MLflow run."""
    try:
        agent = project_paths(project).agent
    except QraptorError:
        return None
    summary = agent / layout.METRICS
    if not summary.is_file():
        return None
    try:
        metrics = json.loads(summary.read_text(encoding="utf-8"))
        config_file = agent / layout.CONFIG
        config = (
            yaml.safe_load(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        )
    except (OSError, ValueError, yaml.YAMLError) as exc:
        log.warning("the pipeline's agent in %s does not read: %s", agent, exc)
        return None
    session = (config or {}).get("session") or {}
    doc: dict[str, Any] = {
        "_id": PIPELINE_ID,
        "status": "cancelled" if metrics.get("stopped_early") else "succeeded",
        "config": config or {},
        "metrics": metrics,
        "experiment": session.get("name"),
        "source": SOURCE,
        RUN_DIR: str(agent),
        "finished_at": datetime.fromtimestamp(summary.stat().st_mtime, tz=UTC),
    }
    if links is not None:
        doc["mlflow_run_id"] = links.run_tagged(OUTPUT_DIR_TAG, str(agent.resolve()))
    return doc


def headline(doc: dict[str, Any]) -> str:
    """One line on the pipeline's agent: its last split's Sharpe and verdict."""
    splits = (doc.get("metrics") or {}).get("splits") or {}
    if not splits:
        return "trained, not evaluated"
    split = list(splits)[-1]
    sharpe = (splits[split].get("agent") or {}).get("sharpe")
    verdict = (splits[split].get("verdict") or {}).get("text")
    parts = [f"{split} Sharpe {sharpe:.2f}" if isinstance(sharpe, int | float) else split]
    if verdict:
        parts.append(str(verdict).split(":", 1)[0])
    return "; ".join(parts)
