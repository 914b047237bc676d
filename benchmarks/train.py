"""Benchmark of training sessions (issue 4's figures): speed vs SB3, and the queue's overhead.

Two figures, each printed with its target and whether it is met, every ratio taken between
runs of the same round of this run:

1. Learning speed, timesteps/s, of the default PPO session (`train_session` on
   conf/train.yaml as it is: `TrainResult.timesteps_per_second`, the wall time of SB3's
   `learn()` inside the session) against SB3 PPO with its own defaults on gym-anytrading's
   `stocks-v0` (1 env, `MlpPolicy`, the same bars: the train split's close and the same
   window). One torch thread for both. Target: >= 5x. What the session adds around learning
   (evaluation on val/test next to the baselines, setup, saving) is printed beside it, and a
   third row trains qraptor's env with SB3's PPO settings (1 env, n_steps 2048, batch 64,
   10 epochs) to show how much of the speed-up comes from the env and how much from the
   default session's PPO settings.
2. Overhead of the queued path: a 20k-timestep session submitted to the session store and
   run by a worker (`run_worker(once=True)` in this process: claim, lease, heartbeats,
   GridFS uploads, completion) against the same config trained by `train_session` in the
   calling process. Wall time from `submit` to the session completed vs the `train_session`
   call; runs interleaved (alternating which goes first), median of `--repeat`. MLflow
   tracking is off on both sides (it is the same work in either place).
   The store runs on a local SecantusDB server in a temporary folder, stopped at the end.
   Target: < 5%.
3. Learning per wall-clock second, on a planted market (issue 14): speed counts only if
   the policy learns as well. A planted dataset (`planted.HOURLY_CRYPTO`, AR 0.1, four
   years of hourly bars, the test span the last 30 %) at the DEFAULT costs; per
   configuration, sessions over `--learn-seeds` session seeds, each judged on the test span
   against the oracle rule (`qraptor.train.learnability`). Rows: qraptor's env with SB3's
   PPO defaults (1 env, n_steps 2048, batch 64, 10 epochs) at the default session's
   timesteps, the same at the default session's wall clock (its timesteps scaled by the
   two speeds), the default session, and the `learnability` preset. Printed: timesteps,
   learning seconds, test Sharpe (median over seeds), fraction of the oracle's test Sharpe
   (median), and both as ratios to the SB3-defaults row measured in the same run.

Before the timed rounds each side trains once untimed (numba's cache load, torch's first
calls), so every timed run is warm. The machine is 2-core and shared: compare medians and
paired ratios, and treat differences under ~15% as noise.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from machine import machine  # benchmarks/machine.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
SPLIT = "train"
TARGET_SPEEDUP = 5.0  # x SB3 PPO defaults on stocks-v0, learning timesteps/s
TARGET_QUEUE_OVERHEAD = 0.05  # queued wall time / in-process wall time - 1
WARMUP_TIMESTEPS = 2048  # one rollout of either side: compiles, caches, torch first calls
SB3_SETTINGS = ("session.n_envs=1", "algo.n_steps=2048", "algo.batch_size=64", "algo.n_epochs=10")
# gymnasium's passive checker warns that gym-anytrading's consecutive observations share memory.
warnings.filterwarnings("ignore", message=".*share an object.*")

# session_timesteps None = conf/train.yaml's total_timesteps (the default session as it is).
FULL = {
    "session_timesteps": None, "sb3_timesteps": 16_384, "queue_timesteps": 20_000,
    "speed_repeat": 3, "queue_repeat": 5,
}  # fmt: skip
QUICK = {
    "session_timesteps": 4096, "sb3_timesteps": 2048, "queue_timesteps": 2048,
    "speed_repeat": 1, "queue_repeat": 1,
}  # fmt: skip
# Section 3: the planted market, sessions per configuration (learn_timesteps None = conf's).
LEARN_FULL = {"days": 1460, "data_seed": 1, "seeds": (0, 1, 2), "learn_timesteps": None}
LEARN_QUICK = {"days": 120, "data_seed": 1, "seeds": (0,), "learn_timesteps": 2048}
LEARN_AR_COEF = 0.1
LEARN_EVAL = (
    "session.eval.splits=[test]", "session.eval.baselines=[buy_and_hold]",
    "session.objective=test.sharpe", "session.checkpoint_every=100000000",
)  # fmt: skip


def _env_bench() -> Any:
    """benchmarks/env.py as a module: the same bars (and their build) as the env benchmark."""
    spec = importlib.util.spec_from_file_location("env_bench", ROOT / "benchmarks" / "env.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def paired_ratio(runs: Sequence[float], baselines: Sequence[float]) -> float:
    """Median over rounds of (run / the baseline run of the same round)."""
    return statistics.median(r / b for r, b in zip(runs, baselines, strict=True))


def session_config(overrides: Sequence[str]) -> tuple[dict[str, Any], Any]:
    """(resolved plain config, validated TrainConfig) of conf/train.yaml with `overrides`."""
    from omegaconf import OmegaConf

    from qraptor.core.config import compose
    from qraptor.train import train_config_from

    composed = compose("train", list(overrides))
    plain = OmegaConf.to_container(composed, resolve=True)
    return plain, train_config_from(composed)  # type: ignore[return-value]


@contextlib.contextmanager
def scratch(parent: Path, name: str) -> Iterator[Path]:
    """A fresh output folder for one session, deleted afterwards (outside any timing)."""
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_session(cfg: Any, parent: Path, name: str) -> dict[str, float]:
    """One `train_session` call: learning speed and where the rest of its wall time went."""
    from qraptor.train import train_session

    with scratch(parent, name) as out_dir:
        began = time.perf_counter()
        result = train_session(cfg, out_dir)
        wall = time.perf_counter() - began
    return {
        "timesteps": result.timesteps,
        "learn_seconds": result.seconds,
        "timesteps_per_s": result.timesteps_per_second,
        "eval_seconds": result.eval_seconds,
        "wall_seconds": wall,
        "other_seconds": wall - result.seconds - result.eval_seconds,
        "session_timesteps_per_s": result.timesteps / wall,
    }


# --- 1. learning speed ---------------------------------------------------------------------


@contextlib.contextmanager
def ppo_clock() -> Iterator[dict[str, float]]:
    """Seconds SB3's PPO spends collecting rollouts (policy inference, env, buffer) and in
    updates, for every PPO trained inside the block: the class's methods are wrapped, then
    restored. Both are called once per rollout, so the wrapping itself costs nothing."""
    from stable_baselines3 import PPO

    seconds = {"rollout_seconds": 0.0, "update_seconds": 0.0}
    names = {"collect_rollouts": "rollout_seconds", "train": "update_seconds"}
    own = {name: PPO.__dict__.get(name) for name in names}  # None: inherited

    def timed(name: str) -> Callable[..., Any]:
        inner = getattr(PPO, name)

        @functools.wraps(inner)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                seconds[names[name]] += time.perf_counter() - began

        return wrapper

    for name in names:
        setattr(PPO, name, timed(name))
    try:
        yield seconds
    finally:
        for name, method in own.items():
            if method is None:
                delattr(PPO, name)
            else:
                setattr(PPO, name, method)


def clocked(run: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """`run(*args)`'s figures with PPO's rollout and update seconds added."""
    with ppo_clock() as seconds:
        figures = run(*args)
    return {**figures, **seconds}


class Sb3Baseline:
    """SB3 PPO with its defaults on gym-anytrading `stocks-v0` (1 env), as SB3 users run it.

    gym-anytrading rejects SB3's `render_mode="rgb_array"`, so the env is made with
    `gymnasium.make(..., render_mode=None)` and handed to PPO (which wraps it in Monitor and
    DummyVecEnv, as it does for every env). The logger is silent: SB3's default would create
    a /tmp/SB3-<time> folder per run.
    """

    def __init__(self, close: np.ndarray, window: int, seed: int) -> None:
        self.close, self.window, self.seed = np.asarray(close, dtype=np.float64), window, seed

    def make_env(self) -> Any:
        import gym_anytrading  # noqa: F401  (registers stocks-v0)
        import gymnasium as gym

        bars = pd.DataFrame({"Close": self.close})
        frame_bound = (self.window, len(bars))  # the whole split is one episode
        return gym.make(
            "stocks-v0", df=bars, window_size=self.window, frame_bound=frame_bound, render_mode=None
        )

    def run(self, timesteps: int) -> dict[str, Any]:
        """A fresh PPO learning `timesteps`: timesteps/s of `learn()`."""
        import torch
        from stable_baselines3 import PPO
        from stable_baselines3.common.logger import Logger

        torch.set_num_threads(1)
        torch.manual_seed(self.seed)
        model = PPO("MlpPolicy", self.make_env(), seed=self.seed, device="cpu", verbose=0)
        model.set_logger(Logger(folder=None, output_formats=[]))
        began = time.perf_counter()
        model.learn(total_timesteps=timesteps)
        seconds = time.perf_counter() - began
        env = model.get_env()
        obs_shape = list(env.observation_space.shape) if env is not None else []
        settings = {
            "n_envs": model.n_envs, "n_steps": model.n_steps, "batch_size": model.batch_size,
            "n_epochs": model.n_epochs, "obs_shape": obs_shape,
        }  # fmt: skip
        model.env.close()
        return {
            "timesteps": int(model.num_timesteps),
            "learn_seconds": seconds,
            "timesteps_per_s": model.num_timesteps / seconds,
            "settings": settings,
        }


def bench_speed(
    dataset: Path, sizes: dict[str, Any], repeat: int, scratch_dir: Path
) -> dict[str, Any]:
    """Section 1: rounds of (SB3 baseline, default session, qraptor with SB3's settings)."""
    from qraptor.env.market import load_market

    base = [f"session.dataset={dataset}"]
    steps = sizes["session_timesteps"]
    default_overrides = [*base, *([f"session.total_timesteps={steps}"] if steps else [])]
    _, default_cfg = session_config(default_overrides)
    sb3_steps = f"session.total_timesteps={sizes['sb3_timesteps']}"
    _, sb3_like_cfg = session_config([*base, sb3_steps, *SB3_SETTINGS])
    _, warm_cfg = session_config([*base, f"session.total_timesteps={WARMUP_TIMESTEPS}"])
    market = load_market(dataset, SPLIT, default_cfg.session.fold, default_cfg.env.features)
    baseline = Sb3Baseline(market.close, default_cfg.env.window, default_cfg.session.seed)

    print("  warm-up: one rollout of each side, untimed", flush=True)
    baseline.run(WARMUP_TIMESTEPS)
    run_session(warm_cfg, scratch_dir, "warmup")
    runs: dict[str, list[dict[str, Any]]] = {"sb3": [], "default": [], "sb3_settings": []}
    for attempt in range(repeat):
        runs["sb3"].append(clocked(baseline.run, sizes["sb3_timesteps"]))
        runs["default"].append(clocked(run_session, default_cfg, scratch_dir, "default"))
        runs["sb3_settings"].append(clocked(run_session, sb3_like_cfg, scratch_dir, "sb3-settings"))
        speeds = ", ".join(f"{k} {v[-1]['timesteps_per_s']:,.0f}" for k, v in runs.items())
        print(f"  round {attempt + 1}/{repeat}: timesteps/s {speeds}", flush=True)

    sb3_speeds = [r["timesteps_per_s"] for r in runs["sb3"]]
    rows = [_speed_row("SB3 PPO defaults, anytrading stocks-v0", runs["sb3"], sb3_speeds)]
    rows[0]["settings"] = runs["sb3"][0]["settings"]
    for key, name, cfg, judged in (
        ("default", "qraptor default session", default_cfg, True),
        ("sb3_settings", "qraptor env, SB3's PPO settings", sb3_like_cfg, False),
    ):
        row = _speed_row(name, runs[key], sb3_speeds, judged)
        algo, session = cfg.algo, cfg.session
        row["settings"] = {
            "n_envs": session.n_envs, "n_steps": algo.n_steps, "batch_size": algo.batch_size,
            "n_epochs": algo.n_epochs,
            "obs_shape": [cfg.env.window, len(market.feature_names) + len(cfg.env.state)],
        }  # fmt: skip
        rows.append(row)
    bars = {"split": SPLIT, "bars": len(market.close), "window": int(default_cfg.env.window)}
    return {"bars": bars, "rows": rows, "eval_splits": list(default_cfg.session.eval.splits)}


def _speed_row(
    name: str, runs: list[dict[str, Any]], sb3_speeds: list[float], judged: bool = False
) -> dict[str, Any]:
    speeds = [r["timesteps_per_s"] for r in runs]
    ratio = paired_ratio(speeds, sb3_speeds)
    row: dict[str, Any] = {
        "name": name,
        "timesteps": runs[0]["timesteps"],
        "timesteps_per_s": statistics.median(speeds),
        "x_sb3": ratio,
        "runs": runs,
        "target": f">= {TARGET_SPEEDUP:g}x" if judged else None,
        "met": ratio >= TARGET_SPEEDUP if judged else None,
    }
    for key in ("learn_seconds", "rollout_seconds", "update_seconds"):
        row[key] = statistics.median(r[key] for r in runs)
    if "wall_seconds" in runs[0]:  # a whole train_session: what it adds around learning
        for key in ("eval_seconds", "other_seconds", "wall_seconds"):
            row[key] = statistics.median(r[key] for r in runs)
        session_speeds = [r["session_timesteps_per_s"] for r in runs]
        row["session_timesteps_per_s"] = statistics.median(session_speeds)
        row["session_x_sb3"] = paired_ratio(session_speeds, sb3_speeds)
    return row


# --- 2. the queued path ----------------------------------------------------------------


class LocalStore:
    """The session store on a local SecantusDB server in a temporary folder (stopped at exit)."""

    def __init__(self, parent: Path) -> None:
        from qraptor.store import SessionStore, load_store_config

        self.dir = Path(tempfile.mkdtemp(prefix="store-", dir=parent))
        self.cfg = load_store_config([f"local.dir={self.dir}", "uri=null"])
        try:
            self.store = SessionStore.from_config(self.cfg)  # starts the server
        except BaseException:
            self._stop_server()
            raise

    def _stop_server(self) -> None:
        from qraptor.store.local_server import stop_server

        stop_server(self.dir, self.cfg.local.stop_timeout_seconds)
        shutil.rmtree(self.dir, ignore_errors=True)

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self._stop_server()


def run_queued(local: LocalStore, config: dict[str, Any], worker_id: str) -> dict[str, Any]:
    """Submit `config` and let a worker in this process run it (`run_worker(once=True)`).

    Wall time from `submit` to `run_worker` returning with the session completed, split
    into the worker's own phase timings (stored in the session's metrics) and the rest.
    """
    from qraptor.store import Status
    from qraptor.worker.config import load_worker_config
    from qraptor.worker.loop import run_worker

    store = local.store
    began = time.perf_counter()
    session_id = store.submit(config, experiment="bench", tags=["benchmark"])
    submitted = time.perf_counter()
    claimed = run_worker(local.cfg, once=True, worker_id=worker_id, worker_cfg=load_worker_config())
    wall = time.perf_counter() - began
    doc = store.get(session_id)
    if claimed != 1 or doc["status"] != Status.SUCCEEDED:
        raise SystemExit(f"queued session {session_id} ended {doc['status']}: {doc.get('error')}")
    files = store.files(session_id)
    timings = dict(doc["metrics"].get("timings") or {})
    worker_seconds = wall - (submitted - began)
    return {
        "session_id": session_id,
        "timesteps": int(doc["metrics"]["timesteps"]),
        "wall_seconds": wall,
        "submit_seconds": submitted - began,
        "worker_seconds": worker_seconds,  # the run_worker call
        "timings": timings,  # the worker's phases: claim, setup, train, upload, total
        # opening the store, the claim query's surroundings, completion, closing:
        "worker_rest_seconds": worker_seconds - timings.get("total_seconds", 0.0),
        "server_seconds": (doc["finished_at"] - doc["created_at"]).total_seconds(),
        "files": len(files),
        "file_bytes": sum(f.size for f in files),
    }


def bench_queue(
    dataset: Path, sizes: dict[str, Any], repeat: int, scratch_dir: Path
) -> dict[str, Any]:
    """Section 2: (in-process train_session, queued session) pairs, interleaved."""
    steps = sizes["queue_timesteps"]
    # MLflow tracking off: it costs the same in process (`python -m qraptor.train`) as in a
    # worker, and `train_session` alone does not track; this figure is the queue's own cost.
    untracked = "tracking.enabled=false"
    overrides = [f"session.dataset={dataset}", f"session.total_timesteps={steps}", untracked]
    config, cfg = session_config(overrides)
    warm_config, _ = session_config(
        [overrides[0], f"session.total_timesteps={WARMUP_TIMESTEPS}", untracked]
    )
    local = LocalStore(scratch_dir)
    try:
        print(f"  session store: {local.store.uri} (data in {local.dir})", flush=True)
        print("  warm-up: one session each way, untimed", flush=True)
        run_session(cfg, scratch_dir, "direct-warmup")
        run_queued(local, warm_config, "bench-warmup")
        direct, queued = [], []
        for attempt in range(repeat):  # alternate which goes first: no order bias
            for way in ("direct", "queued") if attempt % 2 == 0 else ("queued", "direct"):
                if way == "direct":
                    direct.append(run_session(cfg, scratch_dir, "direct"))
                else:
                    queued.append(run_queued(local, config, f"bench-{attempt}"))
            print(
                f"  round {attempt + 1}/{repeat}: in-process {direct[-1]['wall_seconds']:.2f} s, "
                f"queued {queued[-1]['wall_seconds']:.2f} s",
                flush=True,
            )
    finally:
        local.close()
    direct_walls = [r["wall_seconds"] for r in direct]
    queued_walls = [r["wall_seconds"] for r in queued]
    overhead = paired_ratio(queued_walls, direct_walls) - 1.0
    # The same question asked without subtracting two noisy trainings: the queued path's wall
    # time outside its train_session call, plus the checkpoint uploads inside it (its
    # on_checkpoint hook), over the in-process session's wall time.
    queue_work = [
        q["wall_seconds"] - q["timings"]["train_seconds"]
        + q["timings"].get("checkpoint_upload_seconds", 0.0)
        for q in queued
    ]  # fmt: skip
    return {
        "timesteps": direct[0]["timesteps"],
        "checkpoint_every": cfg.session.checkpoint_every,
        "direct": {"wall_seconds": statistics.median(direct_walls), "runs": direct},
        "queued": {"wall_seconds": statistics.median(queued_walls), "runs": queued},
        "overhead": overhead,
        "overhead_seconds": statistics.median(
            q - d for q, d in zip(queued_walls, direct_walls, strict=True)
        ),
        "queue_work_seconds": statistics.median(queue_work),
        "queue_work_share": paired_ratio(queue_work, direct_walls),
        "target": f"< {TARGET_QUEUE_OVERHEAD:.0%}",
        "met": overhead < TARGET_QUEUE_OVERHEAD,
    }


# --- 3. learning per wall-clock second on a planted market ------------------------------


def planted_for_bench(workdir: Path, learn: dict[str, Any]) -> Path:
    """The planted dataset of section 3 (built once into `workdir`, reused after)."""
    from qraptor.evaluation.planted import HOURLY_CRYPTO, LONG_TEST_SPLIT, planted_dataset

    folder = workdir / f"planted-ar{LEARN_AR_COEF}-days{learn['days']}-seed{learn['data_seed']}"
    if not (folder / "splits.json").is_file():
        planted_dataset(
            folder, ar_coef=LEARN_AR_COEF, days=learn["days"], seed=learn["data_seed"],
            market=HOURLY_CRYPTO, overrides=LONG_TEST_SPLIT,
        )  # fmt: skip
    return folder


def learn_row(
    name: str, overrides: Sequence[str], timesteps: int, seeds: Sequence[int], scratch_dir: Path
) -> dict[str, Any]:
    """Sessions of one configuration over `seeds`: each one's test figures and the oracle's."""
    from qraptor.train.learnability import planted_session

    runs = []
    for seed in seeds:
        _, cfg = session_config([*overrides, f"session.total_timesteps={timesteps}",
                                 f"session.seed={seed}"])  # fmt: skip
        with scratch(scratch_dir, "learn") as out_dir:
            run = planted_session(cfg, out_dir, LEARN_AR_COEF)
        runs.append({
            "seed": seed, "timesteps": run.timesteps, "learn_seconds": run.learn_seconds,
            "wall_seconds": run.wall_seconds, "sharpe": run.agent["sharpe"],
            "oracle_sharpe": run.oracle["sharpe"], "fraction_of_oracle": run.fraction_of_oracle,
        })  # fmt: skip
        print(
            f"  {name}, seed {seed}: {run.timesteps:,} timesteps in {run.learn_seconds:.1f} s, "
            f"test Sharpe {run.agent['sharpe']:.2f} (oracle {run.oracle['sharpe']:.2f})",
            flush=True,
        )
    row: dict[str, Any] = {"name": name, "overrides": list(overrides), "runs": runs}
    for key in ("timesteps", "learn_seconds", "wall_seconds", "sharpe", "oracle_sharpe",
                "fraction_of_oracle"):  # fmt: skip
        row[key] = statistics.median(r[key] for r in runs)
    row["timesteps_per_s"] = statistics.median(r["timesteps"] / r["learn_seconds"] for r in runs)
    return row


def bench_learning(
    workdir: Path, learn: dict[str, Any], scratch_dir: Path, session_timesteps: int | None
) -> dict[str, Any]:
    """Section 3: SB3's PPO defaults (same timesteps, then same wall clock), the default
    session and the learnability preset on the planted market; ratios to the first row."""
    dataset = planted_for_bench(workdir, learn)
    base = [f"session.dataset={dataset}", *LEARN_EVAL]
    _, default_cfg = session_config(base)
    steps = learn["learn_timesteps"] or session_timesteps or default_cfg.session.total_timesteps
    seeds = learn["seeds"]
    sb3 = learn_row("SB3 PPO defaults, same timesteps", [*base, *SB3_SETTINGS], steps, seeds,
                    scratch_dir)  # fmt: skip
    default = learn_row("qraptor default session", base, steps, seeds, scratch_dir)
    preset = learn_row("learnability preset", [*base, "experiment=learnability"], steps, seeds,
                       scratch_dir)  # fmt: skip
    # SB3's settings given the default session's learning time: its timesteps at SB3's speed,
    # rounded up to whole rollouts of 2048.
    matched = default["learn_seconds"] * sb3["timesteps_per_s"]
    matched_steps = max(2048, int(-(-matched // 2048) * 2048))
    sb3_wall = learn_row("SB3 PPO defaults, same wall clock", [*base, *SB3_SETTINGS],
                         matched_steps, seeds, scratch_dir)  # fmt: skip
    rows = [sb3, sb3_wall, default, preset]
    for row in rows:
        row["x_sb3_speed"] = row["timesteps_per_s"] / sb3["timesteps_per_s"]
        row["x_sb3_fraction"] = (
            row["fraction_of_oracle"] / sb3["fraction_of_oracle"]
            if sb3["fraction_of_oracle"] > 0
            else math.nan
        )
    return {
        "dataset": str(dataset), "ar_coef": LEARN_AR_COEF, "days": learn["days"],
        "data_seed": learn["data_seed"], "seeds": list(seeds), "rows": rows,
        "costs": {"fee_rate": default_cfg.env.costs.fee_rate,
                  "slippage_bps": default_cfg.env.costs.slippage_bps},
    }  # fmt: skip


# --- report ----------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return "" if met is None else ("MET" if met else "MISSED")


def print_speed(speed: dict[str, Any], repeat: int) -> None:
    bars = speed["bars"]
    print(
        f"\n1. Learning speed, timesteps/s of learn(): {bars['bars']:,} {bars['split']} bars, "
        f"window {bars['window']}, 1 torch thread, median of {repeat} (x = paired ratio)"
    )
    header = (
        f"{'run':<38} {'envs':>4} {'n_steps':>7} {'batch':>5} {'epochs':>6} {'obs':>5} "
        f"{'timesteps':>9} {'rollout':>7} {'update':>6} {'timesteps/s':>11} {'x SB3':>6} "
        f"{'target':>6}  met"
    )
    print(header + "\n" + "-" * len(header))
    for row in speed["rows"]:
        s, per_step = row["settings"], 1e6 / row["timesteps"]
        shape = "x".join(map(str, s["obs_shape"]))
        print(
            f"{row['name']:<38} {s['n_envs']:>4} {s['n_steps']:>7} {s['batch_size']:>5} "
            f"{s['n_epochs']:>6} {shape:>5} {row['timesteps']:>9,} "
            f"{row['rollout_seconds'] * per_step:>7.0f} {row['update_seconds'] * per_step:>6.0f} "
            f"{row['timesteps_per_s']:>11,.0f} {row['x_sb3']:>5.2f}x "
            f"{row['target'] or '':>6}  {verdict(row['met'])}"
        )
    print(
        "   rollout / update: µs per timestep collecting rollouts (policy inference, env, "
        "buffer) / in PPO's gradient updates\n   x SB3 = median over rounds of (run / the SB3 "
        "run of the same round)"
    )
    default = speed["rows"][1]
    wall = default["wall_seconds"]
    print(
        f"   the default session's train_session() call: {wall:.2f} s = learning "
        f"{default['learn_seconds']:.2f} s + evaluation ({'/'.join(speed['eval_splits'])}, "
        f"with baselines) {default['eval_seconds']:.2f} s ({default['eval_seconds'] / wall:.0%}) "
        f"+ setup and saving {default['other_seconds']:.2f} s\n   counting the whole call: "
        f"{default['session_timesteps_per_s']:,.0f} timesteps/s = "
        f"{default['session_x_sb3']:.2f}x SB3's learn(); evaluation is a fixed cost per session"
    )


def print_queue(queue: dict[str, Any], repeat: int) -> None:
    print(
        f"\n2. Queued path vs in-process, a {queue['timesteps']:,}-timestep session (checkpoint "
        f"every {queue['checkpoint_every']:,}), wall seconds, median of {repeat}"
    )
    direct, queued = queue["direct"], queue["queued"]
    runs = queued["runs"]

    def median(key: str) -> float:
        return statistics.median(r["timings"].get(key, 0.0) for r in runs)

    print(f"   in-process train_session()              {direct['wall_seconds']:>6.2f} s")
    print(
        f"   queued: submit -> completed             {queued['wall_seconds']:>6.2f} s   overhead "
        f"{queue['overhead']:+.1%} ({queue['overhead_seconds']:+.2f} s; target {queue['target']}): "
        f"{verdict(queue['met'])}"
    )
    phases = [
        ("submit", statistics.median(r["submit_seconds"] for r in runs)),
        ("claim", median("claim_seconds")),
        ("provenance (git, data version)", median("setup_seconds")),
        ("train_session under a lease", median("train_seconds")),
        (f"  of which checkpoint uploads ({runs[-1]['timings'].get('checkpoint_uploads', 0)})",
         median("checkpoint_upload_seconds")),
        (f"GridFS uploads ({runs[-1]['files']} files, {runs[-1]['file_bytes'] / 1e6:.2f} MB)",
         median("upload_seconds")),
        ("store open/close, completion", statistics.median(r["worker_rest_seconds"] for r in runs)),
    ]  # fmt: skip
    for name, seconds in phases:
        print(f"     {name:<38} {seconds:>6.3f} s")
    print(
        f"   the queue's own work (all but training: the rows above minus train_session, plus "
        f"checkpoint uploads): {queue['queue_work_seconds']:.3f} s = "
        f"{queue['queue_work_share']:.1%} of the in-process session: the same overhead, "
        "measured without the noise of two trainings\n   overhead = median over rounds of "
        "(queued / in-process of the same round) - 1; rounds alternate which runs first"
    )


def print_learning(learning: dict[str, Any]) -> None:
    costs = learning["costs"]
    print(
        f"\n3. Learning per wall-clock second: planted AR {learning['ar_coef']} hourly market, "
        f"{learning['days']} days (data seed {learning['data_seed']}), fee "
        f"{costs['fee_rate'] * 1e4:g} bp + slippage {costs['slippage_bps']:g} bp; medians over "
        f"session seeds {learning['seeds']}, test span"
    )
    header = (
        f"{'configuration':<36} {'timesteps':>9} {'learn s':>7} {'timesteps/s':>11} "
        f"{'Sharpe':>6} {'oracle':>6} {'of oracle':>9} {'x SB3 speed':>11} {'x SB3 learned':>13}"
    )
    print(header + "\n" + "-" * len(header))
    for row in learning["rows"]:
        print(
            f"{row['name']:<36} {row['timesteps']:>9,} {row['learn_seconds']:>7.1f} "
            f"{row['timesteps_per_s']:>11,.0f} {row['sharpe']:>6.2f} {row['oracle_sharpe']:>6.2f} "
            f"{row['fraction_of_oracle']:>9.2f} {row['x_sb3_speed']:>10.2f}x "
            f"{_times(row['x_sb3_fraction']):>13}"
        )
    print(
        "   of oracle = median over seeds of (agent test Sharpe / oracle test Sharpe); x SB3 = "
        "ratio to the first row (SB3's PPO defaults on qraptor's env, same timesteps); n/a: "
        "that row learned nothing (its fraction <= 0), a ratio to it means nothing"
    )


def _times(ratio: float) -> str:
    return "n/a" if not math.isfinite(ratio) else f"{ratio:.2f}x"


class NoTerminal:
    """A stream that forwards everything but says it is no terminal: train_session shows
    SB3's progress bar only on a terminal, and the figures should not depend on where the
    benchmark runs (the baseline has no progress bar)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, help="dataset folder (default: the pipeline's)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qraptor-bench"))
    parser.add_argument("--repeat", type=int, help="rounds per part (default 3 speed, 5 queue)")
    parser.add_argument("--session-timesteps", type=int, help="default session (conf default)")
    parser.add_argument("--sb3-timesteps", type=int, help="SB3 baseline learn() timesteps")
    parser.add_argument("--queue-timesteps", type=int, help="session of the queued comparison")
    parser.add_argument("--parts", default="speed,queue,learning", help="speed, queue, learning")
    parser.add_argument("--learn-seeds", help="section 3's session seeds, e.g. 0,1,2")
    parser.add_argument("--learn-timesteps", type=int, help="section 3's timesteps (conf's)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    os.environ.setdefault("QRAPTOR_CONF_DIR", str(ROOT / "conf"))
    parts = {p.strip() for p in args.parts.split(",")}
    known = {"speed", "queue", "learning"}
    if not parts <= known:
        parser.error(f"--parts: unknown {sorted(parts - known)}")
    sizes = dict(QUICK if args.quick else FULL)
    for key in ("session_timesteps", "sb3_timesteps", "queue_timesteps"):
        sizes[key] = getattr(args, key) or sizes[key]
    repeat = {part: sizes.pop(f"{part}_repeat") for part in ("speed", "queue")}
    learn = dict(LEARN_QUICK if args.quick else LEARN_FULL)
    if args.learn_seeds:
        learn["seeds"] = tuple(int(seed) for seed in args.learn_seeds.split(","))
    learn["learn_timesteps"] = args.learn_timesteps or learn["learn_timesteps"]
    if args.repeat:
        repeat = dict.fromkeys(repeat, args.repeat)

    args.workdir.mkdir(parents=True, exist_ok=True)
    dataset = Path()  # sections 1-2's bars; section 3 builds its planted market
    if parts & {"speed", "queue"}:
        dataset = _env_bench().resolve_dataset(args.dataset, args.workdir).resolve()
    report: dict[str, Any] = {"machine_before": machine(), "dataset": str(dataset)}
    report["settings"] = {**sizes, "repeat": repeat, "parts": sorted(parts), "learning": learn}
    where = f"bars: {dataset}; " if parts & {"speed", "queue"} else ""
    print(f"{where}{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    with (
        tempfile.TemporaryDirectory(prefix="train-bench-", dir=args.workdir) as scratch_dir,
        contextlib.redirect_stderr(NoTerminal(sys.stderr)),
    ):
        if "speed" in parts:
            print("1. learning speed", flush=True)
            report["speed"] = bench_speed(dataset, sizes, repeat["speed"], Path(scratch_dir))
        if "queue" in parts:
            print("2. queued path", flush=True)
            report["queue"] = bench_queue(dataset, sizes, repeat["queue"], Path(scratch_dir))
        if "learning" in parts:
            print("3. learning per wall-clock second (planted market)", flush=True)
            report["learning"] = bench_learning(
                args.workdir, learn, Path(scratch_dir), sizes["session_timesteps"]
            )
    report["machine_after"] = machine()

    if "speed" in report:
        print_speed(report["speed"], repeat["speed"])
    if "queue" in report:
        print_queue(report["queue"], repeat["queue"])
    if "learning" in report:
        print_learning(report["learning"])
    print(
        f"\nload average before {report['machine_before']['load_average'][0]:.2f}, after "
        f"{report['machine_after']['load_average'][0]:.2f} ({os.cpu_count()} CPUs, shared): "
        "differences under ~15% are noise"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
