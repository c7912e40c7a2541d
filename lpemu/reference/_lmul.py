"""Reference L-Mul (Luo & Sun 2024, arXiv 2410.00907; shared/specs/lmul.md): the exact scalar
oracle the Numba and JAX kernels of ``lpemu.lmul`` are tested against.

Written from the definition with Python ints and :class:`~fractions.Fraction` only, without
the kernels' bit manipulation: operands are rounded into the format by
:func:`lpemu.reference.round_to_code`, split into ``(1 + m) * 2^e`` with ``floor_log2``, the
form's real value is computed exactly, and :func:`~lpemu.reference.round_to_code` rounds it
once more. The rules are those documented in :func:`lpemu.lmul.multiply`.
"""

from __future__ import annotations

import functools
import math
import numbers
from fractions import Fraction

from .._formats import FloatFormat, Specials
from .._modes import Overflow, RoundingMode, rounding_mode
from ..errors import InvalidArgumentError, InvalidFormatError
from . import decode_code, round_to_code
from ._common import floor_log2, pow2

__all__ = ["FORMS", "offset_exponent", "lmul_exact", "lmul"]

#: The two forms: the integer add of the codes (Mitchell-style carry) and the paper's formula.
FORMS = ("bits", "formula")

Value = Fraction | float


def offset_exponent(man_bits: int) -> int:
    """The paper's l(m): the offset term is 2^-l(m) for a format with ``man_bits`` = m.

    l(m) = m for m <= 3, 3 for m = 4 and 4 for m > 4 (spec: shared/specs/lmul.md, "Formula").

    Examples:
        >>> [offset_exponent(m) for m in (0, 2, 3, 4, 5, 7, 23)]
        [0, 2, 3, 3, 4, 4, 4]
    """
    return man_bits if man_bits <= 3 else (3 if man_bits == 4 else 4)


def _negative(v: Value) -> bool:
    if isinstance(v, Fraction):
        return v < 0
    return math.copysign(1.0, v) < 0


def _nan(fmt: FloatFormat, negative: bool) -> float:
    """NaN result: the product's sign in IEEE and ``fn`` formats (a NaN per sign), else the
    format NaN code's own sign (negative for fnuz and signed P3109, positive unsigned)."""
    if fmt.specials in (Specials.IEEE, Specials.FN):
        return -math.nan if negative else math.nan
    return -math.nan if fmt.signed else math.nan


@functools.lru_cache(maxsize=1 << 12)
def _split(a: Fraction) -> tuple[int, Fraction]:
    """(e, m) with a = (1 + m) 2^e, 0 <= m < 1, for a > 0 (a subnormal's true exponent)."""
    e = floor_log2(a)
    return e, a / pow2(e) - 1


def lmul_exact(x: Fraction, y: Fraction, fmt: FloatFormat, form: str = "bits") -> Fraction:
    """The unrounded L-Mul of two finite non-zero values of ``fmt`` (exact Fractions).

    With x = (-1)^sx (1 + xm) 2^xe, y = (-1)^sy (1 + ym) 2^ye normalised (a subnormal's true
    exponent and significand; xm, ym in [0, 1)) and s = xm + ym + 2^-l(M):

    * ``"formula"``: (-1)^(sx xor sy) (1 + s) 2^(xe + ye).
    * ``"bits"``: the same while s < 1; for s >= 1 the integer add of the codes carries into the
      exponent: (-1)^(sx xor sy) s 2^(xe + ye + 1).

    Examples:
        >>> from lpemu.formats import FP32
        >>> x = Fraction(7, 4)
        >>> lmul_exact(x, x, FP32, "bits"), lmul_exact(x, x, FP32, "formula")
        (Fraction(25, 8), Fraction(41, 16))
    """
    assert x != 0 and y != 0
    ex, xm = _split(abs(x))
    ey, ym = _split(abs(y))
    s = xm + ym + pow2(-offset_exponent(fmt.man_bits))
    if form == "bits" and s >= 1:
        v = s * pow2(ex + ey + 1)
    else:
        v = (1 + s) * pow2(ex + ey)
    return -v if (x < 0) != (y < 0) else v


@functools.lru_cache(maxsize=1 << 12)
def _operand(x: float | int | Fraction, negative: bool, fmt: FloatFormat, overflow: str | Overflow | None) -> Value:
    """An operand rounded into ``fmt`` to nearest even (cached; ``negative`` is part of the key
    because -0.0 == 0.0)."""
    return decode_code(round_to_code(x, fmt, "nearest_even", overflow), fmt)


@functools.lru_cache(maxsize=1 << 16)
def _result(v: Fraction, fmt: FloatFormat, mode: RoundingMode, overflow: str | Overflow | None) -> float:
    """A non-zero exact product rounded into ``fmt`` (cached: few distinct values per format)."""
    return float(decode_code(round_to_code(v, fmt, mode, overflow), fmt))


def _key(x: object) -> tuple[float | int | Fraction, bool]:
    """A hashable operand and its sign bit (floats, numpy scalars become Python floats exactly)."""
    if isinstance(x, (numbers.Integral, Fraction)) and not isinstance(x, bool):
        return x, False  # type: ignore[return-value]
    if hasattr(x, "as_integer_ratio") and not isinstance(x, bool):
        fx = float(x)  # type: ignore[arg-type]
        return fx, math.copysign(1.0, fx) < 0
    raise InvalidArgumentError(f"lmul: operands must be real numbers (float, int or Fraction), got {x!r}")


def lmul(x: float | int | Fraction, y: float | int | Fraction, fmt: FloatFormat, form: str = "bits",
         rounding: str | RoundingMode = "nearest_even", overflow: str | Overflow | None = None) -> float:
    """L-Mul of ``x`` and ``y`` in ``fmt``, as a Python float (exactly a value of ``fmt``).

    1. Both operands are rounded into ``fmt`` to nearest even, with ``overflow``.
    2. A NaN operand, or Inf times zero, gives NaN (sign: the product's in IEEE/fn formats, the
       NaN code's otherwise); Inf times non-zero gives Inf with the product's sign; a zero
       operand gives zero with the product's sign (+0 where the format has no -0).
    3. Otherwise :func:`lmul_exact` is rounded once into ``fmt`` with ``rounding`` and
       ``overflow``, exactly as :func:`lpemu.reference.round_to_code` rounds a real number.

    Raises:
        InvalidArgumentError: a bad form, rounding mode (stochastic modes are not offered) or
            overflow policy.
        InvalidFormatError: ``fmt`` is not a :class:`~lpemu.FloatFormat`.

    Examples:
        >>> from lpemu.formats import FP32, E4M3
        >>> lmul(1.0, 1.0, FP32), lmul(3.0, -2.0, FP32), lmul(1.75, 1.75, FP32, "formula")
        (1.0625, -6.25, 2.5625)
        >>> lmul(1.75, 1.75, E4M3, "formula"), lmul(0.0, -5.0, E4M3), lmul(float("inf"), 0.0, FP32)
        (2.5, -0.0, nan)
    """
    if not isinstance(fmt, FloatFormat):
        raise InvalidFormatError(f"lmul: fmt must be a FloatFormat, got {fmt!r}")
    if form not in FORMS:
        raise InvalidArgumentError(f"lmul: form must be one of {', '.join(FORMS)}; got {form!r}")
    mode = rounding_mode(rounding)
    if mode.is_stochastic:
        raise InvalidArgumentError(f"lmul: rounding must be a deterministic mode, got {mode.value!r}")
    vx = _operand(*_key(x), fmt, overflow)
    vy = _operand(*_key(y), fmt, overflow)
    neg = _negative(vx) != _negative(vy)
    fx = isinstance(vx, Fraction)
    fy = isinstance(vy, Fraction)
    if (not fx and math.isnan(vx)) or (not fy and math.isnan(vy)):
        return _nan(fmt, neg)
    zero_x = vx == 0
    zero_y = vy == 0
    if (not fx and math.isinf(vx)) or (not fy and math.isinf(vy)):
        if zero_x or zero_y:
            return _nan(fmt, neg)
        return -math.inf if neg else math.inf
    if zero_x or zero_y:
        return -0.0 if (neg and fmt.has_negative_zero) else 0.0
    return _result(lmul_exact(Fraction(vx), Fraction(vy), fmt, form), fmt, mode, overflow)
