"""Logarithms that give the same bits on every machine, so DVC hashes do not depend on the CPU.

numpy's float64 `log` and `log1p` pick SIMD code at run time: on an AVX512 machine they give
a result one unit in the last place (ulp) away from an AVX2 or SSE machine's for about 0.06%
of inputs (1,283 of 2 M random values here). glibc's `log`, which Python's `math.log`, numba
and numpy's non-SIMD path call, also picks a variant by CPU (with or without fused
multiply-add): 47 of the same 2 M differ. A log return is a difference of two logs, so one
ulp of a price's log becomes up to 1e-12 relative in the feature, and `features.parquet`
(and every hash after it) differed between two machines running the same code on the same
bars. Rounding the results to fewer digits does not fix that: a value whose two versions
straddle a rounding boundary still rounds differently, only more rarely.

These functions use only +, -, *, / (which IEEE 754 defines as correctly rounded, so SIMD
width cannot change them; numpy applies each operator as its own ufunc, so no compiler can
fuse a multiply and an add), `frexp` and `rint` (exact), and a table of logarithms computed
with the `decimal` module (software arithmetic, the same everywhere). The value is carried
in double-double precision and rounded once at the end: the error is below 2^-75 relative,
so the result is the correctly rounded logarithm except within 2^-22 of an ulp of a
rounding midpoint (about one input in four million), and equal to numpy's and glibc's
results wherever those are correctly rounded. Cost: ~60 array passes, ~0.15 s per million
values.
"""

from __future__ import annotations

import functools
from decimal import Decimal, localcontext

import numpy as np
from numpy.typing import ArrayLike, NDArray

_TABLE_BITS = 11  # table step 2^-11: |u| <= 3.5e-4 in log(m) = log(F) + log1p(u)
_STEPS = 1 << _TABLE_BITS
_SQRT_HALF = 0.7071067811865476
_K_FIRST = int(np.rint(_SQRT_HALF * _STEPS))  # m in [sqrt(1/2), sqrt(2)) -> k = rint(m 2^11)
_K_LAST = int(np.rint(2 * _SQRT_HALF * _STEPS))
_CHUNK = 1 << 14  # values per pass: 128 KiB temporaries stay in cache (3x faster than 1 M)
_SPLITTER = 134217729.0  # 2^27 + 1: Veltkamp's split of a double into two 26-bit halves
# ln 2 with its low 21 bits zero (as in fdlibm), so that e * _LN2_HI is exact for any exponent
_LN2_HI = float.fromhex("0x1.62e42fee00000p-1")

# Horner coefficients of (ln(1 + u) - u + u^2/2) / u^3, highest power first: -1/8 ... 1/3
_TAIL = tuple((-1.0) ** (n + 1) / n for n in range(8, 2, -1))

Float64Array = NDArray[np.float64]


@functools.cache
def _tables() -> tuple[Float64Array, Float64Array, float]:
    """ln(k / 2^11) for k in [_K_FIRST, _K_LAST] as (high, low) doubles, and ln 2's low part.

    40 significant digits from `decimal` (whose `ln` is correctly rounded), ~50 ms once.
    """
    with localcontext() as ctx:
        ctx.prec = 40
        logs = [(Decimal(k) / _STEPS).ln() for k in range(_K_FIRST, _K_LAST + 1)]
        high = [float(value) for value in logs]  # float(Decimal) rounds correctly
        low = [float(value - Decimal(h)) for value, h in zip(logs, high, strict=True)]
        ln2_low = float(Decimal(2).ln() - Decimal(_LN2_HI))
    return np.array(high), np.array(low), ln2_low


def _split(a: Float64Array) -> tuple[Float64Array, Float64Array]:
    c = _SPLITTER * a
    high = c - (c - a)
    return high, a - high


def _two_prod(a: Float64Array, b: Float64Array) -> tuple[Float64Array, Float64Array]:
    """a * b as p + err exactly (Dekker; no fused multiply-add needed)."""
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    err = ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return p, err


def _two_sum(a: Float64Array, b: Float64Array) -> tuple[Float64Array, Float64Array]:
    """a + b as s + err exactly (Knuth)."""
    s = a + b
    b_virtual = s - a
    err = (a - (s - b_virtual)) + (b - b_virtual)
    return s, err


def _log_dd(x: Float64Array) -> tuple[Float64Array, Float64Array]:
    """ln(x) for positive finite `x` as a sum high + low (high + low rounds to the result).

    x = m 2^e with m in [sqrt(1/2), sqrt(2)); m = F (1 + u) with F = k / 2^11 from the table;
    ln x = e ln 2 + ln F + u - u^2/2 + u^3 (1/3 - u/4 + ... - u^5/8), |u| <= 2^-11.5: the
    first three terms in double-double, the rest (below 2^-24 |u|) in double, and the first
    term left out, u^9/9, is below 2^-95 |u|.
    """
    t_high, t_low, ln2_low = _tables()
    m, exponent = np.frexp(x)  # exact, subnormals included
    low_half = m < _SQRT_HALF
    m = np.where(low_half, m * 2.0, m)
    e = (exponent - low_half).astype(np.float64)
    k = np.rint(m * _STEPS)
    big_f = k / _STEPS
    f = m - big_f  # exact: |f| <= 2^-12 and m, F share their ulp grid
    # u = f / F in double-double: u_hi * F = p + p_err exactly, f - p is exact (Sterbenz)
    u_hi = f / big_f
    p, p_err = _two_prod(u_hi, big_f)
    u_lo = ((f - p) - p_err) / big_f
    # u^2 / 2 in double-double (u_hi^2 exactly, plus the cross term)
    sq_hi, sq_lo = _two_prod(u_hi, u_hi)
    half_sq_hi, half_sq_lo = 0.5 * sq_hi, 0.5 * sq_lo + u_hi * u_lo
    series = _TAIL[0]
    for coefficient in _TAIL[1:]:
        series = series * u_hi + coefficient
    tail = u_hi * sq_hi * series  # u^3/3 - u^4/4 + ... - u^8/8 in plain double
    index = (k - _K_FIRST).astype(np.intp)
    s, err1 = _two_sum(e * _LN2_HI, t_high[index])  # e * _LN2_HI is exact
    s, err2 = _two_sum(s, u_hi)
    s, err3 = _two_sum(s, -half_sq_hi)
    low = (err1 + err2 + err3) + (e * ln2_low + t_low[index]) + (u_lo - half_sq_lo + tail)
    return s, low


def _chunks(positions: NDArray[np.intp]) -> list[NDArray[np.intp]]:
    """`positions` in slices that keep the ~40 temporaries of a pass in the CPU's cache."""
    return [positions[i : i + _CHUNK] for i in range(0, len(positions), _CHUNK)]


def log(x: ArrayLike) -> Float64Array:
    """Natural logarithm of `x` (float64), bit-identical on every machine; like `np.log`:
    0 -> -inf, negative -> nan, inf -> inf, nan -> nan."""
    values = np.asarray(x, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    out[values == 0] = -np.inf
    out[values == np.inf] = np.inf
    regular = np.flatnonzero(np.isfinite(values) & (values > 0))
    for chunk in _chunks(regular):
        high, low = _log_dd(values.flat[chunk])
        out.flat[chunk] = high + low
    return out


def log1p(x: ArrayLike) -> Float64Array:
    """ln(1 + x) of `x` (float64), accurate for small x, bit-identical on every machine;
    like `np.log1p`: -1 -> -inf, below -1 -> nan, inf -> inf, nan -> nan."""
    values = np.asarray(x, dtype=np.float64)
    out = np.full(values.shape, np.nan)
    out[values == -1] = -np.inf
    out[values == np.inf] = np.inf
    out[values == 0] = values[values == 0]  # keeps the sign of -0.0, as np.log1p does
    regular = np.flatnonzero(np.isfinite(values) & (values > -1) & (values != 0))
    for chunk in _chunks(regular):
        out.flat[chunk] = _log1p_regular(values.flat[chunk])
    return out


def _log1p_regular(v: Float64Array) -> Float64Array:
    w_hi, w_lo = _two_sum(np.ones_like(v), v)  # 1 + x = w_hi + w_lo exactly
    high, low = _log_dd(w_hi)
    # ln(w_hi + w_lo) = ln(w_hi) + ln(1 + c), c = w_lo / w_hi in double-double, |c| <= 2^-53:
    # ln(1 + c) = c - c^2/2 + (below 2^-158). For x near 2^-52 the terms are of one size.
    c_hi = w_lo / w_hi
    # scaled by a power of two (exact) where Dekker's split of w_hi would overflow
    scale = np.where(w_hi > 2.0**500, 2.0**-600, 1.0)
    w_hi_scaled, w_lo_scaled = w_hi * scale, w_lo * scale
    p, p_err = _two_prod(c_hi, w_hi_scaled)
    c_lo = ((w_lo_scaled - p) - p_err) / w_hi_scaled
    s, err = _two_sum(high, c_hi)
    return s + (err + low + (c_lo - 0.5 * c_hi * c_hi))
