"""Training curves: what SB3's logger dumps, sent to MLflow in batches and to TensorBoard.

SB3 dumps its logger once a rollout (PPO), every 100 updates (A2C) or every few episodes
(DQN, SAC, TD3), with the timestep count as the step: ``rollout/ep_rew_mean``,
``train/loss``, ``train/entropy_loss``, ``time/fps``... `CurveLogger` is the `on_log` hook
of `TrainHooks`: every dump goes to the session's TensorBoard event file; MLflow gets at most
one point per `every_timesteps` (and always the last dump, sent on `close`: the final
losses and reward are never thinned away), buffered and sent with one `log_batch` call per
`flush_seconds` (one HTTP request instead of one per value), so tracking a remote server
costs training next to nothing.

TensorBoard files are written with tensorboardX, not SB3's own writer: SB3's needs the
`tensorboard` package, whose presence makes `import stable_baselines3` import TensorFlow
(measured here: 1.3 s -> 5-7 s per process, STACK.md). tensorboardX writes the same
event files, readable by TensorBoard, with protobuf only.

In-training validation (`validation`, the `on_validation` hook) gives the curves
``eval/<metric>`` (eval/sharpe, eval/total_return..., step = timesteps, SB3 EvalCallback's
names): every evaluation goes to both, never thinned (one point per evaluation), flushed to
MLflow at once. With `hparams` (the flattened config), the TensorBoard run also gets its
hyperparameters (the HParams tab) with the eval/* curves as their metrics, written on
`close`.

A failing MLflow request never stops training: the batch is dropped with a warning.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qraptor.core.extras import require
from qraptor.core.log import get_logger
from qraptor.tracking.params import METRICS_PER_BATCH, batches

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric

log = get_logger(__name__)
TENSORBOARD_DIR = "tensorboard"
EVAL_PREFIX = "eval/"  # SB3 EvalCallback's convention: eval/sharpe, eval/total_return...


def curve_name(metric: str) -> str:
    """The curve (MLflow metric, TensorBoard tag) of one validation metric: eval/sharpe."""
    return f"{EVAL_PREFIX}{metric}"


class CurveLogger:
    """The `on_log(values, timesteps)` hook: TensorBoard for every dump, MLflow throttled.

    Either side may be absent: `client`/`run_id` None (tracking disabled) or `tensorboard_dir`
    None (TensorBoard off). Call `close` at the end (flushes both).
    """

    def __init__(
        self,
        client: MlflowClient | None,
        run_id: str | None,
        tensorboard_dir: Path | None,
        every_timesteps: int,
        flush_seconds: float,
        guard: Callable[[], None] | None = None,
        hparams: dict[str, bool | int | float | str] | None = None,
    ) -> None:
        self.client = client if run_id is not None else None
        self.hparams = hparams  # for TensorBoard's HParams tab (written on close)
        self.eval_tags: list[str] = []  # the eval/* curves written, the HParams' metrics
        self.guard = guard  # raises when this process may no longer write to the run
        self.run_id = run_id
        self.every = every_timesteps
        self.flush_seconds = flush_seconds
        self.pending: list[Metric] = []
        self.points = 0  # dumps sent (or queued) to MLflow
        self.dropped = 0  # metric values lost to failed requests
        self._last_step: int | None = None
        self._held: tuple[dict[str, float], int] | None = None  # the latest thinned-out dump
        self._last_flush = time.monotonic()
        self._writer = _tensorboard_writer(tensorboard_dir) if tensorboard_dir else None

    def __call__(self, values: dict[str, Any], timesteps: int) -> None:
        scalars = numeric(values)
        if self._writer is not None:
            for key, value in scalars.items():
                self._writer.add_scalar(key, value, timesteps)
        if self.client is None or not scalars:
            return
        if not self._due(timesteps):
            self._held = (scalars, timesteps)
            return
        self._queue(scalars, timesteps)
        if time.monotonic() - self._last_flush >= self.flush_seconds:
            self.flush()

    def validation(self, metrics: dict[str, float], timesteps: int) -> None:
        """One in-training evaluation: eval/<metric> at step `timesteps`, to both sides."""
        scalars = numeric({curve_name(k): v for k, v in metrics.items()})
        self.eval_tags += [k for k in scalars if k not in self.eval_tags]
        if self._writer is not None:
            for key, value in scalars.items():
                self._writer.add_scalar(key, value, timesteps)
        if self.client is None or not scalars:
            return
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self.pending += [Metric(k, v, stamp, timesteps) for k, v in scalars.items()]
        self.flush()

    def _queue(self, scalars: dict[str, float], timesteps: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self.pending += [Metric(k, v, stamp, timesteps) for k, v in scalars.items()]
        self.points += 1
        self._last_step = timesteps
        self._held = None

    def flush(self) -> None:
        """Send the buffered points to MLflow (failures are logged, not raised)."""
        self._last_flush = time.monotonic()
        if self.client is None or not self.pending:
            return
        assert self.run_id is not None  # __init__ keeps a client only with a run id
        if self.guard is not None:
            self.guard()  # a lost lease: the run is someone else's now (raises, not logged)
        pending, self.pending = self.pending, []
        for batch in batches(pending, METRICS_PER_BATCH):
            try:
                self.client.log_batch(self.run_id, metrics=batch)
            except Exception as exc:  # the server is away: training goes on without it
                self.dropped += len(batch)
                log.warning("training curves: %d values not sent to MLflow (%s)", len(batch), exc)

    def close(self) -> None:
        """Send what is buffered, the last dump included; close the TensorBoard file."""
        if self._held is not None:
            self._queue(*self._held)
        try:
            self.flush()
        finally:
            if self._writer is not None:
                self._write_hparams()
                self._writer.close()
                self._writer = None

    def _write_hparams(self) -> None:
        """The session's hyperparameters in its own TensorBoard run, with the eval/* curves
        as their metrics (what `add_hparams` writes, minus the extra run it makes)."""
        if not self.hparams or self._writer is None:
            return
        from tensorboardX.summary import hparams

        metrics = {tag: 0.0 for tag in self.eval_tags or [curve_name("sharpe")]}
        for summary in hparams(self.hparams, metrics):  # experiment, session start and end
            self._writer.file_writer.add_summary(summary)

    def _due(self, timesteps: int) -> bool:
        return self._last_step is None or timesteps - self._last_step >= self.every


def numeric(values: dict[str, Any]) -> dict[str, float]:
    """The finite real numbers among a logger dump (SB3 also logs strings and arrays)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, Real) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number):
                out[key] = number
        elif hasattr(value, "item") and getattr(value, "size", 0) == 1:  # numpy / torch scalar
            number = float(value.item())
            if math.isfinite(number):
                out[key] = number
    return out


def _tensorboard_writer(folder: Path) -> Any:
    SummaryWriter = require("tensorboardX", "tracking").SummaryWriter

    folder.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(logdir=str(folder), flush_secs=30)
