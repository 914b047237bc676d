"""In-training validation through tracking: the MLflow run has the eval/* metric histories
(step = timesteps) equal to validation.csv, the selected model as a tag and among the
artifacts; the TensorBoard event file holds eval/* scalars and the hyperparameters, as
TensorBoard itself reads them (its EventAccumulator)."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from qraptor.core import layout
from qraptor.tracking.config import load_tracking_config
from qraptor.tracking.curves import CurveLogger, curve_name
from qraptor.tracking.session_run import SELECTED_TAG, SELECTED_TIMESTEPS_TAG, start_session_run
from qraptor.train import load_train_config
from qraptor.train.callbacks import TrainHooks
from qraptor.train.trainer import train_session
from qraptor.train.validation import best_row, read_validation

VALIDATED = (
    "session.validation.every_timesteps=64",
    "session.select=best_val",
    "session.eval.splits=[val]",
    "session.eval.baselines=[flat]",
    "session.objective=val.sharpe",
    "algo.n_steps=16",  # 4 envs x 16 = 64 timesteps a rollout: evaluations at 64, 128, 192, 256
)


@pytest.fixture(scope="module")
def tracked(tiny_overrides: list[str], tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("validation_curves")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    cfg = load_train_config([*tiny_overrides, *VALIDATED, "session.name=validation_curves"])
    tracking = load_tracking_config(
        [f"uri={uri}", "artifacts.keras_h5=false", "model.log=false", "model.register=false",
         "artifacts.plots=false"]
    )  # fmt: skip
    out = folder / "run"
    with start_session_run(cfg.to_dict(), tracking=tracking) as tracker:
        result = train_session(cfg, out, tracker.train_hooks(TrainHooks(), out))
        tracker.log_result(result, out)
    return MlflowClient(tracker.uri), tracker.run_id, out, result  # the tests' own store


def test_mlflow_run_has_eval_histories_and_the_selection(tracked) -> None:
    client, run_id, out, result = tracked
    rows = read_validation(out / layout.VALIDATION)
    assert [r["timesteps"] for r in rows] == [64, 128, 192, 256]
    for metric in ("sharpe", "total_return", "max_drawdown"):
        history = client.get_metric_history(run_id, curve_name(metric))
        assert [(m.step, m.value) for m in sorted(history, key=lambda m: m.step)] == [
            (r["timesteps"], pytest.approx(r[metric])) for r in rows
        ], metric
    best = best_row(rows, "sharpe")
    assert best is not None
    tags = client.get_run(run_id).data.tags
    assert tags[SELECTED_TAG] == "best_val"
    assert (
        tags[SELECTED_TIMESTEPS_TAG] == str(best["timesteps"]) == str(result.selected["timesteps"])
    )
    listed = {f.path for f in client.list_artifacts(run_id)}
    assert layout.VALIDATION in listed
    models = {f.path for f in client.list_artifacts(run_id, "model")}
    assert models == {f"model/{layout.BEST_MODEL}", f"model/{layout.MODEL}"}


def test_tensorboard_event_file_holds_eval_scalars_and_hparams(tracked) -> None:
    _, _, out, _ = tracked
    rows = read_validation(out / layout.VALIDATION)
    events = EventAccumulator(str(out / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    assert curve_name("sharpe") in events.Tags()["scalars"]
    sharpe = events.Scalars(curve_name("sharpe"))
    assert [(e.step, e.value) for e in sharpe] == [
        (r["timesteps"], pytest.approx(r["sharpe"], rel=1e-6)) for r in rows
    ]
    assert "rollout/ep_rew_mean" in events.Tags()["scalars"] or events.Tags()["scalars"]
    hparams = events.PluginTagToContent("hparams")
    assert set(hparams) >= {"_hparams_/experiment", "_hparams_/session_start_info"}
    start = hparams["_hparams_/session_start_info"]
    assert b"algo.learning_rate" in start and b"session.seed" in start
    assert curve_name("sharpe").encode() in hparams["_hparams_/experiment"]


def test_validation_points_are_not_thinned() -> None:
    """Curves are throttled per `every_timesteps`; evaluations never are."""

    class Client:
        def __init__(self) -> None:
            self.sent: list = []

        def log_batch(self, run_id: str, metrics=()) -> None:
            self.sent += list(metrics)

    client = Client()
    curves = CurveLogger(client, "run", None, every_timesteps=10_000, flush_seconds=3600)
    for step in (64, 128, 192):
        curves.validation({"sharpe": step / 100, "calmar": float("nan")}, step)
    assert [(m.key, m.step) for m in client.sent] == [
        ("eval/sharpe", 64), ("eval/sharpe", 128), ("eval/sharpe", 192),
    ]  # fmt: skip
