"""Bit codes: rounding straight to codes (encode) and codes back to container values (decode)."""

from __future__ import annotations

import numba as nb
import numpy as np

from .random import sr_keys
from .rounding import bit_length, fixed_element, float_element, split_bits


@nb.njit(inline="always")
def bits_to_code(mag: int, neg: bool, p) -> int:
    """The target code of a rounded result given as container magnitude bits and sign."""
    sign = p.sign_code if neg else 0
    if mag > p.exp_mask_c:  # NaN (never produced for formats without NaN)
        return p.nan_code | (sign if p.nan_rule <= 1 else 0)
    if mag == p.exp_mask_c:
        return p.inf_code | sign
    if mag == 0:
        return sign
    sig, b, lsb = split_bits(mag, p)
    sig <<= p.mc - (b - lsb)  # normalise: leading bit at position mc
    if b >= p.emin:
        cmag = ((b + p.bias_t) << p.mt) | ((sig >> (p.mc - p.mt)) & ((1 << p.mt) - 1))
    else:  # a target subnormal: the significand shifted to the subnormal quantum
        cmag = sig >> (p.mc - p.mt + p.emin - b)
    return cmag | sign


@nb.njit(parallel=True)
def encode_float(x_bits, codes, p, seed_lo, seed_hi):
    """Round every element of ``x_bits`` (container bits as int32/int64) and write its code."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    for i in nb.prange(x_bits.size):
        mag, neg = float_element(np.int64(x_bits[i]), i, p, key0, key1)
        codes[i] = bits_to_code(mag, neg, p)


@nb.njit(inline="always")
def _is_nan_code(code: int, cmag: int, p) -> bool:
    if p.nan_rule == 0:
        return cmag > p.inf_code
    if p.nan_rule == 1:
        return cmag == p.mag_code_mask
    if p.nan_rule == 2:
        return code == p.nan_code
    return False


@nb.njit(inline="always")
def _value_bits(sig: int, b: int, p) -> int:
    """Container magnitude bits of ``sig * 2^(b - mt)``, ``2^mt <= sig < 2^(mt+1)``."""
    if b >= 1 - p.bias_c:
        return ((b + p.bias_c) << p.mc) | ((sig - (1 << p.mt)) << (p.mc - p.mt))
    return (sig << (p.mc - p.mt)) >> (1 - p.bias_c - b)  # a container subnormal, exact


@nb.njit(inline="always")
def code_to_bits(code: int, p) -> int:
    """Signed container bits of a code's value (canonical quiet NaN for NaN codes)."""
    cmag = code & p.mag_code_mask
    neg = (code & p.sign_code) != 0 if p.sign_code else False
    if _is_nan_code(code, cmag, p):
        mag = p.qnan_c
        if p.nan_rule > 1:
            neg = p.nan_sign == 2
    elif p.has_inf and cmag == p.inf_code:
        mag = p.exp_mask_c
    else:
        e = cmag >> p.mt
        m = cmag & ((1 << p.mt) - 1)
        if e == 0 and not p.nozero:
            if p.subn and m != 0:
                shift = p.mt + 1 - bit_length(m)  # normalise the subnormal significand
                mag = _value_bits(m << shift, p.emin - shift, p)
            else:
                mag = 0
        else:
            mag = _value_bits(m | (1 << p.mt), e - p.bias_t, p)
    return (mag | p.sign_bit_c) if neg else mag


@nb.njit(parallel=True)
def decode_float(codes, out_bits, p):
    """Write the container bits of every code's value."""
    for i in nb.prange(codes.size):
        out_bits[i] = code_to_bits(np.int64(codes[i]), p)


@nb.njit(parallel=True)
def encode_fixed(x_bits, codes, p, seed_lo, seed_hi):
    """Round every element into a fixed-point format and write its two's-complement code."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    mask = (1 << p.width) - 1
    for i in nb.prange(x_bits.size):
        codes[i] = fixed_element(np.int64(x_bits[i]), i, p, key0, key1) & mask


@nb.njit(parallel=True)
def decode_fixed(codes, out, p):
    """Write the value ``k * quantum`` of every two's-complement code."""
    half = 1 << (p.width - 1)
    full = 1 << p.width
    for i in nb.prange(codes.size):
        k = np.int64(codes[i])
        if p.signed and k >= half:
            k -= full
        out[i] = k * p.quantum
