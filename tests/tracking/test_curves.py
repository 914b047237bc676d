"""Training curves: SB3's logger dumps reach MLflow (throttled, batched) and a TensorBoard
event file that TensorBoard's format readers accept; a failing server never stops training."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path

import numpy as np
import pytest
from tensorboardX.proto import event_pb2

from qraptor.tracking.curves import CurveLogger, numeric


class RecordingClient:
    """Stands in for MlflowClient.log_batch; `fail` makes every call raise."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[list] = []
        self.fail = fail

    def log_batch(self, run_id: str, metrics=(), params=(), tags=()) -> None:
        if self.fail:
            raise ConnectionError("server away")
        self.calls.append(list(metrics))


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars of the TFRecord event files in `folder` (length, crc, event proto, crc)."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        at = 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
            at += 12 + length + 4
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def dump(step: int) -> dict:
    return {
        "rollout/ep_rew_mean": 0.5 + step / 1000,
        "train/loss": np.float32(0.25),
        "time/fps": 1200,
        "train/n_updates": np.int64(step // 64),
        "note": "a string",
        "train/std": float("nan"),
        "flag": True,
    }


def test_numeric_keeps_finite_real_scalars() -> None:
    assert numeric(dump(0)) == {
        "rollout/ep_rew_mean": 0.5,
        "train/loss": 0.25,
        "time/fps": 1200.0,
        "train/n_updates": 0.0,
    }


def test_mlflow_gets_throttled_batches(tmp_path: Path) -> None:
    client = RecordingClient()
    curves = CurveLogger(client, "run", None, every_timesteps=1000, flush_seconds=3600)
    for step in range(0, 5000, 256):  # a dump per 256 timesteps, the last at 4864
        curves(dump(step), step)
    assert client.calls == []  # buffered until the flush interval
    curves.close()
    sent = [m for batch in client.calls for m in batch]
    steps = sorted({m.step for m in sent})
    assert steps[0] == 0 and steps[-1] == 4864  # the final dump is never thinned away
    assert all(b - a >= 1000 for a, b in itertools.pairwise(steps[:-1]))
    assert len(client.calls) == 1  # one request for all of them
    assert {m.key for m in sent} == {"rollout/ep_rew_mean", "train/loss", "time/fps",
                                     "train/n_updates"}  # fmt: skip


def test_every_dump_goes_to_tensorboard(tmp_path: Path) -> None:
    curves = CurveLogger(None, None, tmp_path / "tb", every_timesteps=1000, flush_seconds=0)
    for step in (128, 256, 384):
        curves(dump(step), step)
    curves.close()
    scalars = read_scalars(tmp_path / "tb")
    assert [s for s, _ in scalars["rollout/ep_rew_mean"]] == [128, 256, 384]
    assert scalars["rollout/ep_rew_mean"][-1][1] == pytest.approx(0.884)


def test_a_failing_server_does_not_stop_training() -> None:
    curves = CurveLogger(RecordingClient(fail=True), "run", None, 0, flush_seconds=0)
    curves(dump(0), 0)  # flushes at once, fails, warns
    curves(dump(64), 64)
    curves.close()
    assert curves.dropped == 8  # 4 values x 2 dumps, dropped with a warning, no exception


def test_tensorboard_files_without_mlflow(tmp_path: Path, tiny_overrides: list[str]) -> None:
    from qraptor.tracking.config import load_tracking_config
    from qraptor.tracking.session_run import start_session_run
    from qraptor.train import load_train_config

    config = load_train_config(tiny_overrides).to_dict()
    with start_session_run(config, tracking=load_tracking_config(["enabled=false"])) as tracker:
        hooks = tracker.train_hooks(None, tmp_path)
        hooks.on_log(dump(128), 128)
    assert not tracker.enabled and tracker.run_id is None
    assert read_scalars(tmp_path / "tensorboard")["time/fps"] == [(128, 1200.0)]
