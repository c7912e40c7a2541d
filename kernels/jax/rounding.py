"""Rounding float32/float64 arrays into a format (the JAX twin of kernels/numba/rounding.py).

The same algorithm, vectorised: every branch of the Numba kernel becomes a ``jnp.where``
over all elements, and shift amounts are clipped so that no lane shifts by its bit width or
more. float32 containers compute in int32 (no x64 needed); float64 containers in int64.
Rounding mode, overflow policy and format parameters are static Python ints.
"""

from __future__ import annotations

import jax
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


def round_away(mode: int, neg, kept, rem, shift, r, n: int):
    """Whether each magnitude rounds to ``kept + 1`` quanta (see the Numba kernel)."""
    w = _width(rem)
    nonzero = rem != 0
    odd = (kept & 1) == 1
    if mode in (NEAREST_EVEN, NEAREST_AWAY):
        half_or_more = _scaled_fraction(rem, shift, 1) != 0
        if mode == NEAREST_AWAY:
            return half_or_more
        tie = rem == (jnp.ones_like(rem) << jnp.clip(shift - 1, 0, w - 2))
        return half_or_more & (~tie | odd)
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
        sticky = (shift > n + 1) & (rem != (t1 << jnp.clip(shift - n - 1, 0, w - 2)))
        t = t + (((t1 & 1) == 1) & (sticky | ((t & 1) == 1))).astype(t.dtype)
    return t + r >= (1 << n)


def bit_length(x):
    """Number of bits of ``x > 0``."""
    return _width(x) - lax.clz(x)


def split_bits(a, p):
    """(integer significand, binade exponent, last-bit exponent) of magnitude bits ``a``."""
    mc = p.mc
    e = a >> mc
    normal = e > 0
    sub_lsb = 1 - p.bias_c - mc
    sig = jnp.where(normal, (a & ((1 << mc) - 1)) | (1 << mc), a)
    lsb = jnp.where(normal, e - p.bias_c - mc, sub_lsb)
    b = jnp.where(normal, e - p.bias_c, sub_lsb + bit_length(jnp.maximum(a, 1)) - 1)
    return sig, b, lsb


def _float_magnitude(a, neg, p, r):
    """Round finite non-zero container magnitudes ``a``; returns the rounded magnitude bits."""
    mc = p.mc
    sig, b, lsb = split_bits(a, p)
    if p.subn:
        q = jnp.maximum(b, p.emin) - p.mt
    else:
        q = jnp.where(b < p.emin, p.emin, b - p.mt)
    shift = q - lsb
    mid = (shift > 0) & (shift <= mc)
    sc = jnp.clip(shift, 0, mc)
    kept = jnp.where(mid, sig >> sc, 0)
    rem = jnp.where(mid, sig & ((jnp.ones_like(sig) << sc) - 1), sig)
    up = round_away(p.mode, neg, kept, rem, shift, r, p.sr_bits)
    mag_mid = ((a >> sc) << sc) + (up.astype(a.dtype) << sc)
    mag_low = jnp.where(up, p.minq_bits, 0).astype(a.dtype)
    mag = jnp.where(shift <= 0, a, jnp.where(mid, mag_mid, mag_low))
    if p.nozero:
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


def _nan_result(neg, p):
    """(magnitude bits, negative) of the result for NaN inputs (docs/semantics.md rule 1)."""
    if p.has_nan:
        if p.nan_sign == NAN_SIGN_INPUT:
            return jnp.full(neg.shape, p.qnan_c), neg
        return jnp.full(neg.shape, p.qnan_c), jnp.full(neg.shape, p.nan_sign == NAN_SIGN_NEGATIVE)
    return jnp.zeros(neg.shape, int), ~neg & (p.negzero == 1)


def float_element(bits, p, key0, key1):
    """Round container bits (int32/int64 array); returns (magnitude bits, negative)."""
    it = bits.dtype
    neg = bits < 0
    a = bits & p.mag_mask_c
    r = 0
    if p.mode >= STOCHASTIC_A:
        r = element_bits(bits.shape, key0, key1, p.sr_bits).astype(it)
    mag = _float_magnitude(a, neg, p, r)
    nan_mag, nan_neg = _nan_result(neg, p)
    zero_neg = neg & (p.negzero == 1)
    # finite non-zero results, then overflow
    res_mag, res_neg = mag, neg
    over = mag > p.max_bits
    if p.overflow != OV_INFINITY:
        res_mag = jnp.where(over, p.max_bits, res_mag)
    else:
        to_max = over & _toward_zero(p.mode, neg)
        to_inf = over & ~to_max
        res_mag = jnp.where(to_max, p.max_bits, res_mag)
        if p.has_inf:
            res_mag = jnp.where(to_inf, p.exp_mask_c, res_mag)
        else:
            res_mag = jnp.where(to_inf, nan_mag, res_mag)
            res_neg = jnp.where(to_inf, nan_neg, res_neg)
    res_neg = jnp.where(res_mag == 0, zero_neg, res_neg)
    # zero inputs
    is_zero = a == 0
    if p.nozero:
        res_mag = jnp.where(is_zero, nan_mag, res_mag)
        res_neg = jnp.where(is_zero, nan_neg, res_neg)
    else:
        res_mag = jnp.where(is_zero, 0, res_mag)
        res_neg = jnp.where(is_zero, zero_neg, res_neg)
    # infinite inputs
    is_inf = a == p.exp_mask_c
    if p.overflow == OV_SATURATE or not (p.has_inf or p.has_nan):
        inf_mag, inf_neg = jnp.full(neg.shape, p.max_bits), neg
    elif p.has_inf:
        inf_mag, inf_neg = jnp.full(neg.shape, p.exp_mask_c), neg
    else:
        inf_mag, inf_neg = nan_mag, nan_neg
    res_mag = jnp.where(is_inf, inf_mag, res_mag)
    res_neg = jnp.where(is_inf, inf_neg, res_neg)
    # negative inputs of unsigned formats, and NaN inputs
    to_nan = a > p.exp_mask_c
    if not p.signed:
        to_nan = to_nan | (neg & ~is_zero)
    res_mag = jnp.where(to_nan, nan_mag, res_mag)
    res_neg = jnp.where(to_nan, nan_neg, res_neg)
    return res_mag.astype(it), res_neg


def quantize_float(x, p, seed_lo=0, seed_hi=0):
    """Round every element of float array ``x``; returns the rounded values (same dtype)."""
    it = int_type(p)
    key0, key1 = sr_keys(seed_lo, seed_hi)
    mag, neg = float_element(lax.bitcast_convert_type(x, it), p, key0, key1)
    bits = jnp.where(neg, mag | jnp.asarray(p.sign_bit_c, it), mag)
    return lax.bitcast_convert_type(bits, x.dtype)


# ---- fixed point and integers ----------------------------------------------------------------


def fixed_element(bits, p, key0, key1):
    """Round container bits into a fixed-point format; returns the signed integers k (int32/int64)."""
    it = bits.dtype
    w = _width(bits)
    neg = bits < 0
    a = bits & p.mag_mask_c
    mc = p.mc
    sig, b, lsb = split_bits(jnp.maximum(a, 1), p)
    shift = -p.frac - lsb
    # large magnitudes: integral, k = sig << -shift (or beyond every range)
    ls = jnp.clip(-shift, 0, w - 2)
    huge = (shift <= 0) & (mc - shift >= p.width)
    low_bits = jnp.clip(p.width + shift, 0, w - 2)
    k_huge = jnp.where(-shift < p.width, (sig & ((jnp.ones_like(sig) << low_bits) - 1)) << ls, 0)
    k_big = jnp.where(huge, k_huge, sig << jnp.where(huge, 0, ls))
    # small magnitudes: round
    r = 0
    if p.mode >= STOCHASTIC_A:
        r = element_bits(bits.shape, key0, key1, p.sr_bits).astype(it)
    in_range = shift <= mc + 1
    sc = jnp.clip(shift, 0, mc + 1)
    kept = jnp.where(in_range, sig >> sc, 0)
    rem = jnp.where(in_range, sig & ((jnp.ones_like(sig) << sc) - 1), sig)
    k_small = kept + round_away(p.mode, neg, kept, rem, shift, r, p.sr_bits).astype(it)
    k = jnp.where(shift <= 0, k_big, k_small)
    ks = jnp.where(neg, -k, k)
    over = huge | (ks > p.kmax) | (ks < p.kmin)
    if p.overflow == OV_WRAP:
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
    k = fixed_element(lax.bitcast_convert_type(x, int_type(p)), p, key0, key1)
    return k.astype(x.dtype) * jnp.asarray(p.quantum, x.dtype)
