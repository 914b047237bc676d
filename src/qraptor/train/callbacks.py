"""The SB3 callback that connects a training run to its caller's hooks.

Called once per vec-env step (n_envs timesteps): it reports progress every few seconds,
writes a checkpoint each time the timestep count crosses a multiple of `checkpoint_every`,
and stops training (after a last checkpoint) as soon as `should_stop` says so. It knows
nothing of where checkpoints go next: the hooks decide (the worker uploads them).
`LogHookWriter` passes each dump of SB3's logger (losses, episode reward, fps) to the
`on_log` hook: that is how training curves reach MLflow and TensorBoard (qraptor.tracking).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import KVWriter

from qraptor.core.atomic import atomic_path
from qraptor.core.log import get_logger
from qraptor.train.model_zip import save_deterministic

if TYPE_CHECKING:
    from qraptor.train.validation import Validator

log = get_logger(__name__)
CHECKPOINT_DIR = "checkpoints"


@dataclass
class TrainHooks:
    """What a caller (the session worker, a test, the CLI) can plug into training.

    Every hook is optional and runs in the training thread. `should_stop` is asked at every
    vec-env step, so it must only read a flag (set by a signal handler or a heartbeat
    thread), never query a database. `on_checkpoint` runs after the zip is complete on disk
    and may take its time (an upload); training waits for it.
    """

    on_progress: Callable[[int, int], None] | None = None  # (timesteps done, total)
    on_checkpoint: Callable[[Path, int], None] | None = None  # (zip path, timesteps)
    should_stop: Callable[[], bool] | None = None  # True: checkpoint and stop at this step
    # (SB3 logger values, timesteps) at each dump of SB3's logger: once a rollout for PPO,
    # every log_interval updates or episodes for the others. Values are SB3's keys
    # (rollout/ep_rew_mean, train/loss, time/fps...); non-numeric ones included as logged.
    on_log: Callable[[dict[str, Any], int], None] | None = None
    # (val metrics, timesteps) after each in-training validation (session.validation):
    # every metric of evaluation.metrics, logged by tracking as the eval/<metric> curves
    on_validation: Callable[[dict[str, float], int], None] | None = None


def checkpoint_path(out_dir: Path, timesteps: int) -> Path:
    """out_dir/checkpoints/model_<timesteps, 12 digits>.zip: names sort by progress."""
    return out_dir / CHECKPOINT_DIR / f"model_{timesteps:012d}.zip"


def save_model(model: object, path: Path, extra: Mapping[str, bytes] | None = None) -> Path:
    """The model's zip, without wall-clock bytes (qraptor.train.model_zip), written to a
    temporary file renamed into place: never a half-written zip. `extra`: more entries
    (a checkpoint's validation state)."""
    with atomic_path(path) as tmp, tmp.open("wb") as stream:
        save_deterministic(model, stream, extra)
    return path


class SessionCallback(BaseCallback):
    """Progress, periodic checkpoints and cooperative stopping for one `learn` call."""

    def __init__(
        self,
        hooks: TrainHooks,
        out_dir: Path,
        total_timesteps: int,
        checkpoint_every: int,
        progress_seconds: float,
        start_timesteps: int,
        validator: Validator | None = None,
    ) -> None:
        super().__init__(verbose=0)
        self.hooks = hooks
        self.validator = validator  # in-training validation; its state rides in checkpoints
        self.out_dir = out_dir
        self.total = total_timesteps
        self.every = checkpoint_every
        self.progress_seconds = progress_seconds
        self.next_checkpoint = (start_timesteps // checkpoint_every + 1) * checkpoint_every
        self.checkpoints: list[Path] = []
        self.stopped = False
        self._last_report = time.monotonic()

    def _on_step(self) -> bool:
        done = self.num_timesteps
        if self.validator is not None and done < self.total and self.validator.due(done):
            # before a checkpoint of the same step (which then carries it); none in the last
            # rollout: its update comes after this step, and the trainer evaluates the
            # final model once learning ends
            self.validator.evaluate(self.model, done)
        if done >= self.next_checkpoint:
            self.checkpoint(done)
            self.next_checkpoint = (done // self.every + 1) * self.every
        now = time.monotonic()
        if self.hooks.on_progress and now - self._last_report >= self.progress_seconds:
            self._last_report = now
            self.hooks.on_progress(done, self.total)
        if self.hooks.should_stop and self.hooks.should_stop():
            self.checkpoint_once(done)
            log.info("stop requested: checkpoint at %d timesteps, training stopped", done)
            self.stopped = True
            return False
        return True

    def checkpoint(self, timesteps: int) -> Path:
        """Save the model now, then tell the on_checkpoint hook."""
        extra = self.validator.state_entries() if self.validator is not None else None
        path = save_model(self.model, checkpoint_path(self.out_dir, timesteps), extra)
        if not self.checkpoints or self.checkpoints[-1] != path:  # saved again: one entry
            self.checkpoints.append(path)
        if self.hooks.on_checkpoint:
            self.hooks.on_checkpoint(path, timesteps)
        return path

    def checkpoint_once(self, timesteps: int) -> None:
        """A checkpoint at `timesteps` unless the latest one is already there."""
        if not self.checkpoints or self.checkpoints[-1] != checkpoint_path(self.out_dir, timesteps):
            self.checkpoint(timesteps)

    def report_end(self) -> None:
        """A last progress report when learning ends."""
        if self.hooks.on_progress:
            self.hooks.on_progress(self.num_timesteps, self.total)


class LogHookWriter(KVWriter):
    """An SB3 logger output that hands every dump to `TrainHooks.on_log`."""

    def __init__(self, on_log: Callable[[dict[str, Any], int], None]) -> None:
        self.on_log = on_log

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0
    ) -> None:
        self.on_log(dict(key_values), step)

    def close(self) -> None:
        """Nothing owned: the hook's owner closes what it writes to."""
