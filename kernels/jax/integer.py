"""Integer-only pipelines (the JAX twin of kernels/numba/integer.py).

The same algorithms, vectorised: every branch becomes a ``jnp.where``, row loops become
reductions over the last axis (``keepdims``), shift amounts are clipped so that no lane shifts
by 64 or more. Everything runs in int64 (float64 for HAWQ's rounding), so the callers enter
``jax.enable_x64(True)`` (x64 may be off globally; the context works under jit and vmap). The
loop-level entry points (the names of the Numba loops) do that themselves and are jitted: the
integer constants derived from a scale are traced arguments (one compilation per shape and
dtype, not per scale), the element function, the variant and the output dtype are static.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from .rounding import bit_length

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
_IBERT_NUM = (1 << 31) * 10000
#: Newton steps of :func:`ibert_sqrt`: from 2^ceil(bits/2) (at most twice the root) the
#: relative error falls 1 -> 1/4 -> 1/40 -> 3e-4 -> 5e-8 -> 1e-15, so 7 steps reach the floor of
#: the root of any 63-bit integer and the last ones only confirm it (tests check the bound).
IBERT_SQRT_STEPS = 10


def _i64(x):
    return jnp.asarray(x).astype(jnp.int64)


# ---- scalar helpers -------------------------------------------------------------------------------
def wrap32(v):
    """``v`` modulo 2^32 as a two's complement int32 value (held in int64)."""
    return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000


def wrap_bits(v, bits: int):
    """``v`` modulo ``2^bits`` as a two's complement value."""
    half = 1 << (bits - 1)
    return ((v + half) & ((half << 1) - 1)) - half


def tdiv32(a, b):
    """int32 division truncating toward zero; ``x / 0 = -1``, ``INT32_MIN / -1 = INT32_MIN``."""
    zero = b == 0
    q = jnp.abs(a) // jnp.where(zero, 1, jnp.abs(b))
    return jnp.where(zero, -1, wrap32(jnp.where((a < 0) == (b < 0), q, -q)))


def shl32(v, s):
    """int32 left shift: ``v * 2^s`` modulo 2^32, 0 for ``s`` outside [0, 31]."""
    return jnp.where((s >= 0) & (s <= 31), wrap32(v << jnp.clip(s, 0, 31)), 0)


# ---- dyadic requantization -----------------------------------------------------------------------
def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul (see the Numba twin)."""
    a, b = _i64(a), _i64(b)
    ab = a * b
    v = ab + jnp.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    q = jnp.where(v >= 0, v >> 31, -((-v) >> 31))
    return jnp.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, q)


def rdbpot(x, e):
    """gemmlowp RoundingDivideByPOT (see the Numba twin)."""
    x, e = _i64(x), jnp.clip(_i64(e), 0, 63)
    mask = ~(jnp.int64(-1) << e)
    thr = (mask >> 1) + (x < 0).astype(jnp.int64)
    return (x >> e) + ((x & mask) > thr).astype(jnp.int64)


def mbqm_double(x, m, s):
    """MultiplyByQuantizedMultiplier, double rounding (see the Numba twin)."""
    s = _i64(s)
    return rdbpot(srdhm(wrap32(_i64(x) << jnp.clip(s, 0, 31)), m), jnp.maximum(-s, 0))


def mbqm_single(x, m, s):
    """MultiplyByQuantizedMultiplier, TFLITE_SINGLE_ROUNDING (see the Numba twin)."""
    total = jnp.clip(31 - _i64(s), 1, 62)
    return wrap32((_i64(x) * _i64(m) + (jnp.int64(1) << (total - 1))) >> total)


def mbqm_int64(x, m, s):
    """MultiplyByQuantizedMultiplier of an int64 ``x`` (see the Numba twin)."""
    reduced = jnp.minimum((_i64(m) + (1 << 15)) >> 16, 0x7FFF)
    total = jnp.clip(15 - _i64(s), 1, 62)
    return wrap32((_i64(x) * reduced + (jnp.int64(1) << (total - 1))) >> total)


def pow2_f64(k):
    """``2^k`` as float64 for integer ``k`` in [-1022, 1023], built from its bits (exact)."""
    return lax.bitcast_convert_type((_i64(k) + 1023) << 52, jnp.float64)


def hawq_mul(x, m, s):
    """HAWQ's fixedpoint_mul rounding: ``rint(fl64(x m) / 2^(31 - s))`` as float64."""
    prod = _i64(x).astype(jnp.float64) * _i64(m).astype(jnp.float64)
    return jnp.rint(prod * pow2_f64(_i64(s) - 31))


def _x64(*static: str):
    """Jit ``fn`` with the named arguments static (the rest, integer constants included, are
    traced: one compilation per shape and dtype, not per scale) and run it inside
    ``jax.enable_x64(True)``."""
    def decorate(fn):
        jitted = jax.jit(fn, static_argnames=static)

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with jax.enable_x64(True):
                return jitted(*args, **kwargs)
        return wrapped
    return decorate


@_x64("fn", "dtype")
def map_elements(fn, *args, dtype):
    """``fn(*args)`` with broadcasting, in int64, cast to ``dtype`` (the Numba ``map_elements``)."""
    return fn(*args).astype(dtype)


@_x64("fn", "dtype")
def requantize_elements(fn, acc, m, s, zero_point: int, lo: int, hi: int, dtype):
    """``clamp(fn(acc, m, s) + zero_point, lo, hi)`` in ``dtype``; ``m`` and ``s`` broadcast
    against ``acc`` (per channel along an axis, or scalars)."""
    v = fn(acc, m, s) + zero_point
    return jnp.clip(v, lo, hi).astype(dtype)


# ---- integer GEMM ----------------------------------------------------------------------------------
def matmul_wrap(a, b, bias):
    """``wrap32(a @ b + bias)`` for integer ``a`` (M, K), ``b`` (K, N) whose zero points are
    subtracted already: XLA's integer dot accumulates in int32 and wraps."""
    acc = lax.dot_general(a, b, (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32)
    return acc + bias.astype(jnp.int32)


@_x64()
def matmul_saturate(a, b, bias):
    """``a @ b + bias`` with every partial sum (``k`` order, bias last) clamped to int32, by a
    scan over ``k``; returns (int32 result, per-row flag: a partial sum was clamped)."""
    def add(carry, v):
        acc, hit = carry
        t = acc + v
        c = jnp.clip(t, INT32_MIN, INT32_MAX)
        return c, hit | jnp.any(c != t, axis=-1)

    def step(carry, col_row):
        col, row = col_row
        return add(carry, _i64(col)[:, None] * _i64(row)[None, :]), None

    m, n = a.shape[0], b.shape[1]
    carry, _ = lax.scan(step, (jnp.zeros((m, n), jnp.int64), jnp.zeros(m, bool)), (a.T, b))
    acc, hit = add(carry, _i64(bias)[None, :])
    return acc.astype(jnp.int32), hit


# ---- I-ViT --------------------------------------------------------------------------------------
def floor_div(a, b):
    """``floor(a / b)`` for ``b > 0`` and ``|a| < 2^52`` (see the Numba twin)."""
    q = (a.astype(jnp.float64) * (1.0 / jnp.asarray(b, jnp.float64))).astype(jnp.int64)
    q = q - (q * b > a).astype(jnp.int64)
    return q + ((q + 1) * b <= a).astype(jnp.int64)


def shift_exp(x, x0: int, n: int, cap: int):
    """I-ViT's int_exp_shift (PyTorch), capped at ``cap`` (see the Numba twin)."""
    x = x + (x >> 1) - (x >> 4)
    x = jnp.maximum(x, n * x0)
    q = floor_div(-x, -x0)  # floor(x / x0)
    v = x - x0 * q - 2 * x0
    t = n - q - 1
    tc = jnp.clip(t, 0, 62)
    big = (t > 62) | (v > (cap >> tc))
    return jnp.where(t < 0, jnp.minimum(v >> 1, cap), jnp.where(big, cap, v << tc))


def shift_exp_tvm(x, x0: int, n: int):
    """The TVM graph's shift_exp (see the Numba twin)."""
    x = wrap32(x + (x >> 1) - (x >> 4))
    x = jnp.maximum(x, wrap32(n * x0))
    q = tdiv32(x, x0)
    r = wrap32(x - wrap32(q * x0))
    return shl32(wrap32((r >> 1) - x0), wrap32(n - q))


@_x64()
def shift_exp_rows(x, x0: int, n: int, cap: int):
    """``shift_exp`` elementwise, as int64."""
    return shift_exp(_i64(x), x0, n, cap)


@_x64("dtype")
def shiftmax_rows(x, x0: int, n: int, out_shift: int, dtype):
    """Shiftmax (PyTorch) over the last axis, in ``dtype``."""
    x = _i64(x)
    e = shift_exp(x - x.max(axis=-1, keepdims=True), x0, n, 1 << 62)
    f = INT32_MAX // jnp.minimum(e.sum(axis=-1, keepdims=True), INT32_MAX)
    return ((e * f) >> out_shift).astype(dtype)


@_x64("dtype")
def shiftmax_rows_tvm(x, x0: int, n: int, out_shift: int, out_bits: int, dtype):
    """Shiftmax as I-ViT's TVM graph computes it, over the last axis, in ``dtype``."""
    x = _i64(x)
    e = shift_exp_tvm(wrap32(x - x.max(axis=-1, keepdims=True)), x0, n)
    f = tdiv32(INT32_MAX, wrap32(e.sum(axis=-1, keepdims=True)))
    return wrap_bits(wrap32(f * e) >> out_shift, out_bits).astype(dtype)


@_x64()
def shiftgelu_rows(x, x0: int, n: int, out_shift: int):
    """ShiftGELU (PyTorch) over the last axis, as int64 (see the Numba twin)."""
    x = _i64(x)
    top = x.max(axis=-1, keepdims=True)
    e = shift_exp(x - top, x0, n, 1 << 62)
    e_max = shift_exp(-top, x0, n, INT32_MAX)
    return x * ((e * (INT32_MAX // jnp.minimum(e + e_max, INT32_MAX))) >> out_shift)


@_x64()
def shiftgelu_rows_tvm(x, x0: int, n: int, out_shift: int):
    """ShiftGELU as I-ViT's TVM graph computes it, over the last axis, as int32."""
    x = _i64(x)
    top = x.max(axis=-1, keepdims=True)
    e = shift_exp_tvm(wrap32(x - top), x0, n)
    e_max = shift_exp_tvm(wrap32(-top), x0, n)
    sig = wrap32(tdiv32(INT32_MAX, wrap32(e + e_max)) * e) >> out_shift
    return wrap32(x * sig).astype(jnp.int32)


def ivit_sqrt(v):
    """Ten steps ``k = (k + v // k) // 2`` from ``k = 2^16``."""
    k = jnp.full_like(v, 1 << 16)
    for _ in range(10):
        k = (k + v // k) // 2
    return k


def mean_half_even(total, c: int):
    """``round(total / c)``, ties to even."""
    q = jnp.floor_divide(total, c)
    r2 = 2 * (total - q * c)
    return q + ((r2 > c) | ((r2 == c) & (q & 1 == 1))).astype(jnp.int64)


def ibert_sqrt(v):
    """I-BERT's Algorithm 4 (see the Numba twin), as :data:`IBERT_SQRT_STEPS` frozen steps."""
    pos = v > 0
    v = jnp.where(pos, v, 1)
    x = jnp.int64(1) << ((bit_length(v) + 1) >> 1)
    done = jnp.zeros(v.shape, bool)
    for _ in range(IBERT_SQRT_STEPS):
        y = (x + v // x) >> 1
        done = done | (y >= x)
        x = jnp.where(done, x, y)
    return jnp.where(pos, x, 0)


@_x64("kind")
def layernorm_rows(x, bias, kind: int, shift: int):
    """I-LayerNorm over the last axis before scaling (``kind`` 0: I-ViT PyTorch, 2: I-BERT;
    see the Numba twin), as int64."""
    x, bias = _i64(x), _i64(bias)
    y = x - mean_half_even(x.sum(axis=-1, keepdims=True), x.shape[-1])
    ys = y >> shift
    var = (ys * ys).sum(axis=-1, keepdims=True)
    if kind == 0:
        f = INT32_MAX // ivit_sqrt(var)
    else:
        f = _IBERT_NUM // (10000 * (ibert_sqrt(var) << shift) + 1)
    return ((y * f) >> 1) + bias


@_x64()
def layernorm_rows_tvm(x, bias):
    """I-LayerNorm as I-ViT's TVM graph computes it (see the Numba twin), as int32."""
    x, bias = _i64(x), _i64(bias)
    mean = tdiv32(wrap32(x.sum(axis=-1, keepdims=True)), x.shape[-1])
    y = wrap32(x - mean)
    var = (wrap32(y * y) & 0xFFFFFFFF).sum(axis=-1, keepdims=True) & 0xFFFFFFFF
    f = tdiv32(INT32_MAX, wrap32(ivit_sqrt(var)))
    return wrap32(tdiv32(wrap32(f * y), 2) + bias).astype(jnp.int32)


# ---- I-BERT -------------------------------------------------------------------------------------
def ibert_exp(x, x0: int, b: int, c: int):
    """I-BERT i-exp of integers ``x <= 0`` (positive ``x`` counts as 0; see the Numba twin)."""
    x = jnp.maximum(jnp.minimum(x, 0), 30 * x0)
    q = floor_div(-x, -x0)  # floor(x / x0)
    r = x - x0 * q
    return jnp.maximum((r * (r + b) + c) << (30 - q), 0)


@_x64()
def ibert_exp_rows(x, x0: int, b: int, c: int):
    """``ibert_exp`` elementwise, as int64."""
    return ibert_exp(_i64(x), x0, b, c)


@_x64()
def ibert_softmax_rows(x, x0: int, b: int, c: int, m: int, s: int, out_shift: int):
    """I-BERT i-softmax over the last axis (see the Numba twin), as int32."""
    x = _i64(x)
    e = ibert_exp(x - x.max(axis=-1, keepdims=True), x0, b, c)
    e16 = jnp.clip(hawq_mul(e, m, s), -32768.0, 32767.0).astype(jnp.int64)
    f = (1 << 32) // e16.sum(axis=-1, keepdims=True)
    return ((e16 * f) >> out_shift).astype(jnp.int32)


@_x64()
def ibert_gelu_rows(x, b: int, c: int, shift: int):
    """I-BERT i-GELU elementwise (see the Numba twin), as int64."""
    x = _i64(x)
    a = jnp.minimum(jnp.abs(x), -b) + b
    y = (jnp.sign(x) * (a * a + c)) >> 14
    return x * (y + shift)
