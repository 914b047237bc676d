"""The MLflow run of a DVC pipeline's train stage, found by the folder it trained into.

`make demo` names it in its closing lines and the dashboard shows it beside the queued
sessions: the pipeline's session is not in the store (it never queued), but its run carries
`qraptor.output_dir`, the run folder `dvc.yaml` gives the train stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qraptor.core.ids import OUTPUT_DIR_TAG
from qraptor.tracking.config import load_tracking_config, resolve_tracking_uri


def find_pipeline_run(project: Path, agent: Path) -> dict[str, Any] | None:
    """{"run_id", "experiment", "model" ("<name>/<version>" or None), "uri"} of the newest
    run that trained into `agent`, or None: tracking off, no store yet, no such run."""
    cfg = load_tracking_config(conf_dir=Path(project) / "conf")
    if not cfg.enabled:
        return None
    uri = resolve_tracking_uri(cfg, Path(project))
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return None  # never tracked here: no store to create just to look
    from qraptor.tracking.runs import connect

    client = connect(uri)
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    if not experiments:
        return None
    found = client.search_runs(
        list(experiments),
        filter_string=f"tags.`{OUTPUT_DIR_TAG}` = '{_quoted(str(Path(agent).resolve()))}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not found:
        return None
    run = found[0]
    versions = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    model = f"{versions[0].name}/{versions[0].version}" if versions else None
    return {
        "run_id": run.info.run_id,
        "experiment": experiments.get(run.info.experiment_id, run.info.experiment_id),
        "model": model,
        "uri": uri,
    }


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
