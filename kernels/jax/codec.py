"""Bit codes in JAX (the twin of kernels/numba/codec.py)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .random import sr_keys
from .rounding import bit_length, fixed_element, float_element, float_type, int_type, split_bits


def bits_to_code(mag, neg, p):
    """Target codes of rounded results given as container magnitude bits and signs."""
    it = mag.dtype
    sign = jnp.where(neg, jnp.asarray(_signed(p.sign_code, it), it), jnp.asarray(0, it))
    sig, b, lsb = split_bits(jnp.maximum(mag, 1), p, True)
    sig = sig << jnp.clip(p.mc - (b - lsb), 0, p.mc)  # normalise: leading bit at position mc
    normal = ((b + p.bias_t) << p.mt) | ((sig >> (p.mc - p.mt)) & ((1 << p.mt) - 1))
    subnormal = sig >> jnp.clip(p.mc - p.mt + p.emin - b, 0, p.mc + 1)
    code = jnp.where(b >= p.emin, normal, subnormal) | sign
    code = jnp.where(mag == 0, sign, code)
    if p.inf_code >= 0:
        code = jnp.where(mag == p.exp_mask_c, p.inf_code | sign, code)
    if p.nan_code >= 0:
        nan = p.nan_code | (sign if p.nan_rule <= 1 else 0)
        code = jnp.where(mag > p.exp_mask_c, nan, code)
    return code


def _signed(v: int, it) -> int:
    """``v`` as a two's-complement value of the integer type ``it`` (for 32/64-bit codes)."""
    w = jnp.iinfo(it).bits
    return v - (1 << w) if v >= 1 << (w - 1) else v


def _to_codes(code, code_bits: int):
    """Signed container integers to the unsigned code type (bit-cast when widths are equal)."""
    ct = _code_type(code_bits)
    if jnp.iinfo(ct).bits == jnp.iinfo(code.dtype).bits:
        return lax.bitcast_convert_type(code, ct)
    return code.astype(ct)


def _code_type(bits: int):
    for w, dt in ((8, jnp.uint8), (16, jnp.uint16), (32, jnp.uint32)):
        if bits <= w:
            return dt
    return jnp.uint64


def encode_float(x, p, code_bits: int, seed_lo=0, seed_hi=0):
    """Round every element of float array ``x`` and return its code (uint8/16/32/64)."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    res = float_element(lax.bitcast_convert_type(x, int_type(p)), p, p, key0, key1)
    return _to_codes(bits_to_code(res & p.mag_mask_c, res < 0, p), code_bits)


def as_int(codes, it):
    """Codes as the container's signed integer type (bit-cast when the widths are equal)."""
    if jnp.iinfo(codes.dtype).bits == jnp.iinfo(it).bits:
        return lax.bitcast_convert_type(codes, it)
    return codes.astype(it)


def _value_bits(sig, b, p):
    """Container magnitude bits of ``sig * 2^(b - mt)``, ``2^mt <= sig < 2^(mt+1)``."""
    emin_c = 1 - p.bias_c
    normal = ((b + p.bias_c) << p.mc) | ((sig - (1 << p.mt)) << (p.mc - p.mt))
    sub = (sig << (p.mc - p.mt)) >> jnp.clip(emin_c - b, 0, p.mc + 1)
    return jnp.where(b >= emin_c, normal, sub)


def decode_float(codes, p):
    """Container values of every code (canonical quiet NaN for NaN codes)."""
    it = int_type(p)
    c = as_int(codes, it)
    cmag = c & p.mag_code_mask
    neg = (c & _signed(p.sign_code, it)) != 0
    e = cmag >> p.mt
    m = cmag & ((1 << p.mt) - 1)
    normal = _value_bits(m | (1 << p.mt), e - p.bias_t, p)
    if p.subn:
        shift = p.mt + 1 - bit_length(jnp.maximum(m, 1))
        sub = jnp.where(m != 0, _value_bits(m << shift, p.emin - shift, p), 0)
    else:
        sub = jnp.zeros_like(m)
    mag = normal if p.nozero else jnp.where(e == 0, sub, normal)
    if p.inf_code >= 0:
        mag = jnp.where(cmag == p.inf_code, p.exp_mask_c, mag)
    if p.nan_rule == 0:
        is_nan = cmag > p.inf_code
    elif p.nan_rule == 1:
        is_nan = cmag == p.mag_code_mask
    elif p.nan_rule == 2:
        is_nan = c == p.nan_code
    else:
        is_nan = jnp.zeros(c.shape, bool)
    mag = jnp.where(is_nan, p.qnan_c, mag)
    if p.nan_rule > 1:
        neg = jnp.where(is_nan, p.nan_sign == 2, neg)
    if p.nan_rule == 2:
        neg = neg & (mag != 0)  # no -0 in fnuz/P3109: flushed sign-bit codes are +0
    bits = jnp.where(neg, mag | jnp.asarray(p.sign_bit_c, it), mag).astype(it)
    return lax.bitcast_convert_type(bits, float_type(p))


def encode_fixed(x, p, code_bits: int, seed_lo=0, seed_hi=0):
    """Round every element into a fixed-point format and return its two's-complement code."""
    key0, key1 = sr_keys(seed_lo, seed_hi)
    k = fixed_element(lax.bitcast_convert_type(x, int_type(p)), p, p, key0, key1)
    return _to_codes(k & ((1 << p.width) - 1), code_bits)


def decode_fixed(codes, p):
    """Values ``k * quantum`` of two's-complement codes."""
    it = int_type(p)
    k = as_int(codes, it)
    if p.signed:
        k = jnp.where(k >= (1 << (p.width - 1)), k - (1 << p.width), k)
    return k.astype(float_type(p)) * jnp.asarray(p.quantum, float_type(p))
