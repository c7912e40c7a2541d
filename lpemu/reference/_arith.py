"""Exact scalar arithmetic for the oracle: IEEE 754 results as Fractions, rounded once.

Special values follow IEEE 754 (clauses 6.1-6.3 and 7.2): NaN operands, Inf - Inf, 0 * Inf,
0 / 0, Inf / Inf and the square root of a negative number give NaN (lpemu returns the positive
canonical NaN); exact zero sums are +0, except that -0 + -0 = -0 and that rounding down
gives -0 unless both addends are +0.
"""

from __future__ import annotations

import math
from fractions import Fraction
from math import isqrt

from .._modes import RoundingMode

_NAN = float("nan")
_SQRT_BITS = 160  # bits of a square root kept beyond its integer part (plus a sticky half)


def _is_neg(v: Fraction | float) -> bool:
    return math.copysign(1.0, v) < 0 if isinstance(v, float) else v < 0


def _special(v: Fraction | float) -> bool:
    return isinstance(v, float) and not math.isfinite(v)


def _zero(negative: bool) -> float | Fraction:
    return -0.0 if negative else Fraction(0)


def exact_add(a, b, mode: RoundingMode):
    """a + b for Fractions, signed float zeros, +-Inf and NaN (a float for non-finite results)."""
    if isinstance(a, float) and math.isnan(a) or isinstance(b, float) and math.isnan(b):
        return _NAN
    if _special(a) or _special(b):
        if _special(a) and _special(b) and _is_neg(a) != _is_neg(b):
            return _NAN
        return a if _special(a) else b
    s = Fraction(a) + Fraction(b)
    if s != 0:
        return s
    if mode is RoundingMode.DOWN:
        return _zero(not (a == 0 and b == 0 and not _is_neg(a) and not _is_neg(b)))
    return _zero(a == 0 and b == 0 and _is_neg(a) and _is_neg(b))


def negate(a):
    """-a, with -(+0) = -0."""
    return -0.0 if isinstance(a, Fraction) and a == 0 else -a


def exact_mul(a, b):
    """a * b (a signed zero keeps the product's sign)."""
    if isinstance(a, float) and math.isnan(a) or isinstance(b, float) and math.isnan(b):
        return _NAN
    neg = _is_neg(a) != _is_neg(b)
    if _special(a) or _special(b):
        if a == 0 or b == 0:
            return _NAN
        return -math.inf if neg else math.inf
    p = Fraction(a) * Fraction(b)
    return p if p != 0 else _zero(neg)


def exact_div(a, b):
    """a / b."""
    if isinstance(a, float) and math.isnan(a) or isinstance(b, float) and math.isnan(b):
        return _NAN
    neg = _is_neg(a) != _is_neg(b)
    if _special(a):
        return _NAN if _special(b) else (-math.inf if neg else math.inf)
    if _special(b):
        return _zero(neg)
    if b == 0:
        return _NAN if a == 0 else (-math.inf if neg else math.inf)
    q = Fraction(a) / Fraction(b)
    return q if q != 0 else _zero(neg)


def exact_sqrt(a):
    """sqrt(a): exact when it is rational; otherwise ``_SQRT_BITS`` correct bits and a sticky half
    ulp below them, which every rounding into a format of at most 64 bits treats as the
    irrational value."""
    if isinstance(a, float) and (math.isnan(a) or a < 0):
        return _NAN
    if _special(a) or a == 0:
        return a
    a = Fraction(a)
    if a < 0:
        return _NAN
    n = a.numerator * a.denominator  # sqrt(a) = sqrt(n) / den
    k = _SQRT_BITS  # r >= 2^k since n >= 1
    r = isqrt(n << (2 * k))
    if r * r == n << (2 * k):
        return Fraction(r, a.denominator << k)
    return Fraction(2 * r + 1, a.denominator << (k + 1))


def exact_fma(a, b, c, mode: RoundingMode):
    """a * b + c with a single rounding (the product's zero sign is the xor of the signs)."""
    return exact_add(exact_mul(a, b), c, mode)
