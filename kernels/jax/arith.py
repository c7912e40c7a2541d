"""Correctly rounded add, sub, mul, div, sqrt and fma (the JAX twin of kernels/numba/arith.py).

The same algorithm on whole arrays, in float64 and int64 (x64 is switched on for the kernel's
trace only). XLA on CPU flushes subnormal floats to zero in arithmetic and conversions, so
float32 containers are widened to float64 and narrowed back with integer operations on the
bits (:func:`widen_bits`, :func:`narrow_bits`); every float operation of the algorithm then sees
normal float64 values only (the public layer keeps exponents within +-300).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ..params import DOWN
from .random import sr_keys
from .rounding import float_element

_SPLIT = 134217729.0  # 2^27 + 1
_MAG = 0x7FFFFFFFFFFFFFFF
_QNAN = 0x7FF8000000000000
_SIGN = -(1 << 63)


def two_sum(a, b):
    """(s, e) with s = fl(a + b) and s + e = a + b exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a):
    c = _SPLIT * a
    hi = c - (c - a)
    return hi, a - hi


def two_prod(a, b):
    """(p, e) with p = fl(a * b) and p + e = a * b exactly."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _zero_sum_sign(s, a, b, mode: int):
    """IEEE 754 clause 6.3 signs of exact zero sums (see the Numba twin)."""
    if mode != DOWN:
        return s
    neg = (a != 0) | jnp.signbit(a) | jnp.signbit(b)
    return jnp.where(s == 0, jnp.where(neg, -0.0, 0.0), s)


def exact_add(a, b, c, mode: int):
    """a + b as hi + lo."""
    s, e = two_sum(a, b)
    return _zero_sum_sign(s, a, b, mode), jnp.where(jnp.isfinite(s), e, 0.0)


def exact_sub(a, b, c, mode: int):
    """a - b as hi + lo."""
    return exact_add(a, -b, c, mode)


def exact_mul(a, b, c, mode: int):
    """a * b as hi + lo."""
    p, e = two_prod(a, b)
    return p, jnp.where(jnp.isfinite(p), e, 0.0)


def exact_div(a, b, c, mode: int):
    """a / b as q + lo; only the sign of lo is exact (see the Numba twin)."""
    q = a / b
    ph, pl = two_prod(q, b)
    r = (a - ph) - pl
    ok = jnp.isfinite(q) & jnp.isfinite(b) & (q != 0)
    return q, jnp.where(ok, jnp.where(b > 0, r, -r), 0.0)


def exact_sqrt(a, b, c, mode: int):
    """sqrt(a) as s + lo; only the sign of lo is exact."""
    s = jnp.sqrt(a)
    ph, pl = two_prod(s, s)
    r = (a - ph) - pl
    return s, jnp.where(jnp.isfinite(s) & (s != 0), r, 0.0)


def exact_fma(a, b, c, mode: int):
    """a * b + c as hi + lo (the product exact in float64)."""
    p = a * b
    s, e = two_sum(p, c)
    return _zero_sum_sign(s, p, c, mode), jnp.where(jnp.isfinite(s), e, 0.0)


EXACT = {"add": exact_add, "sub": exact_sub, "mul": exact_mul, "div": exact_div, "sqrt": exact_sqrt,
         "fma": exact_fma}
ARITY = {"add": 2, "sub": 2, "mul": 2, "div": 2, "sqrt": 1, "fma": 3}


def round_odd_bits(hi, lo):
    """float64 bits of hi + lo rounded to odd (see the Numba twin)."""
    b = lax.bitcast_convert_type(hi, jnp.int64)
    mag = b & _MAG
    down = ((lo < 0) != (hi < 0)).astype(jnp.int64)
    odd = ((mag - down) | 1) | (b & _SIGN)
    res = jnp.where(lo == 0, b, odd)
    return jnp.where(jnp.isnan(hi), jnp.int64(_QNAN), res)


def widen_bits(b32):
    """float64 bits (int64) of the float32 values with bits ``b32`` (int32), exactly."""
    b = b32.astype(jnp.int64)
    a = b & 0x7FFFFFFF
    e = a >> 23
    m = a & 0x7FFFFF
    normal = ((e + (1023 - 127)) << 52) | (m << 29)
    n = 64 - lax.clz(jnp.maximum(m, 1))  # bit length of a subnormal's significand
    sub = ((n + (1023 - 150)) << 52) | ((m << (53 - n)) & ((1 << 52) - 1))
    mag = jnp.where(e == 0, jnp.where(m == 0, 0, sub), jnp.where(e == 255, (2047 << 52) | (m << 29), normal))
    return mag | jnp.where(b < 0, jnp.int64(_SIGN), 0)


def narrow_bits(b64):
    """float32 bits (int32) of float64 values that float32 holds exactly (or Inf/NaN)."""
    a = b64 & _MAG
    e = a >> 52
    m = a & ((1 << 52) - 1)
    normal = ((e - (1023 - 127)) << 23) | (m >> 29)
    sub = (m | (1 << 52)) >> jnp.clip(29 + (1023 - 126) - e, 0, 63)
    mag = jnp.where(e == 2047, 0x7F800000 | (m >> 29), jnp.where(e - 1023 >= -126, normal, sub))
    mag = jnp.where(a == 0, 0, mag)
    bits = (mag | jnp.where(b64 < 0, 1 << 31, 0)).astype(jnp.uint32)
    return lax.bitcast_convert_type(bits, jnp.int32)


def _to_float64(x):
    if x.dtype == jnp.float64:
        return lax.bitcast_convert_type(x, jnp.int64)
    return widen_bits(lax.bitcast_convert_type(x, jnp.int32))


def _from_float64(bits, dtype):
    if dtype == jnp.float64:
        return lax.bitcast_convert_type(bits, jnp.float64)
    return lax.bitcast_convert_type(narrow_bits(bits), jnp.float32)


def operand(bits, pin):
    """Operands (float64 bits) rounded into the input format; returns float64 values."""
    return lax.bitcast_convert_type(float_element(bits, pin, pin, 0, 0), jnp.float64)


def arith(op: str, xs, pin, pout, dtype, seed_lo=0, seed_hi=0):
    """``op`` over broadcast operands ``xs`` (float32/float64 arrays of one shape), each rounded
    into the input format, the exact result rounded once into the output format; the result in
    ``dtype`` (float32 or float64)."""
    with jax.enable_x64(True):
        vals = [operand(_to_float64(x), pin) for x in xs]
        vals += [jnp.zeros_like(vals[0])] * (3 - len(vals))
        hi, lo = EXACT[op](*vals, pout.mode)
        key0, key1 = sr_keys(seed_lo, seed_hi)
        res = float_element(round_odd_bits(hi, lo), pout, pout, key0, key1)
        return _from_float64(res, jnp.dtype(dtype))
