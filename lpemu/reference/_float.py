"""Reference rounding to a :class:`~lpemu.FloatFormat` (docs/semantics.md, every clause of
"Values of a float format" and "Rounding a real number x").

Scalar and exact: the input is converted to a Fraction once, the quantum is a power of two
computed from ``floor(log2 a)`` obtained from the bit lengths, and the encoding is integer
arithmetic. The descriptor is consulted only for its fields and for which codes are special
(``max_code``, ``inf_code``, ``nan_code``, ``has_negative_zero``); values are recomputed here.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .._formats import FloatFormat, Specials
from .._modes import Overflow, RoundingMode
from ..errors import InvalidArgumentError, check_int
from ._common import Exact, floor_log2, pow2, round_away

__all__ = ["float_round_to_code", "float_decode", "float_default_overflow", "float_check_overflow"]


# ---- values of codes ("Values of a float format") --------------------------------------------
def _mag_value(fmt: FloatFormat, mag: int) -> Fraction:
    """Exact value of a magnitude code (the code without its sign bit), ignoring specials."""
    M = fmt.man_bits
    e, m = mag >> M, mag & ((1 << M) - 1)
    if fmt.zero and e == 0:
        # zero=True, e = 0: m * 2^(emin - M) (subnormal), or 0 when subnormals=False.
        return m * pow2(fmt.emin - M) if fmt.subnormals else Fraction(0)
    # e > 0, or every code of a zero=False (E8M0-like) format: (2^M + m) * 2^(e - bias - M).
    return ((1 << M) + m) * pow2(e - fmt.bias - M)


def float_decode(code: int, fmt: FloatFormat) -> Fraction | float:
    """Exact value of ``code``: a Fraction, or float NaN/+-Inf, or float -0.0 for negative zeros."""
    code = check_int("code", code, 0, fmt.num_codes - 1)
    negative = bool(code & fmt.sign_mask)
    if fmt.is_nan_code(code):
        return -math.nan if negative else math.nan
    mag = code & ((1 << fmt.mag_bits) - 1)
    if fmt.inf_code is not None and mag == fmt.inf_code:
        return -math.inf if negative else math.inf
    v = _mag_value(fmt, mag)
    if v == 0:
        # a format without -0 (fnuz, P3109) decodes the sign-bit codes of flushed subnormals as +0
        return -0.0 if negative and fmt.has_negative_zero else Fraction(0)
    return -v if negative else v


# ---- special results ---------------------------------------------------------------------------
def _signed(fmt: FloatFormat, mag_code: int, negative: bool) -> int:
    """Attach the sign bit (unsigned formats have ``sign_mask == 0``)."""
    return mag_code | (fmt.sign_mask if negative else 0)


def _nan(fmt: FloatFormat, negative: bool) -> int:
    """The format's NaN code. Clause 1: its sign is x's for IEEE and ``fn`` formats (which have a
    NaN per sign); otherwise the NaN code's own sign (fnuz/P3109 0x80 negative, unsigned positive).
    Used for NaN inputs and, with the sign of x, for overflow / Inf to NaN (clauses 4 and 6).

    A format with neither NaN nor anything else to give: see :func:`_no_nan`.
    """
    assert fmt.nan_code is not None
    if fmt.specials in (Specials.IEEE, Specials.FN):
        return _signed(fmt, fmt.nan_code, negative)
    return fmt.nan_code


def _zero(fmt: FloatFormat, negative: bool) -> int:
    """Clauses 2 and 7: +-0, keeping the sign only when the format has -0."""
    return fmt.sign_mask if (negative and fmt.has_negative_zero) else 0


def _max(fmt: FloatFormat, negative: bool) -> int:
    return _signed(fmt, fmt.max_code, negative)


def _no_nan(fmt: FloatFormat) -> int:
    """What a format without NaN gives where the contract asks for NaN and has no other answer
    (a negative x in an unsigned format; 0 in a format without zero). Not specified by the
    contract, which assumes such formats have a NaN; the oracle chooses code 0 (+0, or the
    smallest value when there is no zero), i.e. it saturates to the nearest representable value.
    """
    return 0


# ---- overflow policy -----------------------------------------------------------------------
def float_default_overflow(fmt: FloatFormat) -> Overflow:
    """Clause 6: ``infinity`` for formats with Inf or NaN, ``saturate`` for formats with neither."""
    return Overflow.INFINITY if (fmt.infinities or fmt.has_nan) else Overflow.SATURATE


def float_check_overflow(fmt: FloatFormat, overflow: Overflow) -> None:
    if overflow is Overflow.WRAP:
        raise InvalidArgumentError(f"overflow='wrap' is only for integer and fixed-point formats, not {fmt.name}")
    if overflow in (Overflow.INFINITY, Overflow.PROPAGATE) and not (fmt.infinities or fmt.has_nan):
        raise InvalidArgumentError(
            f"overflow={overflow.value!r} needs a format with Inf or NaN; {fmt.name} has neither "
            "(only 'saturate' is allowed)")


# ---- encoding a grid value ----------------------------------------------------------------
def _encode_magnitude(fmt: FloatFormat, v: Fraction) -> int:
    """The magnitude code of a non-negative value ``v`` on the format's grid with ``v <= max``."""
    M = fmt.man_bits
    if v == 0:
        assert fmt.zero
        return 0
    if fmt.zero and v < pow2(fmt.emin):
        # Subnormal: v = m * 2^(emin - M) with exponent field 0.
        m = v / pow2(fmt.emin - M)
        assert fmt.subnormals and m.denominator == 1 and 0 < m < (1 << M)
        return int(m)
    e = floor_log2(v)
    sig = v / pow2(e - M)  # in [2^M, 2^(M+1))
    assert sig.denominator == 1 and (1 << M) <= sig < (2 << M), (v, fmt)
    # Exponent field e + bias (zero=True: emin = 1 - bias; zero=False: emin = -bias, both
    # encode 2^e as the field e + bias).
    field = e + fmt.bias
    code = (field << M) | (int(sig) - (1 << M))
    assert 0 <= code <= fmt.max_code, (v, code, fmt)
    return code


# ---- the projection ----------------------------------------------------------------------
def float_round_to_code(x: Exact, fmt: FloatFormat, mode: RoundingMode, overflow: Overflow,
                        r: int, n: int) -> int:
    """Round the parsed input ``x`` to a code of ``fmt`` (clauses 1 to 7, in order)."""
    neg = x.negative

    # Clause 1: NaN input gives the format's NaN (sign rule in _nan). A format without NaN
    # (specials "none") gives zero with the *opposite* sign bit when it has -0 (ml_dtypes:
    # +NaN -> -0, -NaN -> +0), else +0.
    if x.kind == "nan":
        if fmt.has_nan:
            return _nan(fmt, neg)
        if not fmt.zero:
            return _no_nan(fmt)
        return _zero(fmt, not neg)

    # Clause 2: +-0 gives +-0 (+0 without -0; unsigned: -0 gives +0). No zero (E8M0): NaN.
    if x.kind == "zero":
        if not fmt.zero:
            return fmt.nan_code if fmt.has_nan else _no_nan(fmt)
        return _zero(fmt, neg)

    # Clause 3: unsigned formats: a negative non-zero x (and -Inf) gives NaN.
    if neg and not fmt.signed:
        return fmt.nan_code if fmt.has_nan else _no_nan(fmt)

    # Clause 4: +-Inf.
    if x.kind == "inf":
        if overflow is Overflow.SATURATE:
            return _max(fmt, neg)
        if fmt.infinities:
            return _signed(fmt, fmt.inf_code, neg)  # type: ignore[arg-type]
        if fmt.has_nan:
            return _nan(fmt, neg)
        return _max(fmt, neg)  # neither Inf nor NaN (only 'saturate' gets here, kept for clarity)

    # Clause 5: finite non-zero x = (-1)^s * a.
    a = x.mag
    M, emin = fmt.man_bits, fmt.emin
    b = floor_log2(a)
    if fmt.subnormals:
        q_exp = max(b, emin) - M
    else:
        # Without subnormals: 2^(b - M) for b >= emin, 2^emin below (round to 0 or min_normal).
        q_exp = b - M if b >= emin else emin
    y = a / pow2(q_exp)
    k = math.floor(y)
    f = y - k
    if round_away(mode, k, f, neg, r, n):
        k += 1
    v = k * pow2(q_exp)  # unbounded above: the grid continues past the largest code
    if not fmt.zero and v < pow2(emin):
        v = pow2(emin)  # formats without zero: below the smallest value is the smallest value

    # Clause 6: overflow when the result magnitude exceeds max.
    if v > _mag_value(fmt, fmt.max_code):
        if overflow in (Overflow.SATURATE, Overflow.PROPAGATE):
            return _max(fmt, neg)
        # Overflow.INFINITY: +-max when the mode rounds toward zero for this sign.
        toward_zero = (mode is RoundingMode.TOWARD_ZERO
                       or (mode is RoundingMode.DOWN and not neg)
                       or (mode is RoundingMode.UP and neg))
        if toward_zero:
            return _max(fmt, neg)
        if fmt.infinities:
            return _signed(fmt, fmt.inf_code, neg)  # type: ignore[arg-type]
        if fmt.has_nan:
            return _nan(fmt, neg)
        return _max(fmt, neg)  # pragma: no cover - rejected by float_check_overflow

    # Clause 7: a zero result keeps the sign of x when the format has -0, else +0.
    if v == 0:
        return _zero(fmt, neg)
    return _signed(fmt, _encode_magnitude(fmt, v), neg)

