"""Benchmark of the served agent (issue 15): what a request of market bars costs.

The served model builds the observation from raw bars (features, frozen z-scores) and
replays the account through the run's environment before it decides
(qraptor.evaluation.serving); the model it replaced took a ready observation tensor and only
ran the policy. Rows, each the median (and 90th percentile) of `--repeat` calls, measured
in this run on the run folder `--run` (default: the demo's models/agent, `make demo`):

1. `sb3-predict` (the baseline): `model.predict` on one observation, what the old model did;
2. `decide` on the fewest bars the agent needs (its warm-up + env.window + 1) and on
   `--bars` bars, one decision: the new model's work in process;
3. `pyfunc` (in process, `mlflow.pyfunc.load_model(...).predict`) on the fewest bars: the
   same plus MLflow's wrapper;
4. `http` (unless `--no-http`): POST /invocations to `mlflow models serve` on the fewest
   bars, JSON both ways: what a client waits for.

The model is logged into a temporary sqlite MLflow store, removed at the end. The machine
is 2-core and shared: compare ratios within one run.

    .venv/bin/python benchmarks/serve.py                    # models/agent, 50 calls each
    .venv/bin/python benchmarks/serve.py --run outputs/... --bars 2000 --no-http
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from machine import machine  # benchmarks/machine.py (the script's folder is on sys.path)

from qraptor.core.errors import DataError

RAW = ["timestamp", "open", "high", "low", "close", "volume"]


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(median, 90th percentile) milliseconds of `repeat` calls after one warm call."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return statistics.median(times), times[int(0.9 * (len(times) - 1))]


def fewest_bars(decider: Any, bars: pd.DataFrame) -> int:
    """The fewest of the latest bars the agent decides on (the error says the figure)."""
    for count in range(decider.config.env.window + 1, len(bars)):
        try:
            decider.decide(bars.iloc[-count:])
            return count
        except DataError as exc:
            if exc.rule != "too_few_bars":
                raise
    raise SystemExit("not enough bars for one decision")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, default=Path("models/agent"))
    parser.add_argument("--bars-file", type=Path, default=Path("data/processed/bars.parquet"))
    parser.add_argument("--bars", type=int, default=1000, help="the larger request's bars")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--no-http", action="store_true", help="skip `mlflow models serve`")
    parser.add_argument("--json", type=Path, help="write the rows here too")
    args = parser.parse_args(argv)

    import mlflow
    import requests

    from qraptor.data.record_bars import features_of_bars
    from qraptor.env.trading_env import TradingEnv
    from qraptor.evaluation.backtest import full_span
    from qraptor.evaluation.serving import observed_market, request_bars
    from qraptor.tracking.pyfunc import log_policy_model
    from qraptor.tracking.served_agent import ServedAgent

    decider = ServedAgent.load(args.run)
    bars = pd.read_parquet(args.bars_file)[RAW]
    need = fewest_bars(decider, bars)
    small, large = bars.iloc[-need:], bars.iloc[-args.bars :]
    # the baseline's input: an observation as the env builds it
    cfg, record = decider.config, decider.record
    frame = features_of_bars(request_bars(small)[0], record, cfg.env.window, "bars")
    env = TradingEnv(observed_market(frame, record, cfg.env.features), full_span(cfg.env))
    obs, _ = env.reset()
    rows: list[dict[str, Any]] = []

    def row(case: str, n_bars: int | str, call: Callable[[], Any]) -> None:
        median, p90 = timed(call, args.repeat)
        rows.append({"case": case, "bars": n_bars, "median_ms": median, "p90_ms": p90})

    row("sb3-predict (baseline)", "-", lambda: decider.model.predict(obs, deterministic=True))
    row("decide", need, lambda: decider.decide(small))
    row("decide", len(large), lambda: decider.decide(large))
    with tempfile.TemporaryDirectory(prefix="qraptor-serve-bench-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("serve-bench")
        with mlflow.start_run():
            info = log_policy_model(args.run, args.run / "model.zip")
        served = mlflow.pyfunc.load_model(info.model_uri)
        request = small.assign(timestamp=[t.isoformat() for t in small["timestamp"]])
        row("pyfunc (in process)", need, lambda: served.predict(request))
        if not args.no_http:
            rows.append(_http_row(info.model_uri, uri, request, args.repeat, requests))
    base = rows[0]["median_ms"]
    print(f"served agent on {args.run}; machine: {json.dumps(machine())}")
    print(f"{'case':<24} {'bars':>6} {'median ms':>10} {'p90 ms':>8} {'x baseline':>11}")
    for r in rows:
        r["x_baseline"] = r["median_ms"] / base
        print(
            f"{r['case']:<24} {r['bars']!s:>6} {r['median_ms']:>10.2f} {r['p90_ms']:>8.2f} "
            f"{r['x_baseline']:>11.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _http_row(
    model_uri: str, tracking_uri: str, request: pd.DataFrame, repeat: int, requests: Any
) -> dict[str, Any]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    mlflow_bin = str(Path(sys.executable).with_name("mlflow"))
    process = subprocess.Popen(
        [mlflow_bin, "models", "serve", "-m", model_uri, "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ping", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        body = {"dataframe_split": json.loads(request.to_json(orient="split", index=False))}
        url = f"http://127.0.0.1:{port}/invocations"

        def call() -> None:
            response = requests.post(url, json=body, timeout=60)
            response.raise_for_status()

        median, p90 = timed(call, repeat)
    finally:
        os.killpg(process.pid, 15)
        process.wait(30)
    return {"case": "http (mlflow serve)", "bars": len(request), "median_ms": median, "p90_ms": p90}


if __name__ == "__main__":
    raise SystemExit(main())
