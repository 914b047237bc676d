"""qraptor.core.portable_math: correctly rounded logarithms with the same bits on any CPU."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from decimal import Decimal, localcontext

import numpy as np
import pytest

from qraptor.core import portable_math


def _values() -> np.ndarray:
    """Prices, volumes and awkward spots: near 1, both sides of the table's sqrt(2) seam,
    tiny, huge, subnormal. Scales are parsed from text (exact), not computed."""
    rng = np.random.default_rng(7)
    scales = np.array([float(f"1e{k}") for k in range(-12, 15)])
    values = [
        rng.uniform(0.5, 2.0, 3000) * scales[rng.integers(0, len(scales), 3000)],
        1.0 + rng.normal(0.0, 1e-3, 400),
        1.0 + rng.normal(0.0, 1e-12, 200),
        math.sqrt(0.5) * (1.0 + rng.normal(0.0, 1e-9, 200)),
        math.sqrt(2.0) * (1.0 + rng.normal(0.0, 1e-9, 200)),
        np.array([5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1.0, 2.0, 0.5]),
    ]
    return np.concatenate(values)


def _correctly_rounded(function, values: np.ndarray) -> np.ndarray:
    with localcontext() as ctx:
        ctx.prec = 60  # 1 + x exact for |x| >= 1e-20; ln far beyond a double's precision
        return np.array([float(function(Decimal(v))) for v in values.tolist()])


def test_log_is_the_correctly_rounded_logarithm():
    values = _values()
    expected = _correctly_rounded(lambda d: d.ln(), values)
    assert np.array_equal(portable_math.log(values), expected)


def test_log1p_is_the_correctly_rounded_logarithm_of_one_plus_x():
    values = np.concatenate([_values(), np.random.default_rng(8).uniform(0, 1e-15, 300)])
    values = np.concatenate([values, -values[values < 1]])  # down to just above -1
    expected = _correctly_rounded(lambda d: (1 + d).ln(), values)
    tiny = np.abs(values) < 1e-20  # ln(1 + x) = x (1 - x/2 + ...) rounds to x
    expected[tiny] = values[tiny]
    assert np.array_equal(portable_math.log1p(values), expected)


def test_special_values_are_those_of_numpy():
    special = np.array([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan, 1.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(portable_math.log(special), np.log(special))
        np.testing.assert_array_equal(portable_math.log1p(special), np.log1p(special))
    assert math.copysign(1.0, portable_math.log1p(np.array([-0.0]))[0]) == -1.0
    assert portable_math.log(np.array([])).shape == (0,)
    assert portable_math.log(np.full((2, 3), math.e)).shape == (2, 3)


_DIGEST = """
import hashlib, numpy as np
from qraptor.core import portable_math
rng = np.random.default_rng(3)
x = rng.uniform(0.5, 2.0, 100_000) * np.array([1e-3, 1.0, 1e4])[rng.integers(0, 3, 100_000)]
print(hashlib.md5(portable_math.log(x).tobytes() + portable_math.log1p(x).tobytes()).hexdigest())
"""


@pytest.mark.parametrize(
    "machine",
    [
        {"NPY_DISABLE_CPU_FEATURES": "all dispatched"},  # numpy's SIMD paths off
        {"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-FMA4,-AVX512F"},  # libm without FMA
    ],
)
def test_same_bits_whatever_the_cpu_features(machine: dict[str, str]):
    from numpy._core._multiarray_umath import (  # type: ignore[attr-defined]
        __cpu_baseline__,
        __cpu_dispatch__,
        __cpu_features__,
    )

    if machine.get("NPY_DISABLE_CPU_FEATURES"):
        extra = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
        extra = [f for f in extra if f not in __cpu_baseline__]
        if not extra:
            pytest.skip("numpy dispatches no SIMD beyond its baseline on this CPU")
        machine = {"NPY_DISABLE_CPU_FEATURES": " ".join(extra)}
    here = subprocess.run(
        [sys.executable, "-c", _DIGEST],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ.copy(),
    )
    there = subprocess.run(
        [sys.executable, "-c", _DIGEST],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **machine},
    )
    assert here.stdout.strip() == there.stdout.strip()
    assert hashlib.md5(b"").hexdigest() not in here.stdout
