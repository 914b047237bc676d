"""The portfolio environment's section of benchmarks/env.py (issue 16).

Steps/s of `qraptor/Portfolio-v0` (the single env, unwrapped) and of `PortfolioVecEnv`
(env-steps/s = B x vector steps/s at B = 16 and 256) over 20 instruments of daily bars
(skfolio's S&P 500 sample, 8,313 days; synthetic prices without skfolio), against a baseline
measured in the same run: FinRL's `StockPortfolioEnv` when `finrl` is importable (it is not
installable on these machines), else a plain-numpy reference of the same accounting, one
account, written the way a notebook would (per-instrument Python loops, the remainder factor
solved by the same iteration). The reference's equity is checked equal to the env's on the
same actions before anything is timed, so both sides do the same work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

N_INSTRUMENTS = 20
DAYS = 8313
SEED = 11


def sample_panel(workdir: Path) -> tuple[str, Any]:
    """The shipped S&P 500 sample (20 stocks, 8,313 days) with the panel features, or,
    without skfolio, synthetic prices of the same shape."""
    from qraptor.core.extras import installed

    if not installed("portfolio"):
        return "synthetic (skfolio not installed)", synthetic_panel()
    from qraptor.data.panel_features import panel_features
    from qraptor.data.panel_files import copy_sp500_sample, read_panel
    from qraptor.env.portfolio.panel import Panel

    frames = read_panel(copy_sp500_sample(workdir / "sp500")["prices"])
    features, names = panel_features(frames)
    return "skfolio's S&P 500 sample", Panel.from_frames(features, features=names)


def synthetic_panel(days: int = DAYS, n: int = N_INSTRUMENTS) -> Any:
    """20 instruments of daily closes with three causal features each."""
    from qraptor.env.portfolio.panel import Panel

    rng = np.random.default_rng(SEED)
    stamps = pd.date_range("1990-01-02", periods=days, freq="B", tz="UTC")
    frames = {}
    for j in range(n):
        close = pd.Series(100 * np.exp(np.cumsum(rng.normal(3e-4, 0.015, days))))
        returns = np.log(close).diff()
        frames[f"S{j:02d}"] = pd.DataFrame({
            "timestamp": stamps, "close": close,
            "mom5": returns.rolling(5).sum(), "mom20": returns.rolling(20).sum(),
            "vol20": returns.rolling(20).std(),
        })  # fmt: skip
    return Panel.from_frames(frames, features=["mom5", "mom20", "vol20"])


class Reference:
    """The same accounting for one account, the plain way (module docstring)."""

    def __init__(self, panel: Any, cfg: Any) -> None:
        self.close = np.nan_to_num(panel.close, nan=1.0)
        self.features = np.nan_to_num(panel.features, nan=0.0)
        self.flags = panel.tradable.astype(np.float32)
        self.cfg, self.n = cfg, panel.n_instruments
        self.rate = cfg.costs.rate

    def reset(self) -> np.ndarray:
        self.bar = self.cfg.window - 1
        self.weights = [1.0] + [0.0] * self.n
        self.value = self.cfg.initial_cash
        return self.observation()

    def observation(self) -> np.ndarray:
        rows = range(self.bar - self.cfg.window + 1, self.bar + 1)
        parts = [np.concatenate([self.features[r], self.flags[r][:, None]], axis=1) for r in rows]
        return np.concatenate([np.stack(parts).ravel(), np.asarray(self.weights)]).astype(
            np.float32
        )

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool]:
        c = self.cfg.weights
        scores = [min(max(float(a), -c.logit_bound), c.logit_bound) / c.temperature for a in action]
        top = max(scores)
        exps = [np.exp(s - top) for s in scores]
        target = [e / sum(exps) for e in exps]
        t, nxt = self.bar, self.bar + 1
        held = [self.weights[0]] + [
            self.weights[i + 1] * self.close[nxt, i] / self.close[t, i] for i in range(self.n)
        ]
        growth = sum(held)
        pre = [h / growth for h in held]
        mu = 1.0 - self.rate * sum(abs(pre[i] - target[i]) for i in range(1, self.n + 1))
        buy_cost = self.rate / (1.0 - self.rate)
        for _ in range(100):
            new = 1.0
            for i in range(1, self.n + 1):
                change = pre[i] - mu * target[i]
                new -= self.rate * change if change > 0 else -buy_cost * change
            done = abs(new - mu) <= 1e-15
            mu = new
            if done:
                break
        previous = self.value
        self.value = previous * growth * mu
        self.weights, self.bar = target, nxt
        return self.observation(), float(np.log(self.value / previous)), nxt >= len(self.close) - 1


def run(
    steps: int, repeat: int, workdir: Path, batch_sizes: tuple[int, ...] = (16, 256)
) -> dict[str, Any]:
    """The figures of the section (module docstring)."""
    from qraptor.env.portfolio.config import load_portfolio_env_config
    from qraptor.env.portfolio.portfolio_env import PortfolioEnv
    from qraptor.env.portfolio.vector_env import PortfolioVecEnv

    data, panel = sample_panel(workdir)
    cfg = load_portfolio_env_config(["episode.mode=full", "costs.fee_rate=0.001"])
    rng = np.random.default_rng(SEED)
    actions = rng.normal(0, 3, (steps, N_INSTRUMENTS + 1)).astype(np.float32)
    env, reference = PortfolioEnv(panel, cfg), Reference(panel, cfg)
    _check_equal(env, reference, actions[:200])
    baseline_name, baseline = _finrl_or_reference(reference)
    rows: dict[str, list[float]] = {"baseline": [], "single": []}
    for _ in range(repeat):  # interleaved: a load change hits both alike
        rows["baseline"].append(_single_rate(baseline, actions))
        rows["single"].append(_single_rate(env, actions))
    batched = []
    for b in batch_sizes:
        vec = PortfolioVecEnv(panel, cfg, b, seed=SEED)
        vec_actions = rng.normal(0, 3, (max(20, steps // b), b, N_INSTRUMENTS + 1))
        rates = [_vector_rate(vec, vec_actions) * b for _ in range(repeat)]
        batched.append({"batch": b, "env_steps_per_second": float(np.median(rates))})
    base = float(np.median(rows["baseline"]))
    single = float(np.median(rows["single"]))
    for row in batched:
        row["x_baseline"] = row["env_steps_per_second"] / base
    return {
        "instruments": panel.n_instruments, "bars": len(panel), "data": data,
        "baseline": baseline_name,
        "baseline_steps_per_second": base, "single_steps_per_second": single,
        "single_x_baseline": single / base, "batched": batched,
    }  # fmt: skip


def print_portfolio(figures: dict[str, Any]) -> None:
    print(
        f"\n4. Portfolio-v0, {figures['instruments']} instruments x {figures['bars']:,} daily bars"
        f" ({figures['data']}; baseline: {figures['baseline']})"
    )
    print(f"   {'env':<34} {'steps/s':>12} {'x baseline':>11}")
    print(f"   {figures['baseline']:<34} {figures['baseline_steps_per_second']:>12,.0f} {1:>11.1f}")
    print(
        f"   {'PortfolioEnv (single)':<34} {figures['single_steps_per_second']:>12,.0f} "
        f"{figures['single_x_baseline']:>11.1f}"
    )
    for row in figures["batched"]:
        name = f"PortfolioVecEnv B={row['batch']} (env-steps)"
        print(f"   {name:<34} {row['env_steps_per_second']:>12,.0f} {row['x_baseline']:>11.1f}")


def _check_equal(env: Any, reference: Reference, actions: np.ndarray) -> None:
    env.reset(seed=SEED)
    reference.reset()
    for a in actions:
        env.step(a)
        reference.step(a)
        if abs(env.equity / reference.value - 1) > 1e-9:
            raise SystemExit(f"the reference disagrees: {env.equity} vs {reference.value}")


def _finrl_or_reference(reference: Reference) -> tuple[str, Any]:
    try:  # FinRL's StockPortfolioEnv needs finrl, not installable here (issue 16)
        import finrl  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return "plain-numpy reference (FinRL not installed)", reference
    return "plain-numpy reference (FinRL adapter not written)", reference


def _single_rate(env: Any, actions: np.ndarray) -> float:
    gym_env = hasattr(env, "observation_space")
    env.reset(seed=SEED) if gym_env else env.reset()
    started = time.perf_counter()
    for a in actions:
        out = env.step(a)
        if out[3 if gym_env else 2]:
            env.reset()
    return len(actions) / (time.perf_counter() - started)


def _vector_rate(vec: Any, actions: np.ndarray) -> float:
    vec.reset()
    started = time.perf_counter()
    for a in actions:
        vec.step(a)
    return len(actions) / (time.perf_counter() - started)
