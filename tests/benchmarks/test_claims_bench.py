"""Smoke test of benchmarks/claims.py: a small run prints its table and writes its figures.

Latency itself is not asserted (2 shared cores make timings noisy); what a reader relies on
is that every row claimed what it says, from a queue of the size it names, with a verdict
that follows from its figure and a ratio against the named baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_claims_benchmark_runs_and_reports_each_row(tmp_path: Path) -> None:
    out = tmp_path / "claims.json"
    command = [
        sys.executable, str(ROOT / "benchmarks" / "claims.py"), "--sizes", "20,60",
        "--workers", "1,2", "--claims", "4", "--seconds", "10", "--workdir", str(tmp_path),
        "--json", str(out),
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Claim latency" in done.stdout and "baseline" in done.stdout
    rows = json.loads(out.read_text())["rows"]
    assert [(r["queued"], r["workers"]) for r in rows] == [(20, 1), (20, 2), (60, 1), (60, 2)]
    for row in rows:
        assert row["claims"] == 4 * row["workers"]  # every claim found a session
        assert 0 < row["median_ms"] <= row["p95_ms"]
    assert rows[0]["x_baseline"] == 1.0
