"""NVIDIA tensor-core matrix multiply-accumulate (the JAX twin of kernels/numba/tensor_core.py).

The same algorithm, function for function, vectorised over all outputs: each block FMA is a
broadcast over (M, products, N) reduced along the products (XLA fuses the broadcast into the
reduction), and the blocks run in a ``lax.scan`` that carries every output's addend. The
arithmetic is exact float64 on integer-valued quantities plus int64 exponents, so the body
runs under ``jax.enable_x64(True)``; inputs and output are float32. The parameter tuple and
the block order ``perm`` are static.

XLA on CPU flushes float32 subnormals to zero in arithmetic and conversions, so float32 values
enter and leave through their bits (:func:`float32_value`, :func:`float32_bits`); inside, every
float64 is normal.

NaN and Inf (spec step 7) are found with one matrix product of the operands' signs
(:func:`_special`), not per product.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

#: Exponent given to zero operands and addends (see the Numba kernel).
ZERO_EXP = -(1 << 24)
#: fp32 exponent of the smallest normal (an addend's exponent is never below it).
FP32_EMIN = -126


def bit_length(x):
    """Number of bits of each ``x >= 0`` (int64; 0 for 0)."""
    return 64 - lax.clz(x)


def pow2(e):
    """``2^e`` (float64) from its bits, for int64 ``-1022 <= e <= 1023``."""
    return lax.bitcast_convert_type((e + 1023) << 52, jnp.float64)


def float32_value(bits):
    """The exact float64 value of float32 ``bits`` (int32), subnormals included; 0 for NaN/Inf."""
    bits = bits.astype(jnp.int64)
    mag = bits & 0x7FFFFFFF
    e32 = mag >> 23
    sig = (mag & 0x7FFFFF) | (jnp.minimum(e32, 1) << 23)
    v = sig.astype(jnp.float64) * pow2(jnp.maximum(e32, 1) - 150)
    return jnp.where(mag < 0x7F800000, jnp.where(bits < 0, -v, v), 0.0)


def float32_bits(r):
    """The float32 bits (uint32) of float64 values ``r`` that are float32 numbers (+-Inf too)."""
    mag = jnp.abs(r)
    tiny = (mag * 2.0**149).astype(jnp.int64).astype(jnp.uint32)
    normal = lax.bitcast_convert_type(mag.astype(jnp.float32), jnp.uint32)
    return jnp.where(mag < 2.0**-126, tiny, normal) | jnp.where(r < 0, jnp.uint32(0x80000000), jnp.uint32(0))


def input_exponent(bits, emin: int):
    """The adder exponent of float32s (``bits``, int32): the binade, but at least ``emin``;
    :data:`ZERO_EXP` for zero, NaN and Inf."""
    mag = bits.astype(jnp.int64) & 0x7FFFFFFF
    e = jnp.maximum(jnp.maximum(mag >> 23, 1) - 127, emin)
    return jnp.where((mag != 0) & (mag < 0x7F800000), e, ZERO_EXP)


def addend_exponent(k, q):
    """The exponent of the addends ``k * 2^q`` (``k`` integer-valued float64): the binade, but
    at least -126; :data:`ZERO_EXP` for 0."""
    bl = bit_length(jnp.abs(k).astype(jnp.int64))
    return jnp.where(bl != 0, jnp.maximum(q + bl - 1, FP32_EMIN), ZERO_EXP)


def split_operand(x, order: np.ndarray, axis: int, emin: int):
    """float64 values (0 for NaN, Inf and padding) and adder exponents of float32 ``x``, with
    its K axis (``axis``) reordered and padded by ``order`` (-1: a zero)."""
    valid = order >= 0
    if x.shape[axis] == 0:  # K = 0: one block of zeros
        shape = (order.shape[0], x.shape[1]) if axis == 0 else (x.shape[0], order.shape[0])
        return jnp.zeros(shape, jnp.float64), jnp.full(shape, ZERO_EXP, jnp.int64)
    bits = jnp.take(lax.bitcast_convert_type(x, jnp.int32), np.maximum(order, 0), axis=axis)
    keep = jnp.asarray(valid[:, None] if axis == 0 else valid[None, :])
    val = jnp.where(keep, float32_value(bits), 0.0)
    exp = jnp.where(keep, input_exponent(bits, emin), ZERO_EXP)
    return val, exp


def block_sum(va, ea, vb, eb, c, ce, min_exp: int, frac: int):
    """One block FMA before rounding for every output: products of ``va``/``ea`` (M, h) and
    ``vb``/``eb`` (h, N) plus addends ``c`` (exponents ``ce``), both (M, N). Returns (the exact
    sum of the truncated terms in units of ``2^(E - frac)``, E)."""
    e_top = jnp.maximum(jnp.maximum(ce, min_exp), jnp.max(ea[:, :, None] + eb[None, :, :], axis=1))
    scale = pow2(frac - e_top)
    terms = jnp.trunc(va[:, :, None] * vb[None, :, :] * scale[:, None, :])
    return jnp.trunc(c * scale) + jnp.sum(terms, axis=1), e_top


def _round_scaled(acc, q, down, rne: int, p, ovf, oneg):
    """``round(acc * down) * 2^q`` toward zero or to nearest even (+0 for zero), its addend
    exponent, and the first overflow; returns (c, ce, ovf, oneg)."""
    y = acc * down
    k = jnp.rint(y) if rne else jnp.trunc(y)
    r = k * pow2(q)
    r = jnp.where(r != 0, r, 0.0)
    of = jnp.abs(r) >= 2.0 ** (p[5] + 1)
    oneg = jnp.where(of & ~ovf, r < 0, oneg)
    return r, addend_exponent(k, q), ovf | of, oneg


def round_block(acc, e_top, frac: int, p, rne: int, ovf, oneg):
    """Spec step 5: normalise each block sum ``acc * 2^(E - frac)`` once and round it to the
    output grid; returns (c, ce, ovf, oneg)."""
    lsb = e_top - frac
    q = jnp.maximum(lsb + bit_length(jnp.abs(acc).astype(jnp.int64)) - 1, p[4]) - p[3]
    return _round_scaled(acc, q, pow2(lsb - q), rne, p, ovf, oneg)


def add_round(c, d, p, ovf, oneg):
    """Interleaved blocks: ``c + d`` rounded to nearest even once (via float64, see the Numba
    kernel); returns (c, ce, ovf, oneg)."""
    v = c + d
    ev = ((lax.bitcast_convert_type(v, jnp.int64) >> 52) & 0x7FF) - 1023
    q = jnp.maximum(ev, p[4]) - p[3]
    return _round_scaled(v, q, pow2(-q), 1, p, ovf, oneg)


def _special(a, b, c, nan_bits: int):
    """The result forced by NaN/Inf (spec step 7; a NaN has the float32 bits ``nan_bits``) and
    where it applies.

    Each finite non-zero element is replaced by its sign (+-1); zeros, infinities and NaNs stay.
    Then ``a @ b + c`` is NaN exactly where a product is NaN (Inf * 0, a NaN) or Infs of both
    signs meet, +-Inf where only one sign of Inf occurs, and finite (at most K) elsewhere.
    One float32 matrix product, instead of a test per product; the signs come from the bits,
    since XLA would read subnormals as zeros.
    """
    def signs(x):
        bits = lax.bitcast_convert_type(x, jnp.int32)
        mag = bits & 0x7FFFFFFF
        unit = jnp.where(bits < 0, jnp.float32(-1), jnp.float32(1))
        return jnp.where((mag != 0) & (mag < 0x7F800000), unit, jnp.where(mag == 0, jnp.float32(0), x))

    total = jnp.matmul(signs(a), signs(b), precision=lax.Precision.HIGHEST) + signs(c)
    nan_value = lax.bitcast_convert_type(jnp.uint32(nan_bits), jnp.float32)
    return jnp.where(jnp.isnan(total), nan_value, total), ~jnp.isfinite(total)


def tc_matmul(a, b, c, params: tuple[int, ...], perm: tuple[int, ...]):
    """Tensor-core ``a @ b + c`` for float32 ``a`` (M, K), ``b`` (K, N), ``c`` (M, N).

    ``params``: ``(n, frac, min_exp, out_frac, out_emin, out_emax, rne, interleave, nan_bits,
    emin)``;
    ``perm``: source index of each padded K position (-1: zero).
    Returns the (M, N) float32 result (bit-identical to the Numba kernel).
    """
    n, frac, min_exp, _, _, _, rne, interleave, nan_bits, emin = params
    with jax.enable_x64(True):
        order = np.asarray(perm, np.int64)
        m = a.shape[0]
        nn = b.shape[1]
        nb = order.shape[0] // n
        va, ea = split_operand(a, order, 1, emin)
        vb, eb = split_operand(b, order, 0, emin)
        c_bits = lax.bitcast_convert_type(c, jnp.int32)
        cv = float32_value(c_bits)
        ce = input_exponent(c_bits, FP32_EMIN)
        xs = (va.reshape(m, nb, n).transpose(1, 0, 2), ea.reshape(m, nb, n).transpose(1, 0, 2),
              vb.reshape(nb, n, nn), eb.reshape(nb, n, nn))
        half = n // 2

        def step(carry, x):
            c, ce, ovf, oneg = carry
            va_b, ea_b, vb_b, eb_b = x
            if interleave:
                zero = jnp.zeros_like(c)
                zero_e = jnp.full_like(ce, ZERO_EXP)
                acc, et = block_sum(va_b[:, :half], ea_b[:, :half], vb_b[:half], eb_b[:half], zero, zero_e,
                                    min_exp, frac)
                d, de, ovf, oneg = round_block(acc, et, frac, params, rne, ovf, oneg)
                acc, et = block_sum(va_b[:, half:], ea_b[:, half:], vb_b[half:], eb_b[half:], d, de,
                                    min_exp, frac)
                d, de, ovf, oneg = round_block(acc, et, frac, params, rne, ovf, oneg)
                c, ce, ovf, oneg = add_round(c, d, params, ovf, oneg)
            else:
                acc, et = block_sum(va_b, ea_b, vb_b, eb_b, c, ce, min_exp, frac)
                c, ce, ovf, oneg = round_block(acc, et, frac, params, rne, ovf, oneg)
            return (c, ce, ovf, oneg), None

        false = jnp.zeros((m, nn), bool)
        (cv, ce, ovf, oneg), _ = lax.scan(step, (cv, ce, false, false), xs)
        bits = float32_bits(jnp.where(ovf, jnp.where(oneg, -jnp.inf, jnp.inf), cv))
        value, special = _special(a, b, c, nan_bits)
        return jnp.where(special, value, lax.bitcast_convert_type(bits, jnp.float32))
