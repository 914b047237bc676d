"""Benchmark of the store commands a researcher types (issue 18): `qraptor db status`,
`sessions list | show | submit | cancel | retry`, wall time of the whole command, and where
its seconds go.

Starts its own SecantusDB server in a temporary folder (the project's database is not
touched) and points every command at it with QRAPTOR_MONGO_URI, as a user with a team
database does. Each command runs `--repeats` times (default 5) in a fresh process, from the
shell's point of view: interpreter start, imports, config, the database round trips and the
exit. `submit` validates the session against the project's dataset (data/processed/dataset:
`make demo` makes it); without it, the submit, show, cancel and retry rows are left out.

Baselines, measured in the same run:

* `python -c pass`: the interpreter alone;
* `pymongo ping`: a process that imports pymongo, connects to the same server and pings it:
  the least any command that asks the database can cost. Ratios are against this row.

The target is the issue's "store commands answer in under a second when the server is up".
"Where the seconds go": each command's import time per top-level package (each module's own
time, `python -X importtime`); the rest of a command is Hydra composing conf/ (~0.3 s) and
the round trips. Before this benchmark `sessions list` took 1.6 s (SciPy, loaded for the
metrics table that only `show` draws) and `submit` 1.3-1.6 s (pandas and polars, loaded by
the length checks of a config). The session shown here is queued: `show` of a finished one
draws its metrics table and loads SciPy for the PSR (~0.9 s more).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from machine import finish, machine  # benchmarks/machine.py (the script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_SECONDS = 1.0
BASELINE = "pymongo ping"
DATASET = ROOT / "data" / "processed" / "dataset"


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of `command` and its stdout; a failure stops the benchmark."""
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def slowest_imports(command: list[str], env: dict[str, str], top: int) -> list[tuple[str, float]]:
    """The packages `command` spends most import time in: each module's own time (not its
    imports'), summed per top-level package (`python -X importtime`)."""
    script = command[1:] if command[0] == sys.executable else [str(BIN / "qraptor"), *command[1:]]
    done = subprocess.run([sys.executable, "-X", "importtime", *script], env=env, cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    totals: dict[str, float] = defaultdict(float)
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \| *(\S+)", line)
        if found:
            totals[found.group(2).split(".")[0]] += int(found.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per command (median)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "src"))
    from qraptor.store import load_store_config, local_server

    report: dict = {"machine_before": machine(), "rows": []}
    cfg = load_store_config()
    folder = Path(tempfile.mkdtemp(prefix="qraptor-bench-store-"))
    state = local_server.start_server(cfg.local, folder / "server")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QRAPTOR_", "MLFLOW_"))}
    env |= {"QRAPTOR_MONGO_URI": state.uri, "PATH": f"{BIN}:{env.get('PATH', '')}"}
    qraptor = str(BIN / "qraptor")
    # the exit as the store commands exit (cli.main.run: os._exit once output is flushed, not
    # the ~0.5 s pymongo's threads take to wind down at interpreter exit)
    ping = "; ".join([
        "import os, sys", "from pymongo import MongoClient",
        "MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000).admin.command('ping')",
        "os._exit(0)",
    ])  # fmt: skip
    try:
        session_id = None
        if (DATASET / "splits.json").is_file():  # one session to show, cancel and retry
            _, out = run([qraptor, "sessions", "submit", "experiment=quick"], env)
            session_id = out.split()[-1]
        commands: list[tuple[str, list[str]]] = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            (BASELINE, [sys.executable, "-c", ping, state.uri]),
            ("qraptor --help", [qraptor, "--help"]),
            ("db status", [qraptor, "db", "status"]),
            ("sessions list", [qraptor, "sessions", "list"]),
        ]
        if session_id:
            commands += [
                ("sessions show", [qraptor, "sessions", "show", session_id]),
                ("sessions submit", [qraptor, "sessions", "submit", "experiment=quick"]),
                ("sessions cancel", [qraptor, "sessions", "cancel", session_id]),
                ("sessions retry", [qraptor, "sessions", "retry", session_id]),
            ]
        else:
            print(f"no dataset at {DATASET} (make demo): submit, show, cancel, retry left out")
        for _, command in commands:  # one untimed run each: the page cache is warm for all
            run(command, env)
        times: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.repeats):
            for name, command in commands:
                times[name].append(run(command, env)[0])  # cancel then retry: queued again
        base = statistics.median(times[BASELINE])
        print(f"\nstore commands against a local SecantusDB, median of {args.repeats} runs")
        print(
            f"{'command':<18} {'median s':>9} {'max s':>7} {'x ping':>7}  target   slowest imports"
        )
        for name, command in commands:
            median = statistics.median(times[name])
            store = name.startswith(("db ", "sessions "))
            verdict = ("MET" if median < TARGET_SECONDS else "MISSED") if store else "-"
            imports = slowest_imports(command, env, 3) if name != "python -c pass" else []
            shown = ", ".join(f"{m} {s:.2f}" for m, s in imports)
            print(f"{name:<18} {median:>9.3f} {max(times[name]):>7.3f} {median / base:>7.2f}  "
                  f"{verdict:<7}  {shown}")  # fmt: skip
            report["rows"].append({"command": name, "median_seconds": median,
                                   "max_seconds": max(times[name]), "ratio_to_ping": median / base,
                                   "target_met": verdict == "MET" if store else None,
                                   "slowest_imports": imports})  # fmt: skip
    finally:
        local_server.stop_server(folder / "server", timeout=cfg.local.stop_timeout_seconds)
        shutil.rmtree(folder, ignore_errors=True)
    finish(report, args.json, f"target: each store command under {TARGET_SECONDS:.0f} s")


if __name__ == "__main__":
    main()
