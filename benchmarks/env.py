"""Benchmark of the trading environment (issue 3's figures): qraptor vs gym-anytrading.

Three figures, each printed with its target and whether it is met, all ratios taken from
figures measured in the same run:

1. Single env steps/s with random actions: qraptor's `TradingEnv` vs gym-anytrading's
   `stocks-v0` on the same bars (the train split of the dataset folder; gym-anytrading gets
   a DataFrame whose `Close` is that split's close, and the same window), both through
   `gymnasium.make` and both unwrapped. qraptor runs twice: with conf/env/default.yaml's
   observation and with one matched to gym-anytrading's (same window, 2 features, no agent
   state), so the comparison can be read fairly. Target: >= 3x.
2. `BatchedTradingEnv` env-steps/s (N x vector steps/s) at N = 1, 16, 256, 4096 with the
   default observation. Target: N=256 >= 50x gym-anytrading.
3. The environment's share of SB3 PPO's `learn()` wall time: seconds spent inside the
   batched env's `step_async`/`step_wait`/`reset` (timed by wrapping those methods) over the
   whole `learn()`, 1 torch thread. Target: < 5%.
4. The portfolio environment (issue 16, benchmarks/portfolio_bench.py): Portfolio-v0 and
   PortfolioVecEnv (B = 16, 256) steps/s on 20 instruments against FinRL's
   StockPortfolioEnv where it installs, else a plain-numpy reference of the same accounting
   (`--portfolio-only` runs just this section).

Both environments play whole-split episodes (qraptor `episode.mode=full`, gym-anytrading's
`frame_bound` = the split) in sections 1-2; resets inside the timed loop are timed, the
first reset of each measurement is not. Actions are pre-generated (seeded) Python ints, or
one int64 array per vector step. Before every timed loop the same env object is stepped
untimed (numba compiles on the first call; gymnasium's passive checker runs on the first
steps). Figures are medians of `--repeat` runs; single-env runs are interleaved so that a
load change on the shared machine hits every env alike.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import portfolio_bench  # benchmarks/portfolio_bench.py: section 4
from machine import machine  # benchmarks/machine.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = ROOT / "data" / "processed" / "dataset"
SPLIT = "train"
PORTFOLIO_STEPS, PORTFOLIO_STEPS_QUICK = 5000, 400  # section 4: steps per measurement
TARGET_SINGLE = 3.0  # x gym-anytrading steps/s
TARGET_BATCHED = 50.0  # x gym-anytrading steps/s, at N = TARGET_BATCH_N
TARGET_BATCH_N = 256
TARGET_PPO_SHARE = 0.05  # of learn() wall time
FULL_EPISODES = ("episode.mode=full",)  # sections 1-2: whole-split episodes, as gym-anytrading
MATCHED_FEATURES = 2  # gym-anytrading's observation: (price, price diff) per window row
SEED = 7
# gymnasium's passive checker warns that consecutive observations share memory: both envs
# return views of one buffer (rows already returned never change). Said once here, not per env.
warnings.filterwarnings("ignore", message=".*share an object.*")

FULL = {"steps": 200_000, "repeat": 5, "min_vector_steps": 100, "warmup": 2_000}
QUICK = {"steps": 2_000, "repeat": 1, "min_vector_steps": 4, "warmup": 50}
BASELINE_SHARE = 4  # section 2 pairs each run with a gym-anytrading run of steps / 4
PPO_FULL = {"num_envs": 16, "n_steps": 256, "batch_size": 64, "n_epochs": 10, "timesteps": 8192}
PPO_MAX_REPEAT = 3  # each learn() takes seconds: the median of 3 is enough
PPO_QUICK = {"num_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1, "timesteps": 256}


# --- bars ----------------------------------------------------------------------------


def resolve_dataset(requested: Path | None, workdir: Path) -> Path:
    """The dataset folder: `requested`, the pipeline's (`dvc repro`), or one built here."""
    if requested is not None:
        if not (requested / "splits.json").is_file():
            raise SystemExit(f"{requested} is not a dataset folder (no splits.json)")
        return requested
    if (DEFAULT_DATASET / "splits.json").is_file():
        return DEFAULT_DATASET
    built = workdir / "dataset-sample-eurusd" / "dataset"
    if not (built / "splits.json").is_file():
        build_sample_dataset(built.parent)
    return built


def build_sample_dataset(workdir: Path) -> None:
    """Run the pipeline's stages (conf/pipeline.yaml: the EUR/USD sample) into `workdir`."""
    from qraptor.cli import data_stages as stages
    from qraptor.core.log import console
    from qraptor.data.pipeline_config import load_pipeline_config

    print(f"{DEFAULT_DATASET} is missing: building the sample dataset in {workdir} ...")
    cfg = load_pipeline_config(conf_dir=ROOT / "conf")
    w, metrics, figures = workdir, workdir / "metrics", workdir / "figures"
    console.quiet = True  # the cleaning report table is not this benchmark's output
    try:
        with contextlib.chdir(ROOT):  # the sample's path is resolved from the project root
            stages.run_raw(cfg, w / "raw")
            stages.run_ingest(cfg, w / "raw", w / "ingested")
        stages.run_clean(cfg, w / "ingested", w / "clean", metrics / "clean.json", w / "tmp")
        stages.run_reduce(
            cfg, w / "clean", w / "bars.parquet", metrics / "reduce.json",
            w / "plots" / "bars.csv", figures / "bars.png",
        )  # fmt: skip
        stages.run_features(cfg, w / "bars.parquet", w / "features.parquet", metrics / "f.json")
        stages.run_split(
            cfg, w / "features.parquet", w / "dataset", metrics / "split.json",
            figures / "splits.png",
        )  # fmt: skip
    finally:
        console.quiet = False


# --- environments ----------------------------------------------------------------------


def gym_anytrading_env(close: np.ndarray, window: int, unwrapped: bool) -> Any:
    """`stocks-v0` over `close` (its whole length is one episode), as SB3 users make it."""
    import gym_anytrading  # noqa: F401  (registers stocks-v0)
    import gymnasium as gym

    bars = pd.DataFrame({"Close": np.asarray(close, dtype=np.float64)})
    env = gym.make(
        "stocks-v0", df=bars, window_size=window, frame_bound=(window, len(bars)), render_mode=None
    )
    return env.unwrapped if unwrapped else env


def qraptor_env(market: Any, cfg: Any, unwrapped: bool) -> Any:
    import gymnasium as gym

    import qraptor.env  # noqa: F401  (registers qraptor/Trading-v0)

    env = gym.make("qraptor/Trading-v0", market=market, cfg=cfg)
    return env.unwrapped if unwrapped else env


def qraptor_setups(dataset: Path) -> dict[str, tuple[Any, Any]]:
    """(market, config) for the default observation and the gym-anytrading-matched one."""
    from qraptor.env.config import load_env_config
    from qraptor.env.market import load_market

    default_cfg = load_env_config(list(FULL_EPISODES))
    default_market = load_market(dataset, SPLIT, features=default_cfg.features)
    matched_names = list(default_market.feature_names[:MATCHED_FEATURES])
    matched_cfg = load_env_config(
        [*FULL_EPISODES, f"features=[{','.join(matched_names)}]", "state=[]"]
    )
    matched_market = load_market(dataset, SPLIT, features=matched_names)
    return {"default": (default_market, default_cfg), "matched": (matched_market, matched_cfg)}


def random_actions(space: Any, count: int, rng: np.random.Generator, num_envs: int = 0) -> Any:
    """`count` actions of `space` (per env if `num_envs`): ints for Discrete, else arrays."""
    shape = (count, num_envs) if num_envs else (count,)
    if hasattr(space, "n"):
        actions = rng.integers(0, int(space.n), size=shape)
        return actions if num_envs else actions.tolist()
    low, high = space.low, space.high
    return rng.uniform(low, high, size=(*shape, *space.shape)).astype(space.dtype)


# --- timing ------------------------------------------------------------------------------


def steps_per_second(env: Any, actions: Sequence[Any], warmup: int) -> float:
    """Steps/s of `env` over `actions` (resets when an episode ends are timed)."""
    _play(env, actions[:warmup])  # numba compilation, checker and caches: untimed
    env.reset(seed=SEED)
    step, reset = env.step, env.reset
    started = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = step(action)
        if terminated or truncated:
            reset()
    return len(actions) / (time.perf_counter() - started)


def _play(env: Any, actions: Sequence[Any]) -> None:
    env.reset(seed=SEED)
    for action in actions:
        _, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            env.reset()


def vector_steps_per_second(venv: Any, actions: np.ndarray, warmup: int) -> float:
    """Vector steps/s of a VecEnv over `actions` [steps, N] (it resets finished envs itself)."""
    venv.reset()
    for action in actions[:warmup]:  # untimed: numba compilation and first-touch allocation
        venv.step(action)
    venv.reset()
    step = venv.step
    started = time.perf_counter()
    for action in actions:
        step(action)
    return len(actions) / (time.perf_counter() - started)


class GymAnytrading:
    """The baseline: gym-anytrading's stocks-v0 via gym.make and unwrapped, with its actions.

    Every qraptor measurement is paired with a baseline measurement taken right before it,
    so a load change on the shared machine moves both sides of a ratio alike.
    """

    def __init__(self, close: np.ndarray, window: int, steps: int, warmup: int) -> None:
        self.envs = {
            access: gym_anytrading_env(close, window, unwrapped)
            for access, unwrapped in (("gym.make", False), ("unwrapped", True))
        }
        rng = np.random.default_rng(SEED)
        self.actions = random_actions(self.envs["gym.make"].action_space, steps, rng)
        self.warmup = warmup

    def measure(self, steps: int | None = None) -> dict[str, float]:
        actions = self.actions[:steps]
        return {a: steps_per_second(env, actions, self.warmup) for a, env in self.envs.items()}


def paired_ratio(runs: list[float], baselines: list[float]) -> float:
    """Median over repeats of (qraptor run / the baseline run measured with it)."""
    return statistics.median(r / b for r, b in zip(runs, baselines, strict=True))


def bench_single(
    setups: dict[str, tuple[Any, Any]], baseline: GymAnytrading, sizes: dict[str, int],
    repeat: int,
) -> dict[str, Any]:  # fmt: skip
    """Section 1: steps/s of gym-anytrading and qraptor, wrapped and unwrapped, interleaved."""
    rng = np.random.default_rng(SEED)
    envs: dict[tuple[str, str], Any] = {}
    for name, (market, cfg) in setups.items():
        for access, unwrapped in (("gym.make", False), ("unwrapped", True)):
            envs[(f"qraptor {name}", access)] = qraptor_env(market, cfg, unwrapped)
    actions = {k: random_actions(env.action_space, sizes["steps"], rng) for k, env in envs.items()}
    runs: dict[tuple[str, str], list[float]] = {key: [] for key in envs}
    for access in baseline.envs:
        runs[("gym-anytrading", access)] = []
    for attempt in range(repeat):
        for access, value in baseline.measure().items():
            runs[("gym-anytrading", access)].append(value)
        for key, env in envs.items():
            runs[key].append(steps_per_second(env, actions[key], sizes["warmup"]))
        print(f"  single env, run {attempt + 1}/{repeat} done", flush=True)
    envs.update({("gym-anytrading", access): env for access, env in baseline.envs.items()})
    rows = []
    for name in ["gym-anytrading", *(f"qraptor {n}" for n in setups)]:
        for access in baseline.envs:
            row_runs = runs[(name, access)]
            ratio = paired_ratio(row_runs, runs[("gym-anytrading", access)])
            is_qraptor = name != "gym-anytrading"
            rows.append({
                "env": name,
                "access": access,
                "obs_shape": list(envs[(name, access)].observation_space.shape),
                "steps_per_s": statistics.median(row_runs),
                "runs": row_runs,
                "x_gym_anytrading": ratio,
                "target": f">= {TARGET_SINGLE:g}x" if is_qraptor else None,
                "met": ratio >= TARGET_SINGLE if is_qraptor else None,
            })  # fmt: skip
    market, cfg = setups["default"]
    bars = {"split": SPLIT, "bars": len(market.close), "window": int(cfg.window)}
    matched = list(setups["matched"][0].feature_names)
    return {"bars": bars, "rows": rows, "matched_features": matched}


def bench_batched(
    setups: dict[str, tuple[Any, Any]], baseline: GymAnytrading, batch_sizes: Sequence[int],
    sizes: dict[str, int], repeat: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Section 2: BatchedTradingEnv env-steps/s at each N, for each observation config."""
    from qraptor.env.vector_env import BatchedTradingEnv

    rng = np.random.default_rng(SEED)
    rows = []
    for name, (market, cfg) in setups.items():
        for num_envs in batch_sizes:
            venv = BatchedTradingEnv(market, cfg, num_envs=num_envs, seed=SEED)
            vector_steps = max(sizes["min_vector_steps"], sizes["steps"] // num_envs)
            actions = random_actions(venv.action_space, vector_steps, rng, num_envs=num_envs)
            warmup = max(2, min(sizes["warmup"], vector_steps) // 10)
            runs, baselines = [], []
            for _ in range(repeat):
                baselines.append(baseline.measure(sizes["baseline_steps"]))
                runs.append(num_envs * vector_steps_per_second(venv, actions, warmup))
            ratios = {
                access: paired_ratio(runs, [b[access] for b in baselines])
                for access in baseline.envs
            }
            judged = num_envs == TARGET_BATCH_N
            median = statistics.median(runs)
            rows.append({
                "config": name,
                "obs_shape": list(venv.observation_space.shape),
                "num_envs": num_envs,
                "vector_steps": vector_steps,
                "env_steps_per_s": median,
                "vector_steps_per_s": median / num_envs,
                "runs": runs,
                "gym_anytrading_runs": baselines,
                "x_gym_anytrading": ratios,
                "target": f">= {TARGET_BATCHED:g}x" if judged else None,
                "met": {a: r >= TARGET_BATCHED for a, r in ratios.items()} if judged else None,
            })  # fmt: skip
            print(f"  batched {name} N={num_envs}: {median:,.0f} env-steps/s", flush=True)
            venv.close()
            del venv, actions
            gc.collect()
    return rows


# --- PPO -----------------------------------------------------------------------------------


class Stopwatch:
    """Seconds accumulated inside the methods it wraps (on the instance, not the class)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, owner: Any, *names: str) -> None:
        for name in names:
            setattr(owner, name, self._timed(getattr(owner, name)))

    def _timed(self, inner: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        return timed


def bench_ppo(dataset: Path, settings: dict[str, int], repeat: int) -> dict[str, Any]:
    """Section 3: share of PPO's learn() spent in the env (training config: conf defaults).

    Each of `repeat` runs trains a fresh model on a fresh env (same seeds); the run with the
    median env share is reported, with every run's share.
    """
    import torch

    from qraptor.env.config import load_env_config
    from qraptor.env.market import load_market

    torch.set_num_threads(1)
    cfg = load_env_config()
    market = load_market(dataset, SPLIT, features=cfg.features)
    runs = sorted((ppo_run(market, cfg, settings) for _ in range(repeat)), key=_share)
    result = runs[(len(runs) - 1) // 2]
    result["runs_env_share"] = [run["env_share"] for run in runs]
    return result


def _share(run: dict[str, Any]) -> float:
    return run["env_share"]


def ppo_run(market: Any, cfg: Any, settings: dict[str, int]) -> dict[str, Any]:
    """One PPO learn() on the batched env, with the env's own seconds clocked."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.logger import Logger
    from stable_baselines3.common.vec_env import VecMonitor

    from qraptor.env.vector_env import BatchedTradingEnv

    venv = BatchedTradingEnv(market, cfg, num_envs=settings["num_envs"], seed=SEED)
    warm = random_actions(venv.action_space, 5, np.random.default_rng(SEED), settings["num_envs"])
    vector_steps_per_second(venv, warm, 2)  # numba compiles outside learn()
    monitored = VecMonitor(venv)
    env_clock, monitor_clock, rollout_clock, update_clock = (Stopwatch() for _ in range(4))
    env_clock.wrap(venv, "step_async", "step_wait", "reset")
    monitor_clock.wrap(monitored, "step_wait", "reset")  # includes the env's own time
    model = PPO(
        "MlpPolicy", monitored, n_steps=settings["n_steps"], batch_size=settings["batch_size"],
        n_epochs=settings["n_epochs"], seed=SEED, device="cpu", verbose=0,
    )  # fmt: skip
    model.set_logger(Logger(folder=None, output_formats=[]))  # no /tmp/SB3-<time> folder
    rollout_clock.wrap(model, "collect_rollouts")
    update_clock.wrap(model, "train")
    started = time.perf_counter()
    model.learn(total_timesteps=settings["timesteps"])
    wall = time.perf_counter() - started
    share = env_clock.seconds / wall
    monitored.close()
    print(f"  PPO learn(): {wall:.2f} s, env share {share:.2%}", flush=True)
    return {
        "settings": {
            **settings, "policy": "MlpPolicy", "torch_threads": torch.get_num_threads(),
            "env": "BatchedTradingEnv + VecMonitor", "env_config": "conf/env/default.yaml",
            "obs_shape": list(venv.observation_space.shape),
        },
        "timesteps_done": int(model.num_timesteps),
        "learn_seconds": wall,
        "timesteps_per_s": model.num_timesteps / wall,
        "env_seconds": env_clock.seconds,
        "env_calls": env_clock.calls,
        "env_share": share,
        "vec_monitor_seconds": monitor_clock.seconds - env_clock.seconds,
        "rollout_seconds": rollout_clock.seconds,
        "update_seconds": update_clock.seconds,
        "target": f"< {TARGET_PPO_SHARE:.0%}",
        "met": share < TARGET_PPO_SHARE,
    }  # fmt: skip


# --- report ----------------------------------------------------------------------------


def verdict(met: bool | None) -> str:
    return "" if met is None else ("MET" if met else "MISSED")


def print_single(single: dict[str, Any], repeat: int, steps: int) -> None:
    bars = single["bars"]
    print(
        f"\n1. Single env, steps/s: {bars['bars']:,} {bars['split']} bars, window "
        f"{bars['window']}, whole-split episodes, {steps:,} pre-generated random actions "
        f"(resets at episode ends timed, the first one not), median of {repeat}"
    )
    header = (
        f"{'env':<22} {'access':<10} {'obs':>7} {'steps/s':>11} {'x gym-anytr.':>13} "
        f"{'target':>7}  met"
    )
    print(header + "\n" + "-" * len(header))
    for row in single["rows"]:
        shape = "x".join(map(str, row["obs_shape"]))
        print(
            f"{row['env']:<22} {row['access']:<10} {shape:>7} {row['steps_per_s']:>11,.0f} "
            f"{row['x_gym_anytrading']:>12.2f}x {row['target'] or '':>7}  {verdict(row['met'])}"
        )
    print(
        "   x = median over rounds of (run / gym-anytrading's run of the same round and access: "
        "gym.make with gym.make, unwrapped with unwrapped)\n   matched = same window, features "
        f"{single['matched_features']}, no agent state: gym-anytrading's observation shape"
    )


def print_batched(rows: list[dict[str, Any]], repeat: int) -> None:
    print(
        "\n2. BatchedTradingEnv (whole-split episodes), env-steps/s = N x vector steps/s, "
        f"median of {repeat}\n   x = median ratio to gym-anytrading's single env (gym.make / "
        "unwrapped), each run paired with a gym-anytrading run just before it"
    )
    header = (
        f"{'config':<8} {'obs':>6} {'N':>5} {'env-steps/s':>13} {'vec steps/s':>12} "
        f"{'x gym.make':>11} {'x unwrapped':>12} {'target':>7}  met"
    )
    print(header + "\n" + "-" * len(header))
    for row in rows:
        ratios, met = row["x_gym_anytrading"], row["met"]
        met_text = "" if met is None else ", ".join(f"{verdict(v)} vs {a}" for a, v in met.items())
        shape = "x".join(map(str, row["obs_shape"]))
        print(
            f"{row['config']:<8} {shape:>6} {row['num_envs']:>5} {row['env_steps_per_s']:>13,.0f} "
            f"{row['vector_steps_per_s']:>12,.0f} {ratios['gym.make']:>10.1f}x "
            f"{ratios['unwrapped']:>11.1f}x {row['target'] or '':>7}  {met_text}"
        )


def print_ppo(ppo: dict[str, Any]) -> None:
    s, wall = ppo["settings"], ppo["learn_seconds"]
    print(
        f"\n3. SB3 PPO learn(): {ppo['timesteps_done']:,} timesteps, {s['num_envs']} envs x "
        f"n_steps {s['n_steps']}, batch_size {s['batch_size']}, n_epochs {s['n_epochs']}, "
        f"{s['policy']}, torch threads {s['torch_threads']}, obs {s['obs_shape']}, "
        f"{s['env']} ({s['env_config']})"
    )
    parts = [
        ("learn() wall", wall),
        ("  collect_rollouts", ppo["rollout_seconds"]),
        ("    env step+reset", ppo["env_seconds"]),
        ("    VecMonitor on top", ppo["vec_monitor_seconds"]),
        ("  train (updates)", ppo["update_seconds"]),
    ]
    for name, seconds in parts:
        print(f"   {name:<22} {seconds:>8.3f} s {seconds / wall:>7.1%}")
    shares = ", ".join(f"{share:.2%}" for share in ppo["runs_env_share"])
    print(
        f"   env share {ppo['env_share']:.2%} (target {ppo['target']}): {verdict(ppo['met'])}; "
        f"{ppo['timesteps_per_s']:,.0f} timesteps/s; the median of {len(ppo['runs_env_share'])} "
        f"run(s): shares {shares}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, help=f"dataset folder (default {DEFAULT_DATASET})")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/qraptor-bench"))
    parser.add_argument("--steps", type=int, help="env steps per measurement (N=1 and single)")
    parser.add_argument("--repeat", type=int, help="runs per measurement; the median is shown")
    parser.add_argument("--batch-sizes", default="1,16,256,4096", help="N, comma-separated")
    parser.add_argument("--ppo-timesteps", type=int, help="PPO learn() timesteps")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument(
        "--portfolio-only", action="store_true", help="only section 4 (qraptor/Portfolio-v0)"
    )
    args = parser.parse_args(argv)
    if args.portfolio_only:
        steps = PORTFOLIO_STEPS_QUICK if args.quick else PORTFOLIO_STEPS
        figures = portfolio_bench.run(steps, args.repeat or 3, args.workdir)
        portfolio_bench.print_portfolio(figures)
        if args.json:
            args.json.write_text(json.dumps({"portfolio": figures}, indent=2) + "\n")
        return 0
    os.environ.setdefault("QRAPTOR_CONF_DIR", str(ROOT / "conf"))
    sizes = dict(QUICK if args.quick else FULL)
    default_repeat = sizes.pop("repeat")
    sizes["steps"] = args.steps or sizes["steps"]
    sizes["baseline_steps"] = max(sizes["warmup"], sizes["steps"] // BASELINE_SHARE)
    repeat = args.repeat or default_repeat
    ppo_settings = dict(PPO_QUICK if args.quick else PPO_FULL)
    ppo_settings["timesteps"] = args.ppo_timesteps or ppo_settings["timesteps"]
    batch_sizes = [int(n) for n in args.batch_sizes.split(",")]

    dataset = resolve_dataset(args.dataset, args.workdir)
    report: dict[str, Any] = {"machine_before": machine(), "dataset": str(dataset)}
    report["settings"] = {**sizes, "repeat": repeat, "batch_sizes": batch_sizes, "seed": SEED}
    print(f"bars: {dataset} ({SPLIT} split); {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")
    setups = qraptor_setups(dataset)
    market, cfg = setups["default"]
    baseline = GymAnytrading(market.close, int(cfg.window), sizes["steps"], sizes["warmup"])
    report["single"] = single = bench_single(setups, baseline, sizes, repeat)
    report["batched"] = bench_batched(setups, baseline, batch_sizes, sizes, repeat)
    report["ppo"] = bench_ppo(dataset, ppo_settings, min(repeat, PPO_MAX_REPEAT))
    portfolio_steps = PORTFOLIO_STEPS_QUICK if args.quick else PORTFOLIO_STEPS
    report["portfolio"] = portfolio_bench.run(portfolio_steps, repeat, args.workdir)
    report["machine_after"] = machine()

    print_single(single, repeat, sizes["steps"])
    print_batched(report["batched"], repeat)
    print_ppo(report["ppo"])
    portfolio_bench.print_portfolio(report["portfolio"])
    print(
        f"\nload average before {report['machine_before']['load_average'][0]:.2f}, after "
        f"{report['machine_after']['load_average'][0]:.2f} ({os.cpu_count()} CPUs, shared): "
        "differences under ~15% are noise"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
