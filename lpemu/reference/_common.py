"""Pieces shared by the float and fixed-point oracles: exact input parsing and the
rounding-mode decision (docs/semantics.md, "Rounding modes").

Everything here is scalar and exact: Python ints and :class:`fractions.Fraction` only.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from fractions import Fraction

from .._modes import RoundingMode
from ..errors import InvalidArgumentError, check_int

__all__ = ["Exact", "parse_input", "floor_log2", "pow2", "round_away", "check_random"]

HALF = Fraction(1, 2)


@dataclass(frozen=True)
class Exact:
    """An input split into its class, sign and exact magnitude.

    ``kind`` is ``"nan"``, ``"inf"``, ``"zero"`` or ``"finite"``; ``negative`` is the sign bit
    (read with ``math.copysign`` for floats, so -0.0 and -NaN are negative); ``mag`` is the
    exact magnitude for ``"finite"`` (0 otherwise).
    """

    kind: str
    negative: bool
    mag: Fraction = Fraction(0)


def parse_input(x: object) -> Exact:
    """Convert ``x`` (float, int, Fraction, or a numpy scalar of those) exactly.

    A binary float is a dyadic rational, so ``as_integer_ratio`` is exact (no rounding happens
    before the one rounding the contract allows: "Rounding happens once, on the exact input").

    Examples:
        >>> parse_input(-0.0)
        Exact(kind='zero', negative=True, mag=Fraction(0, 1))
        >>> parse_input(0.1).mag == Fraction(3602879701896397, 36028797018963968)
        True
    """
    if isinstance(x, bool) or x is None:
        raise InvalidArgumentError(f"x must be a real number (float, int or Fraction), got {x!r}")
    if isinstance(x, numbers.Integral):
        v = Fraction(int(x))
    elif isinstance(x, numbers.Rational):
        v = Fraction(int(x.numerator), int(x.denominator))
    elif hasattr(x, "as_integer_ratio"):  # float, numpy floating (float16/32/64/longdouble), Decimal
        fx = float(x)  # only used for NaN/Inf detection and for the sign of zero and NaN
        if math.isnan(fx):
            return Exact("nan", math.copysign(1.0, fx) < 0)
        if math.isinf(fx):
            return Exact("inf", fx < 0)
        try:
            n, d = x.as_integer_ratio()  # type: ignore[attr-defined]
        except (OverflowError, ValueError):  # pragma: no cover - exotic types
            raise InvalidArgumentError(f"cannot convert {x!r} exactly") from None
        v = Fraction(n, d)
        if v == 0:
            return Exact("zero", math.copysign(1.0, fx) < 0)
    else:
        raise InvalidArgumentError(f"x must be a real number (float, int or Fraction), got {x!r}")
    if v == 0:
        return Exact("zero", False)  # exact zeros (int 0, Fraction(0)) have no sign
    return Exact("finite", v < 0, abs(v))


def pow2(e: int) -> Fraction:
    """``2^e`` exactly, for any integer ``e``."""
    return Fraction(1 << e) if e >= 0 else Fraction(1, 1 << -e)


def floor_log2(a: Fraction) -> int:
    """``floor(log2 a)`` for ``a > 0``, exactly, from the bit lengths (semantics, clause 5:
    "exactly, from the bits"; never from a floating-point log2).

    Examples:
        >>> floor_log2(Fraction(1)), floor_log2(Fraction(3, 4)), floor_log2(Fraction(2**100 - 1))
        (0, -1, 99)
    """
    assert a > 0
    n, d = a.numerator, a.denominator
    # 2^(nb-1) <= n < 2^nb and 2^(db-1) <= d < 2^db, so n/d lies in (2^(b-1), 2^(b+1)).
    b = n.bit_length() - d.bit_length()
    return b if a >= pow2(b) else b - 1


def check_random(mode: RoundingMode, rbits: object, sr_bits: object) -> tuple[int, int]:
    """Validate ``sr_bits`` (1..30) and ``rbits`` (in [0, 2^sr_bits)) for a stochastic mode.

    Deterministic modes ignore ``rbits`` and return ``(0, n)``.
    """
    n = check_int("sr_bits", sr_bits, 1, 30)
    if not mode.is_stochastic:
        return 0, n
    if rbits is None:
        raise InvalidArgumentError(f"rounding={mode.value!r} needs the random integer rbits (in [0, 2^{n}))")
    r = check_int("rbits", rbits, 0, (1 << n) - 1)
    return r, n


def _rne(y: Fraction) -> int:
    """Round a non-negative rational to the nearest integer, ties to even."""
    k = math.floor(y)
    f = y - k
    return k + int(f > HALF or (f == HALF and k & 1 == 1))


def round_away(mode: RoundingMode, k: int, f: Fraction, negative: bool, r: int = 0, n: int = 1) -> bool:
    """Whether the rounding mode picks ``k + 1`` ("away" from zero) rather than ``k``.

    ``a / quantum = k + f`` with integer ``k >= 0`` and ``0 <= f < 1`` (the magnitude of the
    input in units of the quantum), ``negative`` the sign of x. Semantics, "Rounding modes".

    Examples:
        >>> from lpemu._modes import RoundingMode as R
        >>> round_away(R.NEAREST_EVEN, 4, Fraction(1, 2), False), round_away(R.NEAREST_EVEN, 5, Fraction(1, 2), False)
        (False, True)
        >>> [round_away(R.STOCHASTIC, 4, Fraction(1, 4), False, r, 2) for r in range(4)]
        [False, False, False, True]
    """
    if f == 0:
        return False  # exact: every mode keeps k (stochastic modes apply "only when f > 0")
    if mode is RoundingMode.NEAREST_EVEN:
        # away iff f > 1/2 or (f = 1/2 and k odd). For man_bits = 0, k = 1 in the normal range.
        return f > HALF or (f == HALF and k & 1 == 1)
    if mode is RoundingMode.NEAREST_AWAY:
        return f >= HALF  # away iff f >= 1/2
    if mode is RoundingMode.TOWARD_ZERO:
        return False  # never
    if mode is RoundingMode.UP:
        return not negative  # iff f > 0 and x > 0
    if mode is RoundingMode.DOWN:
        return negative  # iff f > 0 and x < 0
    if mode is RoundingMode.ODD:
        return k & 1 == 0  # iff f > 0 and k even (the kept last bit becomes 1)
    two_n = 1 << n
    if mode is RoundingMode.STOCHASTIC:
        # P3109 A: away iff floor(f * 2^n) + r >= 2^n
        return math.floor(f * two_n) + r >= two_n
    if mode is RoundingMode.STOCHASTIC_B:
        # P3109 B: away iff floor(f * 2^(n+1)) + 2r + 1 >= 2^(n+1)
        return math.floor(f * 2 * two_n) + 2 * r + 1 >= 2 * two_n
    if mode is RoundingMode.STOCHASTIC_C:
        # P3109 C: away iff RNE(f * 2^n) + r >= 2^n (ties of f * 2^n to even)
        return _rne(f * two_n) + r >= two_n
    raise AssertionError(f"unhandled rounding mode {mode!r}")  # pragma: no cover
