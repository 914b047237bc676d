"""A trained agent as an MLflow pyfunc model: market bars in, labelled decisions out.

This file is logged *as code* with each model (MLflow "models from code") and executed by
whoever loads it, e.g. `mlflow models serve --env-manager local`. The model carries the run
folder's config.yaml, data.json and model zip as its artifact, and qraptor's own source as
its code (`code_paths`), so it builds observations with the run's feature and
normalisation code wherever it is served.

Input: a DataFrame of bars (timestamp, open, high, low, close, volume; vwap, trades and a
``position`` column optional), enough of them for the features' warm-up and one window.
Params: ``decisions`` (the latest N decisions; 0 for one per bar, default 1) and ``start``
(an ISO time: the replayed account starts flat at the first whole window from it).
Output: one row per decision: timestamp (ISO 8601, UTC), position held, action,
action_name, target and prob_<action> (qraptor.evaluation.serving says how the account behind
them is replayed).
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class ServedPolicy(PythonModel):
    """The decisions of a trained agent on the bars of a request."""

    def load_context(self, context: Any) -> None:
        from pathlib import Path

        from qraptor.evaluation.serving import as_served
        from qraptor.tracking.served_agent import ServedAgent

        self.decider = ServedAgent.load(Path(context.artifacts["agent"]))
        self.as_served = as_served

    # No type hints on predict: MLflow would derive a (wrong) schema from them. The logged
    # signature has no input schema: MLflow's datetime type takes neither ISO strings nor
    # zoned times, so the bars are checked here (qraptor.evaluation.serving.request_bars),
    # with errors that name the column or row.
    def predict(self, context, model_input, params=None):
        params = params or {}
        start = str(params.get("start") or "") or None
        decisions = self.decider.decide(
            model_input, decisions=int(params.get("decisions", 1)), start=start
        )
        return self.as_served(decisions)


mlflow.models.set_model(ServedPolicy())
