"""Plain-integer kernel parameters, shared by the Numba and JAX kernels.

The public layer (``lpemu._container``) validates arguments and fills these records; the
kernels read them and assume they are valid. Every field is a Python int.
"""

from __future__ import annotations

from typing import NamedTuple

# Rounding-mode codes (the order of lpemu.RoundingMode).
NEAREST_EVEN, NEAREST_AWAY, TOWARD_ZERO, UP, DOWN, ODD, STOCHASTIC_A, STOCHASTIC_B, STOCHASTIC_C = range(9)
# Overflow-policy codes (the order of lpemu.Overflow).
OV_INFINITY, OV_SATURATE, OV_PROPAGATE, OV_WRAP = range(4)
# Where the sign of a NaN result comes from.
NAN_SIGN_INPUT, NAN_SIGN_POSITIVE, NAN_SIGN_NEGATIVE = range(3)


class Container(NamedTuple):
    """Layout of the float container (float32 or float64)."""

    mc: int  #: mantissa bits (23 or 52)
    bias: int  #: exponent bias (127 or 1023)
    width: int  #: total bits (32 or 64)

    @property
    def exp_mask(self) -> int:
        """Bits of +Inf (exponent all ones)."""
        return ((1 << (self.width - 1 - self.mc)) - 1) << self.mc

    @property
    def mag_mask(self) -> int:
        """All bits but the sign."""
        return (1 << (self.width - 1)) - 1

    @property
    def qnan(self) -> int:
        """Bits of the canonical positive quiet NaN."""
        return self.exp_mask | (1 << (self.mc - 1))

    @property
    def sign_bit(self) -> int:
        """The sign bit as a negative signed integer of the container width (its two's complement)."""
        return -(1 << (self.width - 1))


class FloatParams(NamedTuple):
    """Everything a float-format kernel needs, as ints."""

    # container
    mc: int
    bias_c: int
    exp_mask_c: int
    mag_mask_c: int
    qnan_c: int
    sign_bit_c: int
    # target format
    mt: int  #: mantissa bits
    emin: int  #: exponent of the smallest normal
    bias_t: int
    subn: int  #: 1 with subnormals
    nozero: int  #: 1 when the format has no zero (E8M0)
    signed: int
    negzero: int  #: 1 when -0 exists
    has_inf: int
    has_nan: int
    nan_sign: int  #: NAN_SIGN_* rule for NaN results
    max_bits: int  #: container bits of the largest finite value
    minq_bits: int  #: container bits of the smallest positive value
    # codes of the target format
    sign_code: int  #: the sign bit of a code (0 if unsigned)
    mag_code_mask: int
    inf_code: int  #: -1 if none
    nan_code: int  #: canonical NaN code (positive for IEEE/fn), -1 if none
    max_code: int
    nan_rule: int  #: 0 IEEE (mag > inf_code), 1 fn (mag == all ones), 2 single code, 3 no NaN
    # rounding
    mode: int
    overflow: int
    sr_bits: int


class FixedParams(NamedTuple):
    """Everything a fixed-point / integer kernel needs, as ints (and the quantum as a float)."""

    mc: int
    bias_c: int
    exp_mask_c: int
    mag_mask_c: int
    frac: int  #: fractional bits; the quantum is 2^-frac
    width: int  #: total bits
    kmin: int
    kmax: int
    signed: int
    quantum: float
    mode: int
    overflow: int
    sr_bits: int


class Flags(NamedTuple):
    """The small-integer fields that select code paths (rounding mode, overflow, format family).

    The Numba kernels take them as a separate record so that large arrays can run a kernel
    compiled with the flags as constants (kernels/numba/specialize.py): every branch on a
    flag is then resolved at compile time, a measured 3x speed-up. JAX kernels read the
    same names from the parameter record, where everything is static.
    """

    mode: int
    overflow: int
    subn: int
    nozero: int
    signed: int
    negzero: int
    has_inf: int
    has_nan: int
    nan_sign: int
    nan_rule: int


def flags_of(p: FloatParams | FixedParams) -> Flags:
    """The :class:`Flags` of a parameter record (fields a fixed-point record lacks are 0)."""
    return Flags(*(int(getattr(p, name, 0)) for name in Flags._fields))


# L-Mul forms (kernels/*/lmul.py; the order of lpemu.lmul.FORMS).
LMUL_BITS, LMUL_FORMULA = range(2)


class LMulParams(NamedTuple):
    """Everything an L-Mul kernel (kernels/*/lmul.py) needs, as ints: the form, the target
    format's fields and the rounding of the product. Container-independent: the kernels take
    the container's mantissa width (23 or 52) separately."""

    form: int  #: LMUL_BITS (integer add of the codes) or LMUL_FORMULA
    mt: int  #: mantissa bits M of the format
    off: int  #: the offset term 2^-l(M) in units of 2^-M, i.e. 2^(M - l(M))
    emin: int  #: exponent of the smallest normal
    emax: int  #: exponent of the largest finite value
    max_sig: int  #: its integer significand: max = max_sig * 2^(emax - M), 2^M <= max_sig < 2^(M+1)
    subn: int  #: 1 with subnormals
    nozero: int  #: 1 when the format has no zero (E8M0): results below 2^emin become 2^emin
    negzero: int  #: 1 when -0 exists
    has_inf: int
    nan_sign: int  #: NAN_SIGN_* rule for NaN results
    mode: int  #: rounding mode of the product (deterministic modes only)
    overflow: int  #: OV_* policy of the product
