"""The trainer's promises: hooks are called, checkpoints are complete and periodic, a stop
leaves a checkpoint to resume from, a resume continues the timestep count, runs are seeded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from qraptor.core.numbers import json_safe
from qraptor.data.split import load_split
from qraptor.train import TrainHooks, load_train_config, train_session
from qraptor.train.algos import load_model

# PPO rollouts of 4 envs x 32 steps = 128 timesteps: checkpoints land exactly on multiples.
RUN = (
    "session.total_timesteps=512",
    "session.checkpoint_every=128",
    "session.progress_seconds=0.001",
)


class Recorder:
    """Hooks that remember every call; `stop_after` makes should_stop fire past a count."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.progress: list[tuple[int, int]] = []
        self.checkpoints: list[tuple[Path, int]] = []
        self.stop_after = stop_after

    def hooks(self) -> TrainHooks:
        return TrainHooks(
            on_progress=lambda done, total: self.progress.append((done, total)),
            on_checkpoint=self._checkpoint,
            should_stop=self._should_stop,
        )

    def _checkpoint(self, path: Path, timesteps: int) -> None:
        assert path.is_file(), "the hook hears of a checkpoint only once it is on disk"
        self.checkpoints.append((path, timesteps))

    def _should_stop(self) -> bool:
        done = self.progress[-1][0] if self.progress else 0
        return self.stop_after is not None and done >= self.stop_after


def test_hooks_see_progress_and_every_checkpoint(fast_overrides, tmp_path: Path) -> None:
    cfg = load_train_config(fast_overrides("ppo", *RUN))
    recorder = Recorder()
    result = train_session(cfg, tmp_path, recorder.hooks())

    assert [t for _, t in recorder.checkpoints] == [128, 256, 384, 512]
    assert [p for p, _ in recorder.checkpoints] == result.checkpoints
    load_model("ppo", recorder.checkpoints[1][0], None, device="cpu")  # a complete zip
    done = [d for d, _ in recorder.progress]
    assert done == sorted(done) and recorder.progress[-1] == (512, 512)
    assert {total for _, total in recorder.progress} == {512}
    assert not list(tmp_path.rglob("*.tmp")), "atomic writes leave no temporary files"


def test_stop_checkpoints_then_resume_continues_the_count(fast_overrides, tmp_path: Path) -> None:
    cfg = load_train_config(fast_overrides("ppo", *RUN))
    first = Recorder(stop_after=200)
    stopped = train_session(cfg, tmp_path / "first", first.hooks())

    assert stopped.stopped_early
    assert 200 <= stopped.timesteps < 512
    assert stopped.model_path == first.checkpoints[-1][0] and stopped.model_path.is_file()
    assert first.checkpoints[-1][1] == stopped.timesteps
    assert stopped.metrics == {} and not (tmp_path / "first" / "eval").exists()
    assert json.loads((tmp_path / "first" / "metrics.json").read_text())["stopped_early"]

    second = Recorder()
    resumed = train_session(cfg, tmp_path / "second", second.hooks(), stopped.model_path)
    assert not resumed.stopped_early
    assert resumed.timesteps >= 512
    assert second.progress[0][0] > stopped.timesteps, "the count continues, it does not restart"
    # multiples after the stop, then the trained model itself (a worker dying during the
    # evaluation resumes there)
    assert [t for _, t in second.checkpoints] == [256, 384, 512, resumed.timesteps]
    learned = resumed.timesteps_per_second * resumed.seconds
    assert learned == pytest.approx(resumed.timesteps - stopped.timesteps, rel=1e-6)
    assert (tmp_path / "second" / f"logs/from_{stopped.timesteps:012d}").is_dir()
    assert "sharpe" in resumed.metrics["val"]


def test_resume_from_a_finished_model_only_evaluates(fast_overrides, tmp_path: Path) -> None:
    cfg = load_train_config(fast_overrides("ppo", *RUN))
    done = train_session(cfg, tmp_path / "a")
    again = train_session(cfg, tmp_path / "b", resume_from=done.model_path)
    assert again.timesteps == done.timesteps and again.checkpoints == []
    assert {k: json_safe(v) for k, v in again.metrics.items()} == {
        k: json_safe(v) for k, v in done.metrics.items()
    }  # NaN (a short span's CAGR) compared as null


def test_same_seed_same_session(fast_overrides, tmp_path: Path) -> None:
    cfg = load_train_config(fast_overrides("ppo"))
    a = train_session(cfg, tmp_path / "a")
    b = train_session(cfg, tmp_path / "b")
    pd.testing.assert_frame_equal(pd.read_csv(a.equity["test"]), pd.read_csv(b.equity["test"]))
    other = train_session(
        load_train_config(fast_overrides("ppo", "session.seed=1")), tmp_path / "c"
    )
    assert not pd.read_csv(other.equity["test"]).equals(pd.read_csv(a.equity["test"]))


def test_fold_sessions_train_and_evaluate_on_the_fold(fast_overrides, tmp_path: Path) -> None:
    fold = ("session.fold=3", "session.eval.splits=[test]", "session.objective=test.sharpe")
    result = train_session(load_train_config(fast_overrides("ppo", *fold)), tmp_path)
    curve = pd.read_csv(result.equity["test"], parse_dates=["timestamp"])
    fold_test = load_split(load_train_config(fast_overrides()).session.dataset, "test", 3)
    assert curve["timestamp"].iloc[-1] == fold_test["timestamp"].iloc[-1]
    assert curve["timestamp"].iloc[0] == fold_test["timestamp"].iloc[7]  # window 8: bar 7
    assert list(result.metrics) == ["test"]
