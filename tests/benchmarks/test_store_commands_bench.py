"""Smoke test of benchmarks/store_commands.py: one round prints its table and writes its
figures, every store command run against the benchmark's own server (a command that fails
stops the benchmark), each with a ratio to the named baseline and a verdict that follows
from its figure. The seconds themselves are not asserted (2 shared cores)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_store_commands_benchmark_times_each_command_against_a_ping(tmp_path: Path) -> None:
    out = tmp_path / "store.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "store_commands.py"), "--repeats", "1",
               "--json", str(out)]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "x ping" in done.stdout and "slowest imports" in done.stdout
    rows = {r["command"]: r for r in json.loads(out.read_text())["rows"]}
    assert {"python -c pass", "pymongo ping", "db status", "sessions list"} <= set(rows)
    assert rows["pymongo ping"]["ratio_to_ping"] == 1.0
    for name, row in rows.items():
        assert row["median_seconds"] > 0
        if name.startswith(("db ", "sessions ")):
            assert row["target_met"] == (row["median_seconds"] < 1.0)
            assert row["slowest_imports"]  # where its seconds go, named
        else:
            assert row["target_met"] is None
