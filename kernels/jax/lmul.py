"""L-Mul approximate multiplication (the JAX twin of kernels/numba/lmul.py).

The same algorithm, vectorised: every branch of the Numba kernel becomes a ``jnp.where`` and
shift amounts are clipped so that no lane shifts by 64 or more. It runs on container bits in
int64 under ``jax.enable_x64(True)`` (x64 may be off globally; the context works under jit and
vmap) and never converts between float types: XLA on CPU flushes float32 subnormals to zero
in such conversions. The form, the format and the rounding are static Python ints.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..params import LMUL_BITS, NAN_SIGN_INPUT, NAN_SIGN_NEGATIVE, OV_INFINITY
from .rounding import _toward_zero, bit_length, float_element, int_type, round_away


def layout(mc: int) -> tuple[int, int, int]:
    """(bias, sign bit as a negative integer, exponent mask = Inf) of the float32 (``mc = 23``)
    or float64 (``mc = 52``) container."""
    if mc == 23:
        return 127, -(1 << 31), 0xFF << 23
    return 1023, -(1 << 63), 0x7FF << 52


def normalized(a, mc: int, bias: int):
    """(exponent, ``mc``-bit fraction) of container magnitude bits ``a > 0`` (see the Numba twin)."""
    e = a >> mc
    n = bit_length(a)
    sub = e == 0
    exp = jnp.where(sub, n - bias - mc, e - bias)
    frac = jnp.where(sub, a << jnp.clip(mc + 1 - n, 0, 62), a) & ((1 << mc) - 1)
    return exp, frac


def encode(k, q, mc: int, bias: int):
    """Container magnitude bits of ``k * 2^q`` (see the Numba twin)."""
    n = bit_length(jnp.maximum(k, 1))
    b = q + n - 1
    kn = (k << jnp.clip(mc + 1 - n, 0, 62)) >> jnp.clip(n - mc - 1, 0, 62)
    normal = ((b + bias - 1) << mc) + kn
    sub = k << jnp.clip(q - (1 - bias - mc), 0, 62)
    res = jnp.where(b >= 1 - bias, normal, sub)
    return jnp.where(k > 0, res, 0)


def round_scaled(sig, e, neg, p):
    """``sig * 2^e`` rounded once into the format: ``(k, q)`` (see the Numba twin)."""
    mt = p.mt
    b = e + bit_length(sig) - 1
    if p.subn:
        q = jnp.maximum(b, p.emin) - mt
    else:
        q = jnp.where(b >= p.emin, b - mt, p.emin)
    shift = q - e
    sc = jnp.minimum(shift, mt + 2)
    mask = (jnp.ones_like(sig) << sc) - 1
    k = (sig >> sc) + round_away(p.mode, neg, sig, mask, shift, 0, 1, mt + 1).astype(sig.dtype)
    if p.nozero:
        q = jnp.where(k == 0, p.emin, q)
        k = jnp.maximum(k, 1)
    return k, q


def overflows(k, q, p):
    """Whether ``k * 2^q`` exceeds the largest finite value (see the Numba twin)."""
    mt = p.mt
    n = bit_length(jnp.maximum(k, 1))
    b = q + n - 1
    kn = (k << jnp.clip(mt + 1 - n, 0, 62)) >> jnp.clip(n - mt - 1, 0, 62)
    return (k > 0) & ((b > p.emax) | ((b == p.emax) & (kn > p.max_sig)))


def _max_bits(p, mc: int) -> int:
    """Signed container bits of the format's largest finite value (a Python int, at trace time)."""
    v = math.ldexp(p.max_sig, p.emax - p.mt)
    if mc == 23:
        return int(np.float32(v).view(np.int32))
    return int(np.float64(v).view(np.int64))


def lmul_bits(bx, by, p, mc: int):
    """L-Mul of operands given as signed container bits in int64 arrays (float32 bits for
    ``mc = 23``, float64 bits for ``mc = 52``); returns the products' signed container bits
    (int64). Call it under ``jax.enable_x64(True)``."""
    bias, sign_bit, inf = layout(mc)
    bx, by = jnp.broadcast_arrays(bx, by)
    sign = (bx ^ by) & sign_bit
    neg = sign != 0
    ax = bx & ~sign_bit
    ay = by & ~sign_bit
    mt = p.mt
    ex, fx = normalized(jnp.maximum(ax, 1), mc, bias)
    ey, fy = normalized(jnp.maximum(ay, 1), mc, bias)
    one = 1 << mt
    s = (fx >> (mc - mt)) + (fy >> (mc - mt)) + p.off
    if p.form == LMUL_BITS:
        carry = s >= one
        sig = jnp.where(carry, s, s + one)
        e = ex + ey - mt + carry.astype(jnp.int64)
    else:
        sig = s + one
        e = ex + ey - mt
    k, q = round_scaled(sig, e, neg, p)
    qnan = inf | (1 << (mc - 1))
    if p.nan_sign == NAN_SIGN_INPUT:
        nan = qnan | sign
    else:
        nan = jnp.full(sign.shape, qnan | (sign_bit if p.nan_sign == NAN_SIGN_NEGATIVE else 0), jnp.int64)
    zero = sign if p.negzero else jnp.zeros_like(sign)
    res = jnp.where(k > 0, encode(k, q, mc, bias) | sign, zero)
    max_bits = _max_bits(p, mc)
    if p.overflow != OV_INFINITY:
        big = max_bits | sign
    else:
        big = jnp.where(_toward_zero(p.mode, neg), max_bits | sign, (inf | sign) if p.has_inf else nan)
    res = jnp.where(overflows(k, q, p), big, res)
    zx = ax == 0
    zy = ay == 0
    res = jnp.where(zx | zy, zero, res)
    res = jnp.where((ax == inf) | (ay == inf), jnp.where(zx | zy, nan, inf | sign), res)
    return jnp.where((ax > inf) | (ay > inf), nan, res)


def lmul_value(x, y, p):
    """L-Mul of float64 arrays ``x``, ``y`` (broadcastable) whose values are exactly in the
    format (``p``: an :class:`~lpemu.kernels.params.LMulParams`); returns the float64 products.

    Call it on float64 arrays, i.e. inside ``jax.enable_x64(True)`` when x64 is off globally.
    """
    with jax.enable_x64(True):
        bx = lax.bitcast_convert_type(jnp.asarray(x, jnp.float64), jnp.int64)
        by = lax.bitcast_convert_type(jnp.asarray(y, jnp.float64), jnp.int64)
        return lax.bitcast_convert_type(lmul_bits(bx, by, p, 52), jnp.float64)


def multiply(a, b, pin, p):
    """L-Mul of container arrays ``a``, ``b`` (same shape, float32 or float64): each is first
    rounded into the format with the nearest-even parameters ``pin`` (a
    :class:`~lpemu.kernels.params.FloatParams`); returns the products in the container dtype."""
    it = int_type(pin)
    xb = float_element(lax.bitcast_convert_type(a, it), pin, pin, 0, 0)
    yb = float_element(lax.bitcast_convert_type(b, it), pin, pin, 0, 0)
    with jax.enable_x64(True):
        r = lmul_bits(xb.astype(jnp.int64), yb.astype(jnp.int64), p, pin.mc)
        return lax.bitcast_convert_type(r.astype(it), a.dtype)
