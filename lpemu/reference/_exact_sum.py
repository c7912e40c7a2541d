"""The exact sum of float64 values, rounded once to odd in float64: the oracle of the ``exact``
accumulator model (``kernels/numba/exact_sum.py`` and ``kernels/jax/exact_sum.py``).

Written with :class:`fractions.Fraction` and Python ints only, independently of the kernels.
"""

from __future__ import annotations

import math
from fractions import Fraction

#: float64 bits of the canonical (positive, quiet) NaN.
QNAN_BITS = 0x7FF8000000000000
#: float64 bits of +Inf.
INF_BITS = 0x7FF0000000000000
#: float64 bits of the largest finite magnitude (its last bit is odd).
MAX_FINITE_BITS = 0x7FEFFFFFFFFFFFFF
_SIGN = 1 << 63


def _signed(u: int) -> int:
    """The int64 with unsigned bit pattern ``u``."""
    return u - (1 << 64) if u & _SIGN else u


def round_odd_float64(x: Fraction) -> int:
    """float64 bits (a signed int64 as a Python int) of ``x != 0`` rounded to odd.

    The magnitude is truncated to float64's grid (53 significant bits; quantum ``2^-1074``
    below ``2^-1022``, where subnormals keep fewer bits) and its last bit is set when anything
    non-zero was dropped; exact values are returned exactly. A magnitude of ``2^1024`` or more
    gives the largest finite magnitude (odd: what truncation with a sticky bit gives when the
    exponent range is capped).

    Examples:
        >>> hex(round_odd_float64(Fraction(1, 3)))
        '0x3fd5555555555555'
        >>> hex(round_odd_float64(Fraction(3, 4)))
        '0x3fe8000000000000'
    """
    neg = x < 0
    a = -x if neg else x
    e = a.numerator.bit_length() - a.denominator.bit_length()  # floor(log2 a) is e or e - 1
    if a < Fraction(2) ** e:
        e -= 1
    if e >= 1024:
        mag = MAX_FINITE_BITS
    else:
        q = max(e, -1022) - 52  # exponent of the quantum at a
        scaled = a / Fraction(2) ** q
        m = scaled.numerator // scaled.denominator
        if m * scaled.denominator != scaled.numerator:
            m |= 1
        mag = ((e + 1023) << 52 | (m - (1 << 52))) if e >= -1022 else m
    return _signed(mag | (_SIGN if neg else 0))


def exact_sum_odd(terms, c: float, round_down: bool = False) -> int:
    """float64 bits (a signed int64 as a Python int) of ``c + sum(terms)`` rounded once to odd.

    Args:
        terms: float64 values (any iterable of Python floats).
        c: the addend.
        round_down: whether the rounding the result feeds is toward negative (it sets the sign
            of an exact zero sum).

    Returns:
        The bits of :func:`round_odd_float64` of the exact sum, or for special cases:

        * any NaN, or both +Inf and -Inf: the canonical NaN :data:`QNAN_BITS`;
        * otherwise an infinity: that infinity;
        * an exact zero sum: +0, except -0 when every operand is a zero with its sign bit set;
          with ``round_down``, -0 unless every operand is +0 (IEEE 754 clause 6.3).

    Examples:
        >>> hex(exact_sum_odd([1.0, 2.0 ** -80], -1.0))
        '0x3af0000000000000'
        >>> hex(exact_sum_odd([1.0, 2.0 ** -80], 0.0))
        '0x3ff0000000000001'
        >>> exact_sum_odd([-0.0], -0.0) == -(1 << 63), exact_sum_odd([1.0], -1.0)
        (True, 0)
    """
    vals = [float(t) for t in terms] + [float(c)]
    if any(math.isnan(v) for v in vals):
        return QNAN_BITS
    pinf, ninf = math.inf in vals, -math.inf in vals
    if pinf and ninf:
        return QNAN_BITS
    if pinf or ninf:
        return _signed(INF_BITS | (_SIGN if ninf else 0))
    # Every finite float64 is an integer multiple of 2^-1074: sum those integers (fast for
    # long sums, where adding Fractions would reduce every partial sum).
    total = 0
    for v in vals:
        num, den = v.as_integer_ratio()
        total += num << (1074 - den.bit_length() + 1)
    if total != 0:
        return round_odd_float64(Fraction(total, 1 << 1074))
    signs = [math.copysign(1.0, v) < 0 for v in vals]
    if round_down:
        neg = not all(v == 0 and not sg for v, sg in zip(vals, signs))
    else:
        neg = all(v == 0 and sg for v, sg in zip(vals, signs))
    return _signed(_SIGN) if neg else 0
