"""Validation during training: the current policy backtested on the val span, the best kept.

Every `session.validation.every_timesteps` timesteps (the first step at or past each
multiple, like checkpoints) and once more when learning ends, `Validator.evaluate` runs ONE
deterministic full-span backtest of the model on the val split: the env, costs and
liquidation of the final evaluation (the session task's `validation_score`: one
instrument's backtest_model or a portfolio's model_rollout, and their metrics; no
baselines, so it costs one pass over the span). Each evaluation

* appends a row (timesteps + every metric) to the run folder's validation.csv, rewritten
  atomically;
* keeps the model as model_best_val.zip when its `metric` is the best so far (strictly:
  a tie keeps the earlier model; NaN never wins; lower is better for the metrics in
  LOWER_IS_BETTER), with the same deterministic bytes as any checkpoint;
* hands the metrics to the `on_validation` hook (tracking logs them as the curves
  eval/<metric>: qraptor.tracking.curves);
* logs one line: timesteps, the metric, the best so far.

Resuming: a checkpoint carries the validation state as of its timesteps (the CSV and the
best model, as extra zip entries: `state_entries`), so a session resumed from any
checkpoint, by any worker, continues with exactly the rows and the best model it had
then: none lost, none duplicated (rows past the checkpoint, made by a worker that died
before its next checkpoint, are redone, not kept).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from qraptor.core import layout
from qraptor.core.atomic import atomic_path, write_text_atomic
from qraptor.core.log import get_logger, human_count
from qraptor.evaluation.metric_names import METRIC_NAMES
from qraptor.train.config import TrainConfig
from qraptor.train.model_zip import read_entry, save_deterministic

log = get_logger(__name__)
COLUMNS = ("timesteps", *METRIC_NAMES)
LOWER_IS_BETTER = frozenset({"max_drawdown", "volatility", "costs_paid"})
# The validation state inside a checkpoint zip (not *.pth: SB3 ignores them on load).
STATE_CSV = "qraptor_validation.csv"
STATE_BEST = "qraptor_model_best_val.zip"


def better(value: float, best: float | None, metric: str) -> bool:
    """`value` strictly beats `best` on `metric` (NaN never does; None: nothing yet)."""
    if not math.isfinite(value):
        return False
    if best is None:
        return True
    return value < best if metric in LOWER_IS_BETTER else value > best


def best_row(rows: list[dict[str, float]], metric: str) -> dict[str, float] | None:
    """The first row with the best `metric` (the one the best model was kept for)."""
    best: dict[str, float] | None = None
    for row in rows:
        if better(row[metric], None if best is None else best[metric], metric):
            best = row
    return best


def read_validation(path: Path) -> list[dict[str, float]]:
    """The rows of a validation.csv (timesteps as int; blank metrics as NaN)."""
    return _rows(pd.read_csv(path))


class Validator:
    """The evaluations of one session on its val span; see the module docstring."""

    def __init__(
        self,
        cfg: TrainConfig,
        score: Callable[[Any], dict[str, float]],
        out_dir: Path,
        on_validation: Callable[[dict[str, float], int], None] | None = None,
    ) -> None:
        """`score`: a model's metrics on the val span (the session task's one backtest,
        deterministic as `session.validation.deterministic` says)."""
        v = cfg.session.validation
        assert v.every_timesteps, "a Validator needs session.validation.every_timesteps"
        self.every = int(v.every_timesteps)
        self.metric = v.metric
        self.score = score
        self.out_dir = Path(out_dir)
        self.on_validation = on_validation
        self.rows: list[dict[str, float]] = []
        self.best_zip: bytes | None = None
        self.next_due = self.every
        self.seconds = 0.0  # wall time spent evaluating (timings.json, not the CSV)

    @property
    def csv_path(self) -> Path:
        return self.out_dir / layout.VALIDATION

    @property
    def best_path(self) -> Path:
        return self.out_dir / layout.BEST_MODEL

    @property
    def best(self) -> dict[str, float] | None:
        return best_row(self.rows, self.metric)

    def restore(self, checkpoint: Path | None, timesteps: int) -> None:
        """Take over the state a checkpoint carries (none: start empty) and write it into
        the run folder; the next evaluation is due at the next multiple past `timesteps`."""
        self.next_due = (timesteps // self.every + 1) * self.every
        csv = read_entry(checkpoint, STATE_CSV) if checkpoint is not None else None
        if csv is None:
            return
        rows = _rows(pd.read_csv(io.BytesIO(csv)))
        self.rows = [r for r in rows if r["timesteps"] <= timesteps]  # never past the model
        assert checkpoint is not None
        self.best_zip = read_entry(checkpoint, STATE_BEST)
        self._write()
        best = self.best
        log.info(
            "validation: %d evaluation(s) restored from %s%s", len(self.rows), checkpoint.name,
            f", best {self.metric} {best[self.metric]:.4g} at {human_count(best['timesteps'])}"
            if best else "",
        )  # fmt: skip

    def due(self, timesteps: int) -> bool:
        return timesteps >= self.next_due

    def evaluated_at(self, timesteps: int) -> bool:
        return bool(self.rows) and self.rows[-1]["timesteps"] == timesteps

    def evaluate(self, model: Any, timesteps: int) -> dict[str, float]:
        """Backtest `model` on the val span now; record, keep if best, tell the hook."""
        began = time.perf_counter()
        metrics = self.score(model)
        value = float(metrics[self.metric])
        previous = self.best
        is_best = better(value, None if previous is None else previous[self.metric], self.metric)
        row = {"timesteps": int(timesteps), **{k: float(metrics[k]) for k in METRIC_NAMES}}
        self.rows.append(row)
        if is_best:
            buffer = io.BytesIO()
            save_deterministic(model, buffer)
            self.best_zip = buffer.getvalue()
        self._write(best_changed=is_best)
        self.next_due = (timesteps // self.every + 1) * self.every
        seconds = time.perf_counter() - began
        self.seconds += seconds
        best = self.best
        log.info(
            "validation at %s timesteps: val %s %.4g%s (best %s at %s) in %.2f s",
            human_count(timesteps), self.metric, value, " NEW BEST" if is_best else "",
            f"{best[self.metric]:.4g}" if best else "n/a",
            human_count(best["timesteps"]) if best else "-", seconds,
        )  # fmt: skip
        if self.on_validation is not None:
            self.on_validation(dict(metrics), int(timesteps))
        return metrics

    def state_entries(self) -> dict[str, bytes]:
        """What a checkpoint carries: the CSV so far and the best model so far."""
        if not self.rows:
            return {}
        entries = {STATE_CSV: self._csv_text().encode()}
        if self.best_zip is not None:
            entries[STATE_BEST] = self.best_zip
        return entries

    def _csv_text(self) -> str:
        return pd.DataFrame(self.rows, columns=list(COLUMNS)).to_csv(index=False)

    def _write(self, best_changed: bool = True) -> None:
        write_text_atomic(self.csv_path, self._csv_text())
        if best_changed and self.best_zip is not None:
            with atomic_path(self.best_path) as tmp:
                tmp.write_bytes(self.best_zip)


def _rows(frame: pd.DataFrame) -> list[dict[str, float]]:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"validation rows lack the columns {missing}")
    rows = frame[list(COLUMNS)].to_dict("records")
    return [{**r, "timesteps": int(r["timesteps"])} for r in rows]
