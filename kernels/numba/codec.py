"""Bit codes: rounding straight to codes (encode) and codes back to container values (decode)."""

from __future__ import annotations

import numba as nb
import numpy as np

from .rounding import bit_length, fixed_element, float_element, split_bits


@nb.njit(inline="always")
def bits_to_code(mag: int, neg: bool, p, f) -> int:
    """The target code of a rounded result given as container magnitude bits and sign."""
    sign = p.sign_code if neg else 0
    if mag > p.exp_mask_c:  # NaN (never produced for formats without NaN)
        return p.nan_code | (sign if f.nan_rule <= 1 else 0)
    if mag == p.exp_mask_c:
        return p.inf_code | sign
    if mag == 0:
        return sign
    sig, b, lsb = split_bits(mag, p, True)
    sig <<= p.mc - (b - lsb)  # normalise: leading bit at position mc
    if b >= p.emin:
        cmag = ((b + p.bias_t) << p.mt) | ((sig >> (p.mc - p.mt)) & ((1 << p.mt) - 1))
    else:  # a target subnormal: the significand shifted to the subnormal quantum
        cmag = sig >> (p.mc - p.mt + p.emin - b)
    return cmag | sign


@nb.njit(inline="always")
def encode_float_at(i, x_bits, codes, p, f, key0, key1):
    """Element ``i``: round container bits ``x_bits[i]`` and write its code to ``codes[i]``."""
    res = float_element(np.int64(x_bits[i]), i, p, f, key0, key1)
    codes[i] = bits_to_code(res & p.mag_mask_c, res < 0, p, f)


@nb.njit(inline="always")
def _is_nan_code(code: int, cmag: int, p, f) -> bool:
    if f.nan_rule == 0:
        return cmag > p.inf_code
    if f.nan_rule == 1:
        return cmag == p.mag_code_mask
    if f.nan_rule == 2:
        return code == p.nan_code
    return False


@nb.njit(inline="always")
def _value_bits(sig: int, b: int, p) -> int:
    """Container magnitude bits of ``sig * 2^(b - mt)``, ``2^mt <= sig < 2^(mt+1)``."""
    if b >= 1 - p.bias_c:
        return ((b + p.bias_c) << p.mc) | ((sig - (1 << p.mt)) << (p.mc - p.mt))
    return (sig << (p.mc - p.mt)) >> (1 - p.bias_c - b)  # a container subnormal, exact


@nb.njit(inline="always")
def code_to_bits(code: int, p, f) -> int:
    """Signed container bits of a code's value (canonical quiet NaN for NaN codes)."""
    cmag = code & p.mag_code_mask
    neg = (code & p.sign_code) != 0 if p.sign_code else False
    if _is_nan_code(code, cmag, p, f):
        mag = p.qnan_c
        if f.nan_rule > 1:
            neg = f.nan_sign == 2
    elif f.has_inf and cmag == p.inf_code:
        mag = p.exp_mask_c
    else:
        e = cmag >> p.mt
        m = cmag & ((1 << p.mt) - 1)
        if e == 0 and not f.nozero:
            if f.subn and m != 0:
                shift = p.mt + 1 - bit_length(m)  # normalise the subnormal significand
                mag = _value_bits(m << shift, p.emin - shift, p)
            else:
                mag = 0
                if f.nan_rule == 2:
                    neg = False  # no -0 in fnuz/P3109: flushed sign-bit codes are +0
        else:
            mag = _value_bits(m | (1 << p.mt), e - p.bias_t, p)
    return (mag | p.sign_bit_c) if neg else mag


@nb.njit(inline="always")
def decode_float_at(i, codes, out_bits, p, f, key0, key1):
    """Element ``i``: the container bits of the value of ``codes[i]`` (keys unused)."""
    out_bits[i] = code_to_bits(np.int64(codes[i]), p, f)


@nb.njit(inline="always")
def encode_fixed_at(i, x_bits, codes, p, f, key0, key1):
    """Element ``i``: round into a fixed-point format and write the two's-complement code."""
    codes[i] = fixed_element(np.int64(x_bits[i]), i, p, f, key0, key1) & ((np.int64(1) << p.width) - 1)


@nb.njit(parallel=True, cache=True)
def decode_fixed(codes, out, p):
    """Write the value ``k * quantum`` of every two's-complement code."""
    half = 1 << (p.width - 1)
    full = 1 << p.width
    for i in nb.prange(codes.size):
        k = np.int64(codes[i])
        if p.signed and k >= half:
            k -= full
        out[i] = k * p.quantum
