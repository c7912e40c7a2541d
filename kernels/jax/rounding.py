"""Rounding float32/float64 arrays into a format (the JAX twin of kernels/numba/rounding.py).

The same algorithm, vectorised: every branch of the Numba kernel becomes a ``jnp.where``
over all elements, and shift amounts are clipped so that no lane shifts by its bit width or
more. float32 containers compute in int32 (no x64 needed); float64 containers in int64.
Rounding mode, overflow policy and format parameters are static Python ints.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ..params import (
    DOWN, NAN_SIGN_INPUT, NAN_SIGN_NEGATIVE, NEAREST_AWAY, NEAREST_EVEN, ODD, OV_INFINITY,
    OV_SATURATE, OV_WRAP, STOCHASTIC_A, STOCHASTIC_B, TOWARD_ZERO, UP,
)
from .random import element_bits, sr_keys


def int_type(p) -> jnp.dtype:
    """The signed integer type of the container's bits."""
    return jnp.int32 if p.mc == 23 else jnp.int64


def float_type(p) -> jnp.dtype:
    """The container's float type."""
    return jnp.float32 if p.mc == 23 else jnp.float64


def _width(x: jnp.ndarray) -> int:
    return jnp.iinfo(x.dtype).bits


def _scaled_fraction(rem, shift, k: int):
    """floor(rem * 2^k / 2^shift) for 0 <= rem < 2^min(shift, width - 2), k <= 31."""
    w = _width(rem)
    d = shift - k
    right = jnp.where(d >= w - 1, 0, rem >> jnp.clip(d, 0, w - 2))
    left = rem << jnp.clip(-d, 0, k)
    return jnp.where(d >= 0, right, left)


def round_away(mode: int, neg, sig, mask, shift, r, n: int, mc: int):
    """Whether each magnitude rounds up by one quantum (see the Numba kernel)."""
    w = _width(sig)
    rem = sig & mask
    nonzero = rem != 0
    odd = (sig & (mask + 1)) != 0
    if mode in (NEAREST_EVEN, NEAREST_AWAY):
        half = (mask + 1) >> 1
        # past mc + 1 the clipped mask understates the shift: f < 1/2 there
        half_or_more = (rem >= half) & nonzero & (shift <= mc + 1)
        if mode == NEAREST_AWAY:
            return half_or_more
        return half_or_more & ((rem != half) | odd)
    if mode == TOWARD_ZERO:
        return jnp.zeros(rem.shape, bool)
    if mode == UP:
        return nonzero & ~neg
    if mode == DOWN:
        return nonzero & neg
    if mode == ODD:
        return nonzero & ~odd
    t1 = _scaled_fraction(rem, shift, n + 1)
    t = t1 >> 1
    if mode == STOCHASTIC_B:
        t = t + (t1 & 1)
    elif mode != STOCHASTIC_A:  # C: round f * 2^n to nearest even first
        sticky = rem != (t1 << jnp.clip(shift - n - 1, 0, w - 2))
        t = t + ((t1 & 1) & (sticky.astype(t.dtype) | (t & 1)))
    return t + r >= (1 << n)


def bit_length(x):
    """Number of bits of ``x > 0``."""
    return _width(x) - lax.clz(x)


def significand_bits(a, p):
    """(integer significand, exponent of its last bit) of container magnitude bits ``a``."""
    e = a >> p.mc
    return (a & ((1 << p.mc) - 1)) | (jnp.minimum(e, 1) << p.mc), jnp.maximum(e, 1) - (p.bias_c + p.mc)


def split_bits(a, p, exact: bool = False):
    """(integer significand, binade exponent, last-bit exponent) of magnitude bits ``a > 0``.

    The exact binade of a container subnormal (which needs a count of leading zeros) matters
    only to formats whose normal range reaches below the container's (E8M0 in float32) and
    to ``exact`` callers; for rounding into other formats any exponent below the container's
    ``emin`` gives the same quantum.
    """
    mc = p.mc
    e = a >> mc
    emin_c = 1 - p.bias_c
    sig, lsb = significand_bits(a, p)
    if exact or p.emin < emin_c:
        below = emin_c - mc - 1 + bit_length(a)
    else:
        below = emin_c - 1
    b = jnp.where(e > 0, e - p.bias_c, below)
    return sig, b, lsb


def _float_magnitude(a, neg, p, f, r):
    """Round finite non-zero container magnitudes ``a``; returns the rounded magnitude bits."""
    mc = p.mc
    sig, b, lsb = split_bits(a, p)
    if f.subn:
        q = jnp.maximum(b, p.emin) - p.mt  # exponent of the quantum at this binade
    else:
        q = jnp.where(b < p.emin, p.emin, b - p.mt)  # below min normal: round to 0 or 2^emin
    shift = q - lsb
    # shift <= 0 is exact (rem = 0, never rounds); shift > mc + 1 discards every bit (kept = 0)
    mask = (jnp.ones_like(sig) << jnp.clip(shift, 0, mc + 1)) - 1
    up = round_away(f.mode, neg, sig, mask, shift, r, p.sr_bits, mc)
    # clearing the discarded bits and adding one quantum carries into the exponent by itself
    mag_mid = (a & ~mask) + jnp.where(up, mask + 1, 0)
    # every significand bit discarded: the result is 0 or the smallest quantum
    mag_low = jnp.where(up, p.minq_bits, 0).astype(a.dtype)
    mag = jnp.where(shift > mc, mag_low, mag_mid)
    if f.nozero:
        mag = jnp.maximum(mag, p.minq_bits)
    return mag


def _toward_zero(mode: int, neg):
    if mode == TOWARD_ZERO:
        return jnp.ones(neg.shape, bool)
    if mode == DOWN:
        return ~neg
    if mode == UP:
        return neg
    return jnp.zeros(neg.shape, bool)


def _nan_result(neg, p, f):
    """(magnitude bits, negative) of the result for NaN inputs (docs/semantics.md rule 1)."""
    if f.has_nan:
        if f.nan_sign == NAN_SIGN_INPUT:
            return jnp.full(neg.shape, p.qnan_c), neg
        return jnp.full(neg.shape, p.qnan_c), jnp.full(neg.shape, f.nan_sign == NAN_SIGN_NEGATIVE)
    return jnp.zeros(neg.shape, int), ~neg & (f.negzero == 1)


def float_element(bits, p, f, key0, key1):
    """Round container bits (int32/int64 array); returns (magnitude bits, negative)."""
    it = bits.dtype
    neg = bits < 0
    a = bits & p.mag_mask_c
    r = 0
    if f.mode >= STOCHASTIC_A:
        r = element_bits(bits.shape, key0, key1, p.sr_bits).astype(it)
    mag = _float_magnitude(jnp.maximum(a, 1), neg, p, f, r)
    nan_mag, nan_neg = _nan_result(neg, p, f)
    zero_neg = neg & (f.negzero == 1)
    # finite non-zero results, then overflow
    res_mag, res_neg = mag, neg
    over = mag > p.max_bits
    if f.overflow != OV_INFINITY:
        res_mag = jnp.where(over, p.max_bits, res_mag)
    else:
        to_max = over & _toward_zero(f.mode, neg)
        to_inf = over & ~to_max
        res_mag = jnp.where(to_max, p.max_bits, res_mag)
        if f.has_inf:
            res_mag = jnp.where(to_inf, p.exp_mask_c, res_mag)
        else:
            res_mag = jnp.where(to_inf, nan_mag, res_mag)
            res_neg = jnp.where(to_inf, nan_neg, res_neg)
    res_neg = jnp.where(res_mag == 0, zero_neg, res_neg)
    # zero inputs
    is_zero = a == 0
    if f.nozero:
        res_mag = jnp.where(is_zero, nan_mag, res_mag)
        res_neg = jnp.where(is_zero, nan_neg, res_neg)
    else:
        res_mag = jnp.where(is_zero, 0, res_mag)
        res_neg = jnp.where(is_zero, zero_neg, res_neg)
    # infinite inputs
    is_inf = a == p.exp_mask_c
    if f.overflow == OV_SATURATE or not (f.has_inf or f.has_nan):
        inf_mag, inf_neg = jnp.full(neg.shape, p.max_bits), neg
    elif f.has_inf:
        inf_mag, inf_neg = jnp.full(neg.shape, p.exp_mask_c), neg
    else:
        inf_mag, inf_neg = nan_mag, nan_neg
    res_mag = jnp.where(is_inf, inf_mag, res_mag)
    res_neg = jnp.where(is_inf, inf_neg, res_neg)
    # negative inputs of unsigned formats, and NaN inputs
    to_nan = a > p.exp_mask_c
    if not f.signed:
        to_nan = to_nan | (neg & ~is_zero)
    res_mag = jnp.where(to_nan, nan_mag, res_mag)
    res_neg = jnp.where(to_nan, nan_neg, res_neg)
    return res_mag.astype(it), res_neg


def quantize_float(x, p, seed_lo=0, seed_hi=0):
    """Round every element of float array ``x``; returns the rounded values (same dtype)."""
    it = int_type(p)
    key0, key1 = sr_keys(seed_lo, seed_hi)
    mag, neg = float_element(lax.bitcast_convert_type(x, it), p, p, key0, key1)
    bits = jnp.where(neg, mag | jnp.asarray(p.sign_bit_c, it), mag)
    return lax.bitcast_convert_type(bits, x.dtype)


# ---- fixed point and integers ----------------------------------------------------------------


def fixed_element(bits, p, f, key0, key1):
    """Round container bits into a fixed-point format; returns the signed integers k (int32/int64)."""
    it = bits.dtype
    w = _width(bits)
    neg = bits < 0
    a = bits & p.mag_mask_c
    mc = p.mc
    sig, lsb = significand_bits(jnp.maximum(a, 1), p)
    shift = -p.frac - lsb
    # large magnitudes: integral, k = sig << -shift (or beyond every range)
    ls = jnp.clip(-shift, 0, w - 2)
    huge = (shift <= 0) & (mc - shift >= p.width)
    low_bits = jnp.clip(p.width + shift, 0, w - 2)
    k_huge = jnp.where(-shift < p.width, (sig & ((jnp.ones_like(sig) << low_bits) - 1)) << ls, 0)
    k_big = jnp.where(huge, k_huge, sig << jnp.where(huge, 0, ls))
    # small magnitudes: round
    r = 0
    if f.mode >= STOCHASTIC_A:
        r = element_bits(bits.shape, key0, key1, p.sr_bits).astype(it)
    sc = jnp.clip(shift, 0, mc + 1)
    mask = (jnp.ones_like(sig) << sc) - 1
    k_small = (sig >> sc) + round_away(f.mode, neg, sig, mask, shift, r, p.sr_bits, mc).astype(it)
    k = jnp.where(shift <= 0, k_big, k_small)
    ks = jnp.where(neg, -k, k)
    over = huge | (ks > p.kmax) | (ks < p.kmin)
    if f.overflow == OV_WRAP:
        wrapped = jnp.remainder(ks - p.kmin, 1 << p.width) + p.kmin
    else:
        wrapped = jnp.where(neg, p.kmin, p.kmax)
    ks = jnp.where(over, wrapped, ks)
    ks = jnp.where(a == p.exp_mask_c, jnp.where(neg, p.kmin, p.kmax), ks)
    ks = jnp.where((a > p.exp_mask_c) | (a == 0), 0, ks)
    return ks.astype(it)


def quantize_fixed(x, p, seed_lo=0, seed_hi=0):
    """Round every element of float array ``x`` to ``k * quantum`` (same dtype)."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    k = fixed_element(lax.bitcast_convert_type(x, int_type(p)), p, p, key0, key1)
    return k.astype(x.dtype) * jnp.asarray(p.quantum, x.dtype)
