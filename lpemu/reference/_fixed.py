"""Reference rounding to a :class:`~lpemu.FixedFormat` / :class:`~lpemu.IntFormat`
(docs/semantics.md, "Integers and fixed point").

Values are ``k * 2^-frac_bits`` with integer ``k`` in ``[min_int, max_int]``; codes are the
two's-complement bit patterns of ``k`` as unsigned integers.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .._formats import FixedFormat
from .._modes import Overflow, RoundingMode
from ..errors import InvalidArgumentError, check_int
from ._common import Exact, pow2, round_away

__all__ = ["fixed_round_to_code", "fixed_decode", "fixed_check_overflow"]


def fixed_check_overflow(fmt: FixedFormat, overflow: Overflow) -> None:
    """Integers have neither Inf nor NaN: only ``saturate`` (default) and ``wrap``."""
    if overflow not in (Overflow.SATURATE, Overflow.WRAP):
        raise InvalidArgumentError(
            f"overflow={overflow.value!r} is not allowed for {fmt.name}; use 'saturate' or 'wrap'")


def _code_of(fmt: FixedFormat, k: int) -> int:
    """Two's-complement bit pattern of an in-range integer ``k``."""
    assert fmt.min_int <= k <= fmt.max_int
    return k % (1 << fmt.bits)


def fixed_decode(code: int, fmt: FixedFormat) -> Fraction:
    """Exact value ``k * 2^-frac_bits`` of a two's-complement code."""
    code = check_int("code", code, 0, fmt.num_codes - 1)
    k = code - (1 << fmt.bits) if (fmt.signed and code >> (fmt.bits - 1)) else code
    return k * pow2(-fmt.frac_bits)


def fixed_round_to_code(x: Exact, fmt: FixedFormat, mode: RoundingMode, overflow: Overflow,
                        r: int, n: int) -> int:
    """Round the parsed input ``x`` to a code of ``fmt``."""
    # NaN gives 0.
    if x.kind == "nan":
        return 0
    # +-Inf saturates, also under 'wrap'.
    if x.kind == "inf":
        return _code_of(fmt, fmt.min_int if x.negative else fmt.max_int)
    if x.kind == "zero":
        return 0  # integers have a single zero
    # x * 2^frac_bits = k + f, sign-magnitude: k and f are those of |x|, "away" increases |k|.
    y = x.mag * pow2(fmt.frac_bits)
    k = math.floor(y)
    f = y - k
    if round_away(mode, k, f, x.negative, r, n):
        k += 1
    k = -k if x.negative else k
    if fmt.min_int <= k <= fmt.max_int:
        return _code_of(fmt, k)
    if overflow is Overflow.WRAP:
        # Reduce the integer modulo 2^w into [min_int, max_int]; its bit pattern is k mod 2^w.
        return k % (1 << fmt.bits)
    # saturate: clamp to the range.
    return _code_of(fmt, max(fmt.min_int, min(fmt.max_int, k)))
