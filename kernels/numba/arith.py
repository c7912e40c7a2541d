"""Correctly rounded add, sub, mul, div, sqrt and fma: exact in float64, then one rounding.

Per element:

1. Each operand is rounded into the input format (nearest-even, :func:`~.rounding.float_element`
   with a float64 container), so the arithmetic sees values of that format.
2. The exact result is computed as an unevaluated pair ``hi + lo`` with error-free
   transformations in float64 (:func:`two_sum`, :func:`two_prod`, and the exact residuals of
   division and square root). The public layer admits only formats whose values and
   intermediate results stay inside float64's normal range (exponents within +-300) and, for fma,
   whose products are exact in float64 (precision <= 26).
3. ``hi + lo`` becomes one float64 rounded to odd (:func:`round_odd_bits`): its 53 bits keep
   every bit that a later rounding to p <= 53 - g bits reads, plus a sticky bit (Boldo and
   Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to
   odd", IEEE TC 2008), with g = 2 for the nearest modes, 1 for directed modes and to-odd, and
   sr_bits + 2 for stochastic rounding (which reads n + 1 bits and a sticky bit).
4. That float64 is rounded once into the output format with the requested mode and overflow
   policy (:func:`~.rounding.float_element`), and stored in the output container exactly.

``kernels/jax/arith.py`` is the same algorithm, function for function.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..params import DOWN
from .random import sr_keys
from .rounding import float_element

_SPLIT = 134217729.0  # 2^27 + 1: Veltkamp's splitter for 53-bit significands
_MAG = np.int64(0x7FFFFFFFFFFFFFFF)
_QNAN = np.int64(0x7FF8000000000000)


@nb.njit(inline="always")
def two_sum(a: float, b: float) -> tuple[float, float]:
    """(s, e) with s = fl(a + b) and s + e = a + b exactly (Knuth; no overflow)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@nb.njit(inline="always")
def _split(a: float) -> tuple[float, float]:
    """Veltkamp's split of ``a`` into two halves of at most 26 significant bits."""
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


@nb.njit(inline="always")
def two_prod(a: float, b: float) -> tuple[float, float]:
    """(p, e) with p = fl(a * b) and p + e = a * b exactly (Dekker; no overflow or underflow)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


@nb.njit(inline="always")
def _zero_sum_sign(s: float, a: float, b: float, mode: int) -> float:
    """IEEE 754 clause 6.3: an exact zero sum is +0, except -0 + -0 = -0; rounding down gives
    -0 unless both addends are +0."""
    if s == 0.0 and mode == DOWN:
        neg = (a != 0.0) | (math.copysign(1.0, a) < 0) | (math.copysign(1.0, b) < 0)
        return -0.0 if neg else 0.0
    return s


@nb.njit(inline="always")
def exact_add(a: float, b: float, c: float, mode: int) -> tuple[float, float]:
    """a + b as hi + lo (every ``exact_*`` takes three operands and the mode, and ignores the
    ones it does not use, so that one loop serves them all)."""
    s, e = two_sum(a, b)
    return _zero_sum_sign(s, a, b, mode), e if math.isfinite(s) else 0.0


@nb.njit(inline="always")
def exact_sub(a: float, b: float, c: float, mode: int) -> tuple[float, float]:
    """a - b as hi + lo."""
    return exact_add(a, -b, c, mode)


@nb.njit(inline="always")
def exact_mul(a: float, b: float, c: float, mode: int) -> tuple[float, float]:
    """a * b as hi + lo."""
    p, e = two_prod(a, b)
    return p, e if math.isfinite(p) else 0.0


@nb.njit(inline="always")
def exact_div(a: float, b: float, c: float, mode: int) -> tuple[float, float]:
    """a / b as q + lo, where only the sign of lo is exact: that of the remainder a - q*b
    (exactly representable for q = fl(a / b)) times the sign of b."""
    q = a / b
    ph, pl = two_prod(q, b)
    r = (a - ph) - pl  # a - ph is exact (Sterbenz), and so is the remainder
    ok = math.isfinite(q) & math.isfinite(b) & (q != 0.0)
    return q, (r if b > 0 else -r) if ok else 0.0


@nb.njit(inline="always")
def exact_sqrt(a: float, b: float, c: float, mode: int) -> tuple[float, float]:
    """sqrt(a) as s + lo, where only the sign of lo is exact: that of a - s*s."""
    if a < 0:
        return np.nan, 0.0
    s = math.sqrt(a)
    ph, pl = two_prod(s, s)
    r = (a - ph) - pl
    return s, r if math.isfinite(s) & (s != 0.0) else 0.0


@nb.njit(inline="always")
def exact_fma(a: float, b: float, c: float, mode: int) -> tuple[float, float]:
    """a * b + c as hi + lo; the product must be exact in float64 (both precisions <= 26)."""
    p = a * b
    s, e = two_sum(p, c)
    return _zero_sum_sign(s, p, c, mode), e if math.isfinite(s) else 0.0


@nb.njit(inline="always")
def round_odd_bits(hi: float, lo: float) -> int:
    """float64 bits of hi + lo rounded to odd, for hi = fl(hi + lo) (|lo| <= ulp(hi)/2).

    Exact results are kept; otherwise the magnitude is truncated (one step toward zero when lo
    points that way) and its last bit set. NaN results become the positive quiet NaN.
    """
    b = np.float64(hi).view(np.int64)
    mag = b & _MAG
    down = np.int64((lo < 0.0) != (hi < 0.0))
    odd = ((mag - down) | 1) | (b & ~_MAG)
    res = b if lo == 0.0 else odd
    return _QNAN if hi != hi else res


@nb.njit(inline="always")
def operand(v: float, pin, fin) -> float:
    """An operand rounded into the input format (nearest-even; float64 container)."""
    b = float_element(np.float64(v).view(np.int64), 0, pin, fin, 0, 0)
    return np.int64(b).view(np.float64)


@nb.njit(inline="always")
def round_result(hi: float, lo: float, i: int, pout, fout, key0, key1) -> float:
    """The exact result hi + lo rounded once into the output format."""
    b = float_element(round_odd_bits(hi, lo), i, pout, fout, key0, key1)
    return np.int64(b).view(np.float64)


#: Operation codes of :func:`loop` (the JAX twin takes the names).
OPS = ("add", "sub", "mul", "div", "sqrt", "fma")


@nb.njit(inline="always")
def exact(op: int, a: float, b: float, c: float, mode: int) -> tuple[float, float]:
    """The exact result of operation ``OPS[op]`` as hi + lo."""
    if op == 0:
        return exact_add(a, b, c, mode)
    if op == 1:
        return exact_sub(a, b, c, mode)
    if op == 2:
        return exact_mul(a, b, c, mode)
    if op == 3:
        return exact_div(a, b, c, mode)
    if op == 4:
        return exact_sqrt(a, b, c, mode)
    return exact_fma(a, b, c, mode)


@nb.njit(inline="always")
def arith_at(i, op, x, y, z, out, pin, fin, pout, fout, key0, key1):
    """Element ``i`` of operation ``OPS[op]`` on flat float64 arrays ``x, y, z -> out`` (operands
    an operation does not use are ignored)."""
    hi, lo = exact(op, operand(x[i], pin, fin), operand(y[i], pin, fin), operand(z[i], pin, fin), fout.mode)
    out[i] = round_result(hi, lo, i, pout, fout, key0, key1)


# The operation code is a run-time argument, so that one build serves every operation (each
# build costs seconds of compilation); its branch is the same for every element. Both loops
# use numpy's error model: x / 0 is Inf, not ZeroDivisionError.
@nb.njit(error_model="numpy", cache=True)
def loop_serial(op, x, y, z, out, pin, fin, pout, fout, seed_lo, seed_hi):
    """:func:`arith_at` over every element, on the calling thread."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    for i in range(out.size):
        arith_at(i, op, x, y, z, out, pin, fin, pout, fout, key0, key1)


@nb.njit(parallel=True, error_model="numpy", cache=True)
def loop_parallel(op, x, y, z, out, pin, fin, pout, fout, seed_lo, seed_hi):
    """:func:`arith_at` over every element, in parallel."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    for i in nb.prange(out.size):
        arith_at(i, op, x, y, z, out, pin, fin, pout, fout, key0, key1)
