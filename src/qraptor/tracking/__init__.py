"""MLflow tracking of training sessions, TensorBoard curves, the policy as a pyfunc model.

    config.py        TrackingConfig (conf/tracking), the tracking URI's precedence, names
    params.py        the flattened, scrubbed config as params; evaluation metric keys
    runs.py          connect; experiments; a sweep's parent run created exactly once;
                     a session's run found again when the session resumes
    curves.py        CurveLogger: SB3 logger dumps -> MLflow (batched) and TensorBoard
    session_run.py   start_session_run: the context the CLI and the worker train inside
    run_metadata.py  a run's params, tags (git commit, data version, host...) and name
    artifacts.py     config, model, evaluation CSVs, plots, TensorBoard files -> the run
    pyfunc.py        log and register the agent: bars in, decisions out (served_policy.py)
    keras_export.py  the policy rebuilt in tf.keras, saved as HDF5 (imports TensorFlow)

One session = one MLflow run, tagged ``qraptor.session_id`` (its MongoDB id) when it has
one; a sweep = a parent run tagged ``qraptor.sweep_id`` with the sessions nested under it.
Importing this package loads neither MLflow nor TensorFlow: `start_session_run` loads
MLflow on first use, and only the HDF5 export imports TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qraptor.tracking.config import (
    TrackingConfig,
    load_tracking_config,
    resolve_tracking_uri,
    tracking_config_from,
)

if TYPE_CHECKING:
    from qraptor.tracking.runs import TrackingError, ensure_sweep_run
    from qraptor.tracking.session_run import SessionTracker, create_sweep_run, start_session_run

__all__ = [
    "SessionTracker",
    "TrackingConfig",
    "TrackingError",
    "create_sweep_run",
    "ensure_sweep_run",
    "load_tracking_config",
    "resolve_tracking_uri",
    "start_session_run",
    "tracking_config_from",
]
_LAZY = {
    "TrackingError": "qraptor.tracking.runs",
    "ensure_sweep_run": "qraptor.tracking.runs",
    "create_sweep_run": "qraptor.tracking.session_run",
    "SessionTracker": "qraptor.tracking.session_run",
    "start_session_run": "qraptor.tracking.session_run",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
