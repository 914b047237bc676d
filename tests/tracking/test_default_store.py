"""With no tracking URI anywhere, a session lands in <project>/mlflow.db with its artifacts
in <project>/mlruns, wherever the process runs from; curves and TensorBoard files too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient

from qraptor.core.config.compose import CONF_DIR_ENV
from qraptor.tracking.config import load_tracking_config
from qraptor.tracking.session_run import start_session_run
from qraptor.train import load_train_config
from qraptor.train.callbacks import TrainHooks
from qraptor.train.trainer import train_session


def test_a_session_in_the_default_sqlite_store(
    project_root: Path,
    tmp_path: Path,
    tiny_overrides: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(project_root / "conf", project / "conf")
    monkeypatch.setenv(CONF_DIR_ENV, str(project / "conf"))
    monkeypatch.chdir(tmp_path)  # not the project: artifacts must still go to the project
    cfg = load_train_config([*tiny_overrides, "session.name=default_store"])
    # the Keras export and the pyfunc model are covered by the sweep test; keep this one fast
    tracking = load_tracking_config(
        ["artifacts.keras_h5=false", "model.log=false", "model.register=false"]
    )
    out = tmp_path / "run"
    with start_session_run(cfg.to_dict(), tracking=tracking) as tracker:
        result = train_session(cfg, out, tracker.train_hooks(TrainHooks(), out))
        tracker.log_result(result, out)

    assert tracker.uri == f"sqlite:///{project.resolve() / 'mlflow.db'}"
    assert (project / "mlflow.db").is_file() and not (tmp_path / "mlruns").exists()
    artifacts = project / "mlruns" / "default_store" / tracker.run_id / "artifacts"
    for name in ("config.yaml", "model/model.zip", "eval/val/trades.csv", "eval/test/equity.csv",
                 "plots/equity_val.png", "plots/training_reward.png"):  # fmt: skip
        assert (artifacts / name).is_file(), name
    assert list((artifacts / "tensorboard").glob("events.out.tfevents.*"))
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))

    client = MlflowClient(tracker.uri)
    run = client.get_run(tracker.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["objective"] == pytest.approx(result.objective)
    # one naming scheme (evaluation.metric_names): no dotted metric names, the agent's val
    # Sharpe under val/agent/sharpe equal to the run folder's eval/val/metrics.json
    assert [k for k in run.data.metrics if "." in k] == []
    on_disk = json.loads((out / "eval" / "val" / "metrics.json").read_text())
    assert run.data.metrics["val/agent/sharpe"] == pytest.approx(on_disk["agent"]["sharpe"])
    assert run.data.metrics["val/agent/sharpe"] == pytest.approx(result.metrics["val"]["sharpe"])
    assert "val/buy_and_hold/sharpe" in run.data.metrics
    assert run.data.metrics["session/timesteps"] == result.timesteps
    for split in ("val", "test"):  # issue 14: the verdict as metrics and its line as a tag
        verdict = result.verdicts[split]
        assert run.data.metrics[f"{split}/verdict/edge"] == float(verdict["edge"])
        assert run.data.metrics[f"{split}/verdict/psr"] == pytest.approx(verdict["psr"])
        assert run.data.metrics[f"{split}/verdict/t_stat"] == pytest.approx(verdict["t_stat"])
        assert run.data.metrics[f"{split}/verdict/psr_vs_buy_and_hold"] == pytest.approx(
            verdict["psr_vs_benchmark"]
        )
        assert run.data.tags[f"qraptor.verdict.{split}"] == verdict["text"]
    rewards = client.get_metric_history(tracker.run_id, "rollout/ep_rew_mean")
    assert rewards and rewards[-1].step <= result.timesteps
