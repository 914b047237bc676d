"""The files of a finished session, attached to its MLflow run.

Layout inside the run's artifacts (what the MLflow UI lists):

    config.yaml, metrics.json       the resolved config; the session's summary
    data.json                       the data path trained on (qraptor.data.record)
    model/model.zip                 the SB3 model (the one session.select picked; with
    model/model_best_val.zip        best_val, both the final and the best on validation)
    validation.csv                  the in-training validation curve (when on)
    model_card.md                   the model card (tracking.model_card) and the figure
    model_card_curve.png            it shows (also the registered version's description)
    keras/policy.h5                 the policy rebuilt in tf.keras (when exported)
    eval/<split>/                   trades.csv, equity.csv, baselines_equity.csv, metrics.json
    plots/equity_<split>.png        equity vs baselines, drawdown, position over price
    plots/training_reward.png       mean episode reward over timesteps
    tensorboard/                    the session's TensorBoard event files
    policy (a logged model)         the pyfunc model (pyfunc.py)

Plots are drawn with the evaluation report's own figure (qraptor.evaluation.report), so
the MLflow run, `qraptor evaluate` and the DVC stage show the same picture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from qraptor.core import layout
from qraptor.core.log import get_logger
from qraptor.data.plots import save_figure
from qraptor.evaluation.report import split_figure
from qraptor.tracking.config import ArtifactsConfig

log = get_logger(__name__)
PLOTS_DIR = "plots"
REWARD_KEY = "rollout/ep_rew_mean"
TIMESTEPS_KEY = "time/total_timesteps"


def log_session_files(
    client: Any,
    run_id: str,
    out_dir: Path,
    model_path: Path,
    splits: list[str],
    cfg: ArtifactsConfig,
    tensorboard_dir: Path | None,
    title: str,
) -> list[str]:
    """Upload the session's files to run `run_id`; the artifact paths logged."""
    logged: list[str] = []

    def upload(path: Path, folder: str | None = None) -> None:
        """A file into `folder`; a directory's contents into `folder`."""
        if path.is_dir() and any(path.iterdir()):
            client.log_artifacts(run_id, str(path), folder)
            logged.append(f"{folder}/")
        elif path.is_file():
            client.log_artifact(run_id, str(path), folder)
            logged.append(f"{folder}/{path.name}" if folder else path.name)

    upload(out_dir / layout.CONFIG)
    upload(out_dir / layout.METRICS)
    upload(out_dir / layout.DATA_RECORD)
    upload(out_dir / layout.VALIDATION)
    upload(out_dir / layout.MODEL_CARD)
    upload(out_dir / layout.CARD_CURVE)
    if cfg.model:
        upload(model_path, "model")
        if model_path.name != layout.MODEL:  # the best on validation: the final one too
            upload(out_dir / layout.MODEL, "model")
    if cfg.evaluation:
        for split in splits:
            upload(layout.eval_dir(out_dir, split), f"{layout.EVAL_DIR}/{split}")
    if cfg.plots:
        for figure in write_plots(out_dir, splits, title):
            upload(figure, PLOTS_DIR)
    if cfg.tensorboard and tensorboard_dir is not None:
        upload(tensorboard_dir, "tensorboard")
    return logged


def write_plots(out_dir: Path, splits: list[str], title: str) -> list[Path]:
    """out_dir/plots/: an evaluation figure per split and the training reward curve."""
    folder = out_dir / PLOTS_DIR
    written = []
    for split in splits:
        path = folder / f"equity_{split}.png"
        heading = f"{title}: {split} split, agent vs baselines (same costs)"
        save_figure(split_figure(layout.eval_dir(out_dir, split), heading), path)
        written.append(path)
    curve = training_curve(out_dir)
    if curve is not None and REWARD_KEY in curve:
        path = folder / "training_reward.png"
        save_figure(reward_figure(curve, f"{title}: training reward"), path)
        written.append(path)
    return written


def training_curve(out_dir: Path) -> pd.DataFrame | None:
    """SB3's progress.csv of every learn call of the session (a resume starts a new one),
    in timestep order; None when SB3 logged nothing."""
    frames = []
    for path in sorted((out_dir / "logs").glob("from_*/progress.csv")):
        try:
            frame = pd.read_csv(path)
        except (pd.errors.EmptyDataError, OSError):
            continue
        if TIMESTEPS_KEY in frame:
            frames.append(frame)
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True).sort_values(TIMESTEPS_KEY, kind="stable")


def reward_figure(curve: pd.DataFrame, title: str) -> Figure:
    """Mean episode reward (SB3's rolling mean over the last 100 episodes) over timesteps."""
    points = curve[[TIMESTEPS_KEY, REWARD_KEY]].dropna()
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(points[TIMESTEPS_KEY], points[REWARD_KEY], color="#1f4e79", linewidth=1.3)
    ax.set_xlabel("timesteps")
    ax.set_ylabel("mean episode reward")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
