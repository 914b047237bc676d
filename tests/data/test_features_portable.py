"""Features and the normalised dataset are bit-identical whatever the CPU computes with
(issue 13, problem 10): numpy's SIMD dispatch off, glibc's FMA variants off, one polars
thread, in a second process, against this one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import hashlib, sys, tempfile
from pathlib import Path
import numpy as np, pandas as pd
from qraptor.data.columns import columns_after_bars
from qraptor.data.features import FeaturesConfig, compute_features
from qraptor.data.pipeline_config import load_pipeline_section
from qraptor.data.split import SplitConfig, make_dataset

conf = sys.argv[1]
n = 3000
steps = np.array([int(c) for c in "3141592653589793238462643383279502884197"] * 75)[:n] - 4
close = (110_000 + np.cumsum(steps)) / 100_000  # exact decimals / 1e5, no transcendental
bars = pd.DataFrame({
    "timestamp": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
    "open": close, "high": close + 0.0002, "low": close - 0.0003, "close": close,
    "volume": 1000.0 + (steps + 4) * 37.5,
})
features = compute_features(bars, load_pipeline_section("features", FeaturesConfig, conf_dir=conf))
digest = hashlib.md5(features.drop(columns="timestamp").to_numpy().tobytes())
with tempfile.TemporaryDirectory() as tmp:
    split = load_pipeline_section("split", SplitConfig, conf_dir=conf)
    make_dataset(features, columns_after_bars(features), split, Path(tmp) / "dataset")
    for path in sorted((Path(tmp) / "dataset").rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
print(digest.hexdigest())
"""


def _other_machine() -> dict[str, str]:
    from numpy._core._multiarray_umath import (  # type: ignore[attr-defined]
        __cpu_baseline__,
        __cpu_dispatch__,
        __cpu_features__,
    )

    extra = [f for f in __cpu_dispatch__ if __cpu_features__.get(f) and f not in __cpu_baseline__]
    env = {
        "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX512F",
        "POLARS_MAX_THREADS": "1",
    }
    return {**env, "NPY_DISABLE_CPU_FEATURES": " ".join(extra)} if extra else env


def _digest(project_root: Path, extra: dict[str, str]) -> str:
    env = {**os.environ, "PYTHONPATH": str(project_root / "src"), **extra}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(project_root / "conf")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_features_and_dataset_do_not_depend_on_the_cpu(project_root: Path):
    other = _other_machine()
    if "NPY_DISABLE_CPU_FEATURES" not in other:
        pytest.skip("numpy dispatches no SIMD beyond its baseline here; nothing to compare")
    assert _digest(project_root, {}) == _digest(project_root, other)
