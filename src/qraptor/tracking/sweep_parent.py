"""A sweep's parent run carries its best trial: ``best/objective``, its params, its run.

Whoever ends a session of the sweep FINISHED (the process that trained it, a worker, or
housekeeping ending an abandoned run) calls `update_sweep_best`. It recomputes the best from
the children themselves (the runs tagged ``mlflow.parentRunId`` = the parent), never from
a running count, so sessions finishing at the same time on many machines cannot make it
drift:

- metrics ``best/objective`` (the highest ``objective`` among the FINISHED children: what
  the Optuna sweeper maximises) and ``sweep/trials_finished``, both logged at step = the
  number of finished children seen. MLflow shows a metric's point with the highest step, so
  a finisher that saw fewer children and writes last does not hide a fuller answer;
- tags ``qraptor.best_run_id`` / ``qraptor.best_run_name`` and ``best/<param>`` for every
  param whose value differs between the sweep's children (what the sweep searched over:
  ``best/algo.learning_rate``). Tags have no step: after writing, the finisher looks at
  the children again and writes again if more have finished meanwhile, so the last writer
  always saw every child finished before it wrote.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from qraptor.core.log import get_logger
from qraptor.evaluation.metric_names import OBJECTIVE, SEP, best_key
from qraptor.tracking.params import MAX_KEY, PARAMS_PER_BATCH, batches
from qraptor.tracking.runs import PARENT_TAG

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

log = get_logger(__name__)
BEST_RUN_TAG = "qraptor.best_run_id"
BEST_NAME_TAG = "qraptor.best_run_name"
TRIALS_FINISHED = f"sweep{SEP}trials_finished"
ROUNDS = 5  # writes at most: each round's re-check can only find more finished children
MAX_TAG_VALUE = 8000


def sweep_children(client: MlflowClient, experiment_id: str, parent_run_id: str) -> list[Run]:
    """Every live run nested under `parent_run_id` (all pages)."""
    from mlflow.entities import ViewType

    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment_id],
            f"tags.`{PARENT_TAG}` = '{parent_run_id}'",
            ViewType.ACTIVE_ONLY,
            max_results=1000,
            page_token=token,
        )
        found += list(page)
        token = page.token
        if not token:
            return found


def best_child(children: list[Run]) -> tuple[Run | None, int]:
    """(the FINISHED child with the highest objective, how many children are FINISHED);
    ties go to the run that started first (a rerun does not displace the original)."""
    finished = [r for r in children if r.info.status == "FINISHED"]
    scored = [r for r in finished if OBJECTIVE in r.data.metrics]
    if not scored:
        return None, len(finished)
    best = max(scored, key=lambda r: (r.data.metrics[OBJECTIVE], -r.info.start_time))
    return best, len(finished)


def varying_params(children: list[Run]) -> list[str]:
    """Param keys whose values are not the same in every child that logged params."""
    logged = [r.data.params for r in children if r.data.params]
    keys = sorted({k for params in logged for k in params})
    return [k for k in keys if len({params.get(k) for params in logged}) > 1]


def update_sweep_best(client: MlflowClient, experiment_id: str, parent_run_id: str) -> None:
    """Put the sweep's best finished child on its parent run (see the module docstring)."""
    seen = -1
    for _ in range(ROUNDS):
        children = sweep_children(client, experiment_id, parent_run_id)
        best, finished = best_child(children)
        if finished == seen:
            return
        seen = finished
        _write(client, parent_run_id, best, finished, varying_params(children))
    log.warning("sweep parent %s: children kept finishing; best written %d times", parent_run_id,
                ROUNDS)  # fmt: skip


def _write(
    client: MlflowClient, parent_run_id: str, best: Run | None, finished: int, keys: list[str]
) -> None:
    from mlflow.entities import Metric, RunTag

    stamp = int(time.time() * 1000)
    metrics = [Metric(TRIALS_FINISHED, float(finished), stamp, finished)]
    tags: dict[str, str] = {}
    if best is not None:
        metrics.append(Metric(best_key(OBJECTIVE), best.data.metrics[OBJECTIVE], stamp, finished))
        tags = {BEST_RUN_TAG: best.info.run_id, BEST_NAME_TAG: best.info.run_name or ""}
        tags.update(_param_tags(best.data.params, keys))
    client.log_batch(parent_run_id, metrics=metrics)
    entries = [RunTag(k, v[:MAX_TAG_VALUE]) for k, v in tags.items()]
    for batch in batches(entries, PARAMS_PER_BATCH):
        client.log_batch(parent_run_id, tags=batch)


def _param_tags(params: Mapping[str, str], keys: list[str]) -> dict[str, str]:
    return {best_key(k)[:MAX_KEY]: params.get(k, "") for k in keys}
