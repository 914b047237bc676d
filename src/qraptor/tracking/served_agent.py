"""A trained agent loaded from its folder to decide on bars: what the served model runs.

The folder holds config.yaml, data.json and model.zip (a run folder, or the `agent`
artifact of a logged pyfunc model); the decisions are qraptor.evaluation.serving's, with
the run's env, its evaluation's determinism and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.core import layout
from qraptor.data.record import load_run_record
from qraptor.evaluation.serving import decide_on_bars
from qraptor.train.config import TrainConfig, run_folder_config


@dataclass(frozen=True)
class ServedAgent:
    """A trained agent, loaded once, deciding on bars."""

    config: TrainConfig
    record: dict[str, Any]
    model: Any  # the SB3 model

    @classmethod
    def load(cls, folder: Path) -> ServedAgent:
        from qraptor.train.algos import load_model

        folder = Path(folder)
        config = run_folder_config(folder)
        model = load_model(config.algo.name, folder / layout.MODEL, None, device="cpu")
        return cls(config, load_run_record(folder), model)

    def decide(
        self, frame: pd.DataFrame, *, decisions: int = 1, start: str | None = None
    ) -> pd.DataFrame:
        """The latest `decisions` decisions (0: every one) on the bars of `frame`."""
        s = self.config.session
        return decide_on_bars(
            self.model, self.config.instrument_env, self.record, frame,
            deterministic=s.eval.deterministic, seed=s.seed, decisions=decisions, start=start,
        )  # fmt: skip
