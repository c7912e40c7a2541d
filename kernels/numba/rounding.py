"""Rounding float32/float64 arrays into a format, from the bit fields, with integer arithmetic.

One element at a time (the loops are parallel over elements):

1. Split the container bits into sign, magnitude ``a``, exponent field ``E`` and the integer
   significand ``sig``; ``be`` is the unbiased exponent of ``a``'s binade.
2. ``shift`` = how many low bits of ``sig`` lie below the target's quantum at that binade
   (more for target subnormals, a fixed quantum for fixed point).
3. ``kept = sig >> shift`` and ``rem`` = the discarded bits; :func:`round_away` decides, from the
   rounding mode, whether the result is ``kept`` or ``kept + 1`` quanta.
4. The rounded magnitude is written back as container bits: clearing ``shift`` low bits and
   adding ``1 << shift`` carries into the exponent by itself, so no renormalisation is needed.
5. Overflow, zero, Inf and NaN rules of docs/semantics.md.

The kernel rounds exactly once, from the exact input; it never uses floor(log2(x)) in floating
point and never compares with a tolerance.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ..params import (
    DOWN, NAN_SIGN_INPUT, NAN_SIGN_NEGATIVE, NEAREST_AWAY, NEAREST_EVEN, ODD, OV_INFINITY,
    OV_SATURATE, OV_WRAP, STOCHASTIC_A, STOCHASTIC_B, TOWARD_ZERO, UP,
)
from .random import element_bits, sr_keys


@nb.njit(inline="always", cache=True)
def _scaled_fraction(rem: int, shift: int, k: int) -> int:
    """floor(rem * 2^k / 2^shift) for 0 <= rem < 2^min(shift, 54), k <= 31."""
    if shift >= k:
        d = shift - k
        return rem >> d if d < 63 else 0
    return rem << (k - shift)


@nb.njit(inline="always", cache=True)
def round_away(mode: int, neg: bool, kept: int, rem: int, shift: int, r: int, n: int) -> bool:
    """Whether the magnitude rounds to ``kept + 1`` quanta (True) or stays ``kept`` (False).

    ``rem / 2^shift`` is the discarded fraction f of one quantum, ``r`` the random integer
    of ``n`` bits for the stochastic modes (P3109 variants A, B, C).
    """
    if rem == 0:
        return False
    if mode == NEAREST_EVEN or mode == NEAREST_AWAY:
        if _scaled_fraction(rem, shift, 1) == 0:  # f < 1/2
            return False
        if mode == NEAREST_AWAY or rem != (1 << (shift - 1)):
            return True
        return (kept & 1) == 1  # a tie: to even
    if mode == TOWARD_ZERO:
        return False
    if mode == UP:
        return not neg
    if mode == DOWN:
        return neg
    if mode == ODD:
        return (kept & 1) == 0
    # Stochastic: with t1 = floor(f * 2^(n+1)), q = t1 >> 1 = floor(f * 2^n) and b = t1 & 1,
    # A rounds away iff q + r >= 2^n. B's test floor(f * 2^(n+1)) + 2r + 1 >= 2^(n+1) is the same
    # as q + b + r >= 2^n (compare the parities), which keeps every sum below 2^31.
    t1 = _scaled_fraction(rem, shift, n + 1)
    t = t1 >> 1
    if mode == STOCHASTIC_B:
        t += t1 & 1
    elif mode != STOCHASTIC_A and (t1 & 1) == 1:  # C: round f * 2^n to nearest even first
        sticky = shift > n + 1 and rem != (t1 << (shift - n - 1))
        if sticky or (t & 1) == 1:
            t += 1
    return t + r >= (1 << n)


@nb.njit(inline="always", cache=True)
def bit_length(x: int) -> int:
    """Number of bits of ``0 < x < 2^53``: frexp of an exactly converted integer (no log2)."""
    return math.frexp(np.float64(x))[1]


@nb.njit(inline="always", cache=True)
def split_bits(a: int, p) -> tuple[int, int, int]:
    """(integer significand, exponent of its binade, exponent of its last bit) of magnitude bits ``a``."""
    mc = p.mc
    e = a >> mc
    if e > 0:
        return (a & ((1 << mc) - 1)) | (1 << mc), e - p.bias_c, e - p.bias_c - mc
    lsb = 1 - p.bias_c - mc  # a container subnormal
    return a, lsb + bit_length(a) - 1, lsb


@nb.njit(inline="always", cache=True)
def _float_magnitude(a: int, neg: bool, p, r: int) -> int:
    """Round a finite non-zero container magnitude ``a``; returns the rounded magnitude bits."""
    mc = p.mc
    sig, b, lsb = split_bits(a, p)
    if p.subn:
        q = max(b, p.emin) - p.mt  # exponent of the quantum at this binade
    elif b < p.emin:
        q = p.emin  # below min normal without subnormals: round to 0 or 2^emin
    else:
        q = b - p.mt
    shift = q - lsb
    if shift <= 0:
        mag = a
    elif shift <= mc:
        kept = sig >> shift
        up = round_away(p.mode, neg, kept, sig & ((1 << shift) - 1), shift, r, p.sr_bits)
        mag = ((a >> shift) << shift) + (np.int64(up) << shift)
    else:  # every significand bit is discarded: the result is 0 or one smallest quantum
        up = round_away(p.mode, neg, 0, sig, shift, r, p.sr_bits)
        mag = p.minq_bits if up else 0
    if p.nozero and mag < p.minq_bits:
        mag = p.minq_bits
    return mag


@nb.njit(inline="always", cache=True)
def _toward_zero(mode: int, neg: bool) -> bool:
    return mode == TOWARD_ZERO or (mode == DOWN and not neg) or (mode == UP and neg)


@nb.njit(inline="always", cache=True)
def _nan_result(neg: bool, p) -> tuple[int, bool]:
    """Magnitude bits and sign of the result for a NaN input (docs/semantics.md rule 1)."""
    if p.has_nan:
        if p.nan_sign == NAN_SIGN_INPUT:
            return p.qnan_c, neg
        return p.qnan_c, p.nan_sign == NAN_SIGN_NEGATIVE
    return 0, (not neg) and p.negzero == 1  # ml_dtypes: +NaN -> -0, -NaN -> +0


@nb.njit(inline="always", cache=True)
def float_element(bits: int, i: int, p, key0, key1) -> tuple[int, bool]:
    """Round one element given as signed container bits; returns (magnitude bits, negative)."""
    neg = bits < 0
    a = bits & p.mag_mask_c
    if a > p.exp_mask_c:
        return _nan_result(neg, p)
    if neg and not p.signed and a != 0:
        return _nan_result(neg, p)
    if a == p.exp_mask_c:  # +-Inf
        if p.overflow == OV_SATURATE or not (p.has_inf or p.has_nan):
            return p.max_bits, neg
        if p.has_inf:
            return p.exp_mask_c, neg
        return _nan_result(neg, p)
    if a == 0:
        if p.nozero:
            return _nan_result(neg, p)
        return 0, neg and p.negzero == 1
    r = 0
    if p.mode >= STOCHASTIC_A:
        r = element_bits(i, key0, key1, p.sr_bits)
    mag = _float_magnitude(a, neg, p, r)
    if mag > p.max_bits:
        if p.overflow != OV_INFINITY or _toward_zero(p.mode, neg):
            return p.max_bits, neg
        if p.has_inf:
            return p.exp_mask_c, neg
        return _nan_result(neg, p)
    if mag == 0:
        return 0, neg and p.negzero == 1
    return mag, neg


@nb.njit(parallel=True, cache=True)
def quantize_float(x_bits, out_bits, p, seed_lo, seed_hi):
    """Round every element of ``x_bits`` (container bits viewed as int32/int64, 1-D) into
    ``out_bits`` (same dtype), as container bits of the rounded values."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    for i in nb.prange(x_bits.size):
        mag, neg = float_element(np.int64(x_bits[i]), i, p, key0, key1)
        out_bits[i] = (mag | p.sign_bit_c) if neg else mag


# ---- fixed point and integers ----------------------------------------------------------------


@nb.njit(inline="always", cache=True)
def fixed_element(bits: int, i: int, p, key0, key1) -> int:
    """Round one element into a fixed-point format; returns the signed integer k."""
    neg = bits < 0
    a = bits & p.mag_mask_c
    if a > p.exp_mask_c or a == 0:
        return 0
    if a == p.exp_mask_c:
        return p.kmin if neg else p.kmax
    mc = p.mc
    sig, b, lsb = split_bits(a, p)
    shift = -p.frac - lsb  # quantum exponent minus the input's last-bit exponent
    huge = False
    if shift <= 0:
        if mc - shift >= p.width:  # |x| >= 2^width quanta: beyond any range
            huge = True
            k = (sig & ((1 << (p.width + shift)) - 1)) << (-shift) if -shift < p.width else 0
        else:
            k = sig << (-shift)
    else:
        r = 0
        if p.mode >= STOCHASTIC_A:
            r = element_bits(i, key0, key1, p.sr_bits)
        if shift <= mc + 1:
            kept = sig >> shift
            rem = sig & ((1 << shift) - 1)
        else:
            kept = 0
            rem = sig
        k = kept + np.int64(round_away(p.mode, neg, kept, rem, shift, r, p.sr_bits))
    ks = -k if neg else k
    if huge or ks > p.kmax or ks < p.kmin:
        if p.overflow == OV_WRAP:
            return (ks - p.kmin) % (1 << p.width) + p.kmin
        return p.kmin if neg else p.kmax
    return ks


@nb.njit(parallel=True, cache=True)
def quantize_fixed(x_bits, out, p, seed_lo, seed_hi):
    """Round every element of ``x_bits`` (container bits as int32/int64) to ``k * quantum`` in ``out``."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    for i in nb.prange(x_bits.size):
        out[i] = fixed_element(np.int64(x_bits[i]), i, p, key0, key1) * p.quantum
