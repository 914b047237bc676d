"""An SB3 policy as an MLflow pyfunc model: observations in, actions out.

This file is logged *as code* with each model (MLflow "models from code") and executed by
whoever loads the model, e.g. `mlflow models serve --env-manager local`: it imports only
numpy, MLflow and stable-baselines3, never qraptor, so a served policy needs no qraptor
checkout. The model's config names the SB3 class (``PPO``) and whether actions are the
policy's most likely ones; the SB3 zip is the model's only artifact.

Input: a batch of observations, float32 [n, window, features + state] (a single
observation [window, features + state] is taken as a batch of one). Output: one action per
observation (the index of a target-exposure level for discrete actions, the target
exposure in [-1, 1] for continuous ones).
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class SB3Policy(PythonModel):
    """Deterministic (by default) actions of a saved stable-baselines3 model."""

    def load_context(self, context: Any) -> None:
        import stable_baselines3

        config = context.model_config or {}
        algorithm = getattr(stable_baselines3, str(config["algorithm"]))
        self.model = algorithm.load(context.artifacts["sb3_model"], device="cpu")
        self.deterministic = bool(config.get("deterministic", True))
        self.obs_shape = tuple(self.model.observation_space.shape)

    # No type hints on predict: MLflow would derive a (wrong) schema from them; the logged
    # signature (a float32 tensor of observations) is the one that counts.
    def predict(self, context, model_input, params=None):
        if hasattr(model_input, "to_numpy"):  # a DataFrame: one flattened observation a row
            model_input = model_input.to_numpy()
        observations = np.asarray(model_input, dtype=np.float32).reshape(-1, *self.obs_shape)
        actions, _ = self.model.predict(observations, deterministic=self.deterministic)
        return np.asarray(actions)


mlflow.models.set_model(SB3Policy())
