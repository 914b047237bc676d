"""Train one session in the calling process: seeded, checkpointed, resumable, evaluated.

`train_session` is the whole life of a session minus the database: build the batched env on
the training split, build (or resume) the SB3 model, learn to `total_timesteps` with hooks
for progress, checkpoints and stopping, save the model, then backtest it on the evaluation
splits next to the baselines. The session worker calls it with MongoDB-backed hooks; the
CLI (`python -m qraptor.train`) with none. Outputs under `out_dir`:

    config.yaml                        the resolved config
    provenance.json                    the code trained with: git commit, dirty or not
    data.json                          the data path trained on (qraptor.data.record)
    checkpoints/model_<timesteps>.zip  every checkpoint_every timesteps (and on stop)
    logs/from_<timesteps>/             SB3 logger: progress.csv (+ TensorBoard if installed)
                                       (each dump also goes to hooks.on_log: MLflow and
                                       TensorBoard curves, qraptor.tracking)
    model.zip                          the final model
    validation.csv, model_best_val.zip in-training validation: one row per evaluation, the
                                       best model on val so far (session.validation)
    eval/<split>/                      trades.csv, equity.csv, baselines_equity.csv, metrics.json
    metrics.json                       per split: agent and baselines; objective; the
                                       model selected (session.select: final | best_val)
    timings.json                       training and evaluation seconds, timesteps per second

Wall-clock values stay out of the files DVC hashes (the `train` stage's out): timings go
to timings.json, model zips are saved without time stamps (qraptor.train.model_zip); the
logs, TensorBoard events, train.log and .hydra/hydra.yaml, volatile by nature, are left
out of the hash by .dvcignore. The rest is the same bytes whenever the weights are.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import VecMonitor

from qraptor.core import layout
from qraptor.core.atomic import write_json_atomic, write_text_atomic
from qraptor.core.log import get_logger, human_count
from qraptor.core.provenance import code_record
from qraptor.data.record import run_record
from qraptor.evaluation.metric_names import objective_parts
from qraptor.train.algos import build_model, load_model
from qraptor.train.callbacks import LogHookWriter, SessionCallback, TrainHooks, save_model
from qraptor.train.config import TrainConfig, resolve_dataset
from qraptor.train.fine_tune import init_zip, load_weights
from qraptor.train.result import TrainResult
from qraptor.train.summary import session_summary, session_timings
from qraptor.train.tasks import SessionTask, session_task
from qraptor.train.validation import Validator

log = get_logger(__name__)
__all__ = ["TrainHooks", "TrainResult", "resolve_dataset", "seed_everything", "train_session"]


def seed_everything(seed: int, torch_threads: int) -> None:
    """Seed python, numpy and torch; fix torch's thread count (1 is fastest for small nets)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - SB3's buffers sample from numpy's global RNG
    torch.manual_seed(seed)
    torch.set_num_threads(torch_threads)


def train_session(
    cfg: TrainConfig,
    out_dir: Path,
    hooks: TrainHooks | None = None,
    resume_from: Path | None = None,
    root: Path | None = None,
    init_from: Path | None = None,
) -> TrainResult:
    """Train `cfg`'s session into `out_dir` (created if needed); see the module docstring.

    With `resume_from` (a checkpoint zip), training continues from that model's timestep
    count up to `session.total_timesteps`; the replay buffer of off-policy algorithms is
    not part of a checkpoint and starts empty again; the validation rows and best model
    the checkpoint carries are restored (qraptor.train.validation).

    `init_from`: fine-tune, starting from that model zip's weights (default:
    `session.init_from` taken as a path; the CLI and the worker resolve session ids and
    MLflow URIs to a zip and pass it here). Ignored when resuming: the checkpoint holds
    the fine-tuned weights already.

    `root`: the project a relative `session.dataset` is in (the caller's; default: the
    project of the current directory).
    """
    s = cfg.session
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out_dir / layout.CONFIG, OmegaConf.to_yaml(OmegaConf.create(cfg.to_dict())))
    write_json_atomic(out_dir / layout.PROVENANCE, code_record(root))  # the model card's commit
    seed_everything(s.seed, s.torch_threads)
    dataset = resolve_dataset(s.dataset, root)
    task = session_task(cfg, dataset)  # one instrument or a portfolio; its data checked
    # the evaluation's annualisation goes with the record: a backtest away from the dataset
    # (other bars, a served model) annualises exactly as this session's evaluation does
    record = {**run_record(dataset, s.fold, root), "periods_per_year": task.periods_per_year}
    write_json_atomic(out_dir / layout.DATA_RECORD, record)
    env = VecMonitor(task.train_env())
    if resume_from is None and init_from is None and s.init_from is not None:
        init_from = init_zip(s.init_from, root)
    model = _model(cfg, env, resume_from, init_from)
    start = model.num_timesteps
    hooks = hooks or TrainHooks()
    validator = _validator(cfg, task, out_dir, hooks, resume_from, start)
    callback = SessionCallback(
        hooks, out_dir, s.total_timesteps, s.checkpoint_every, s.progress_seconds, start,
        validator,
    )  # fmt: skip
    seconds = _learn(model, callback, s.total_timesteps, out_dir, resumed=resume_from is not None)
    # the final model is a candidate too: evaluated unless the last evaluation was of it
    done = model.num_timesteps
    if validator is not None and not callback.stopped and not validator.evaluated_at(done):
        validator.evaluate(model, done)
    if not callback.stopped and done > start and callback.hooks.on_checkpoint:
        # The trained model as the last checkpoint before evaluation: a worker that dies
        # during evaluation or uploads is resumed at the end, and only those are redone.
        # (When a checkpoint of that count exists already, made in the last rollout before
        # its update, it stays: resumed from it, the final evaluation is made again.)
        callback.checkpoint_once(done)
    speed = (model.num_timesteps - start) / seconds if seconds > 0 else 0.0
    log.info(
        "%s: %s timesteps in %.1f s (%s/s)",
        s.name, human_count(model.num_timesteps), seconds, human_count(speed),
    )  # fmt: skip
    result = TrainResult(
        model_path=callback.checkpoints[-1] if callback.stopped else out_dir / layout.MODEL,
        timesteps=model.num_timesteps,
        stopped_early=callback.stopped,
        metrics={},
        baselines={},
        trade_logs={},
        equity={},
        seconds=seconds,
        timesteps_per_second=speed,
        checkpoints=list(callback.checkpoints),
        validation_seconds=validator.seconds if validator is not None else 0.0,
        validations=len(validator.rows) if validator is not None else 0,
    )
    if not callback.stopped:
        save_model(model, result.model_path)
        chosen = _select(cfg, model, validator, result)
        _evaluate(cfg, chosen, task, out_dir, result)
    summary = session_summary(result, cfg.session.objective, timings=False)
    write_json_atomic(out_dir / layout.METRICS, summary)
    write_json_atomic(out_dir / layout.TIMINGS, session_timings(result))
    return result


def _learn(
    model: BaseAlgorithm, callback: SessionCallback, total: int, out_dir: Path, resumed: bool
) -> float:
    """Learn from the model's count up to `total` timesteps; return the wall seconds."""
    start = model.num_timesteps
    logger = configure(str(out_dir / "logs" / f"from_{start:012d}"), _log_formats())
    if callback.hooks.on_log is not None:
        logger.output_formats.append(LogHookWriter(callback.hooks.on_log))
    model.set_logger(logger)
    began = time.perf_counter()
    if total > start:
        model.learn(
            total - start,
            callback=callback,
            reset_num_timesteps=not resumed,
            progress_bar=sys.stderr.isatty(),
        )
    seconds = time.perf_counter() - began
    callback.report_end()
    return seconds


def _model(
    cfg: TrainConfig, env: VecMonitor, resume_from: Path | None, init_from: Path | None
) -> BaseAlgorithm:
    s = cfg.session
    if resume_from is None:
        model = build_model(cfg.algo, env, seed=s.seed, device=s.device)
        if init_from is not None:
            load_weights(model, Path(init_from))
        return model
    model = load_model(cfg.algo.name, Path(resume_from), env, device=s.device)
    # Fresh but reproducible randomness for the rest of the run (RNG states are not saved).
    model.set_random_seed(s.seed + model.num_timesteps)
    log.info("resumed from %s at %d timesteps", resume_from, model.num_timesteps)
    return model


def _log_formats() -> list[str]:
    """SB3's CSV log only: TensorBoard curves are written by the on_log hook
    (qraptor.tracking.curves, with tensorboardX), once, in <run dir>/tensorboard."""
    return ["csv"]


def _validator(
    cfg: TrainConfig,
    task: SessionTask,
    out_dir: Path,
    hooks: TrainHooks,
    resume_from: Path | None,
    start: int,
) -> Validator | None:
    """The in-training validation on the val split (None when off), restored from the
    checkpoint resumed from."""
    s = cfg.session
    if not s.validation.enabled:
        return None
    score = task.validation_score(s.validation.deterministic)  # its span loaded once
    validator = Validator(cfg, score, out_dir, hooks.on_validation)
    validator.restore(resume_from, start)
    return validator


def _select(
    cfg: TrainConfig, final: BaseAlgorithm, validator: Validator | None, result: TrainResult
) -> BaseAlgorithm:
    """The model `session.select` picks for evaluation, export and storage; records which
    in `result.selected` (and points `result.model_path` at its zip)."""
    s = cfg.session
    best = validator.best if validator is not None else None
    result.selected = {"model": "final", "timesteps": int(final.num_timesteps)}
    if validator is not None:
        result.selected["validation"] = {
            "metric": s.validation.metric,
            "evaluations": len(validator.rows),
            "best_timesteps": None if best is None else int(best["timesteps"]),
            "best_value": None if best is None else float(best[s.validation.metric]),
        }
    if s.select != "best_val":
        return final
    if validator is None or best is None or not validator.best_path.is_file():
        log.warning(
            "session.select=best_val: no evaluation gave a finite val %s; the final model "
            "is evaluated instead", s.validation.metric,
        )  # fmt: skip
        return final
    result.model_path = validator.best_path
    result.selected.update(model="best_val", timesteps=int(best["timesteps"]))
    log.info(
        "selected the best model on val (%s %.4g at %s timesteps) over the final one",
        s.validation.metric, best[s.validation.metric], human_count(best["timesteps"]),
    )  # fmt: skip
    return load_model(cfg.algo.name, validator.best_path, None, device=s.device)


def _evaluate(
    cfg: TrainConfig, model: BaseAlgorithm, task: SessionTask, out_dir: Path, result: TrainResult
) -> None:
    """Backtest on every evaluation split; fills the result's metrics and file paths."""
    s, began = cfg.session, time.perf_counter()
    for split in s.eval.splits:
        outcome = task.evaluate(model, split, out_dir)
        result.metrics[split] = outcome.metrics
        result.baselines[split] = outcome.baselines
        result.random_sharpes[split] = outcome.random_sharpes
        if outcome.verdict is not None:
            result.verdicts[split] = outcome.verdict
        result.trade_logs[split], result.equity[split] = outcome.trades, outcome.equity
        if outcome.portfolio is not None:
            result.portfolio[split] = outcome.portfolio
    split, metric = objective_parts(s.objective)
    result.objective = float(result.metrics[split][metric])
    result.eval_seconds = time.perf_counter() - began
