"""Integer-only pipelines: dyadic requantization, integer GEMM and the I-ViT / I-BERT
nonlinearities (the definitions are in ``lpemu/reference/_integer.py``).

Every value is held in int64, so an int32 rule that wraps is written as an explicit
:func:`wrap32`; floors of quotients by powers of two are arithmetic shifts. The loops are serial
and release the GIL (``nogil=True``): the public layer runs them on row blocks in threads. The
scalar functions are also the element functions of the loops, so ``kernels/jax/integer.py``
follows them name for name.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from .rounding import bit_length

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
#: I-BERT's ``floor(2^31 / (std + 0.0001))`` is ``floor(2^31 10^4 / (10^4 std + 1))``.
_IBERT_NUM = (1 << 31) * 10000


# ---- scalar helpers -------------------------------------------------------------------------------
@nb.njit(inline="always")
def wrap32(v):
    """``v`` modulo 2^32 as a two's complement int32 value (held in int64)."""
    return ((v + 0x80000000) & 0xFFFFFFFF) - 0x80000000


@nb.njit(inline="always")
def wrap_bits(v, bits):
    """``v`` modulo ``2^bits`` as a two's complement value."""
    half = np.int64(1) << (bits - 1)
    return ((v + half) & ((half << 1) - 1)) - half


@nb.njit(inline="always")
def tdiv32(a, b):
    """int32 division truncating toward zero, with ``x / 0 = -1`` and ``INT32_MIN / -1 =
    INT32_MIN`` (the int32 rules of the TVM graphs)."""
    if b == 0:
        return np.int64(-1)
    q = abs(a) // abs(b)
    return wrap32(q if (a < 0) == (b < 0) else -q)


@nb.njit(inline="always")
def shl32(v, s):
    """int32 left shift: ``v * 2^s`` modulo 2^32, 0 for ``s`` outside [0, 31]."""
    return wrap32(v << s) if (s >= 0) & (s <= 31) else np.int64(0)


# ---- dyadic requantization -----------------------------------------------------------------------
@nb.njit(inline="always")
def srdhm(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul: ``(a b + nudge) / 2^31`` truncated, with
    ``nudge = 2^30`` for ``a b >= 0`` and ``1 - 2^30`` otherwise; MIN * MIN saturates."""
    ab = np.int64(a) * np.int64(b)
    v = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    q = (v >> 31) if v >= 0 else -((-v) >> 31)
    return np.int64(INT32_MAX) if (a == INT32_MIN) & (b == INT32_MIN) else q


@nb.njit(inline="always")
def rdbpot(x, e):
    """gemmlowp RoundingDivideByPOT: ``(x >> e) + (rem > threshold)``."""
    x = np.int64(x)
    mask = ~(np.int64(-1) << e)
    thr = (mask >> 1) + np.int64(x < 0)
    return (x >> e) + np.int64((x & mask) > thr)


@nb.njit(inline="always")
def mbqm_double(x, m, s):
    """MultiplyByQuantizedMultiplier, double rounding: the left shift wraps, then SRDHM, then
    RDBPOT."""
    return rdbpot(srdhm(wrap32(np.int64(x) << max(s, 0)), m), max(-s, 0))


@nb.njit(inline="always")
def mbqm_single(x, m, s):
    """MultiplyByQuantizedMultiplier, TFLITE_SINGLE_ROUNDING: one rounding shift, then the
    int32 cast."""
    total = 31 - s
    return wrap32((np.int64(x) * m + (np.int64(1) << (total - 1))) >> total)


@nb.njit(inline="always")
def mbqm_int64(x, m, s):
    """MultiplyByQuantizedMultiplier of an int64 ``x``: a 16-bit multiplier, one rounding
    shift, then the int32 cast."""
    reduced = min((np.int64(m) + (1 << 15)) >> 16, 0x7FFF)
    total = 15 - s
    return wrap32((np.int64(x) * reduced + (np.int64(1) << (total - 1))) >> total)


@nb.njit(inline="always")
def hawq_mul(x, m, s):
    """HAWQ's fixedpoint_mul rounding: ``rint(fl64(x m) / 2^(31 - s))`` as a float64."""
    return np.rint(np.float64(x) * np.float64(m) * np.ldexp(1.0, s - 31))


@functools.cache
def map_elements(fn, arity: int):
    """A loop ``out[i] = fn(a[i](, b[i](, c[i])))`` over 1-D arrays (the public layer broadcasts)."""
    if arity == 1:
        @nb.njit(nogil=True)
        def loop(a, out):
            for i in range(out.size):
                out[i] = fn(a[i])
    elif arity == 2:
        @nb.njit(nogil=True)
        def loop(a, b, out):
            for i in range(out.size):
                out[i] = fn(a[i], b[i])
    else:
        @nb.njit(nogil=True)
        def loop(a, b, c, out):
            for i in range(out.size):
                out[i] = fn(a[i], b[i], c[i])
    return loop


@functools.cache
def requantize_elements(fn):
    """A loop ``out = clamp(fn(acc, m, s) + zero_point, lo, hi)`` over ``acc`` of shape
    (outer, C, inner) with per-channel ``m``, ``s`` of length C (per-tensor: repeated)."""
    @nb.njit(nogil=True)
    def loop(acc, m, s, zero_point, lo, hi, out):
        outer, channels, inner = acc.shape
        for p in range(outer):
            for c in range(channels):
                mc, sc = m[c], s[c]
                for q in range(inner):
                    v = fn(acc[p, c, q], mc, sc) + zero_point
                    out[p, c, q] = min(max(v, lo), hi)
    return loop


# ---- integer GEMM ----------------------------------------------------------------------------------
@nb.njit(nogil=True)
def matmul_wrap(a, b, bias, out):
    """``out = wrap32(a @ b + bias)`` for int32 ``a`` (M, K), ``b`` (K, N) whose zero points are
    subtracted already (so |products| <= 255^2). Wrapping makes the order irrelevant: the
    int32 row accumulator wraps as it goes (LLVM keeps these loops in 32-bit lanes)."""
    m, k = a.shape
    n = b.shape[1]
    acc = np.empty(n, np.int32)
    for i in range(m):
        acc[:] = 0
        for t in range(k):
            av = a[i, t]
            if av != 0:
                for j in range(n):
                    acc[j] += av * b[t, j]
        for j in range(n):
            out[i, j] = acc[j] + bias[j]


@nb.njit(inline="always")
def add_saturate(acc, v):
    """``acc + v`` clamped to int32, and whether it was clamped."""
    t = acc + v
    c = min(max(t, INT32_MIN), INT32_MAX)
    return c, c != t


@nb.njit(nogil=True)
def matmul_saturate(a, b, bias, out, hit):
    """``out = a @ b + bias`` with every partial sum (in ``k`` order, the bias last) clamped to
    int32; ``hit[i]`` is set when a partial sum of row ``i`` was clamped."""
    m, k = a.shape
    n = b.shape[1]
    acc = np.empty(n, np.int64)
    for i in range(m):
        acc[:] = 0
        clamped = False
        for t in range(k):
            av = np.int64(a[i, t])
            for j in range(n):
                acc[j], c = add_saturate(acc[j], av * b[t, j])
                clamped |= c
        for j in range(n):
            out[i, j], c = add_saturate(acc[j], np.int64(bias[j]))
            clamped |= c
        hit[i] = clamped


# ---- I-ViT --------------------------------------------------------------------------------------
@nb.njit(inline="always")
def floor_div(a, b):
    """``floor(a / b)`` for ``b > 0`` and ``|a| < 2^52``, exactly, without an integer division:
    the float64 product with 1/b, truncated, is within one of the floor, and two comparisons correct
    it. (The exponentials divide every element by the same ``x0``; a 64-bit ``idiv`` per element
    made Shiftmax four times slower.)"""
    q = np.int64(np.float64(a) * (1.0 / np.float64(b)))
    q -= np.int64(q * b > a)
    return q + np.int64((q + 1) * b <= a)


@nb.njit(inline="always")
def shift_exp(x, x0, n, cap):
    """I-ViT's int_exp_shift (PyTorch) of one integer (``x0 < 0``): ``floor(2^(n - q) (r/2 - x0))``
    as ``v << (n - q - 1)`` with ``v = r - 2 x0`` (or ``v >> 1`` when ``q = n``), capped at
    ``cap`` without overflowing."""
    x = x + (x >> 1) - (x >> 4)
    x = max(x, n * x0)
    q = floor_div(-x, -x0)  # floor(x / x0)
    v = x - x0 * q - 2 * x0
    t = n - q - 1
    if t < 0:
        return min(v >> 1, cap)
    if t > 62 or v > (cap >> t):
        return np.int64(cap)
    return v << t


@nb.njit(inline="always")
def shift_exp_tvm(x, x0, n):
    """The TVM graph's shift_exp: int32 arithmetic that wraps, a truncating ``x / x0``."""
    x = wrap32(x + (x >> 1) - (x >> 4))
    x = max(x, wrap32(n * x0))
    q = tdiv32(x, x0)
    r = wrap32(x - wrap32(q * x0))
    return shl32(wrap32((r >> 1) - x0), wrap32(n - q))


@nb.njit(nogil=True)
def shift_exp_rows(x, out, x0, n, cap):
    """``out = shift_exp(x)`` elementwise over (rows, C)."""
    rows, c = x.shape
    for i in range(rows):
        for j in range(c):
            out[i, j] = shift_exp(np.int64(x[i, j]), x0, n, cap)


@nb.njit(nogil=True)
def shiftmax_rows(x, out, x0, n, out_shift):
    """Shiftmax (PyTorch) of each row of ``x`` (rows, C)."""
    rows, c = x.shape
    e = np.empty(c, np.int64)
    for i in range(rows):
        top = np.int64(x[i].max())
        total = np.int64(0)
        for j in range(c):
            e[j] = shift_exp(np.int64(x[i, j]) - top, x0, n, np.int64(1) << 62)
            total += e[j]
        f = INT32_MAX // min(total, INT32_MAX)
        for j in range(c):
            out[i, j] = (e[j] * f) >> out_shift


@nb.njit(nogil=True)
def shiftmax_rows_tvm(x, out, x0, n, out_shift, out_bits):
    """Shiftmax as I-ViT's TVM graph computes it (int32 wrapping, a final wrap to ``out_bits``)."""
    rows, c = x.shape
    e = np.empty(c, np.int64)
    for i in range(rows):
        top = np.int64(x[i].max())
        total = np.int64(0)
        for j in range(c):
            e[j] = shift_exp_tvm(wrap32(np.int64(x[i, j]) - top), x0, n)
            total = wrap32(total + e[j])
        f = tdiv32(INT32_MAX, total)
        for j in range(c):
            out[i, j] = wrap_bits(wrap32(f * e[j]) >> out_shift, out_bits)


@nb.njit(nogil=True)
def shiftgelu_rows(x, out, x0, n, out_shift):
    """ShiftGELU (PyTorch) of each row: ``x floor(e floor((2^31-1) / min(e + e', 2^31-1)) /
    2^out_shift)`` with ``e' = exp(-x_max)`` capped at 2^31 - 1 (the min reads no more)."""
    rows, c = x.shape
    for i in range(rows):
        top = np.int64(x[i].max())
        e_max = shift_exp(-top, x0, n, INT32_MAX)
        for j in range(c):
            xv = np.int64(x[i, j])
            e = shift_exp(xv - top, x0, n, np.int64(1) << 62)
            sig = (e * (INT32_MAX // min(e + e_max, INT32_MAX))) >> out_shift
            out[i, j] = xv * sig


@nb.njit(nogil=True)
def shiftgelu_rows_tvm(x, out, x0, n, out_shift):
    """ShiftGELU as I-ViT's TVM graph computes it (int32 wrapping throughout)."""
    rows, c = x.shape
    for i in range(rows):
        top = np.int64(x[i].max())
        e_max = shift_exp_tvm(wrap32(-top), x0, n)
        for j in range(c):
            xv = np.int64(x[i, j])
            e = shift_exp_tvm(wrap32(xv - top), x0, n)
            sig = wrap32(tdiv32(INT32_MAX, wrap32(e + e_max)) * e) >> out_shift
            out[i, j] = wrap32(xv * sig)


@nb.njit(inline="always")
def ivit_sqrt(v):
    """Ten steps ``k = (k + v // k) // 2`` from ``k = 2^16`` (``v >= 0``)."""
    k = np.int64(1 << 16)
    for _ in range(10):
        k = (k + v // k) // 2
    return k


@nb.njit(inline="always")
def mean_half_even(total, c):
    """``round(total / c)``, ties to even, for ``c > 0``."""
    q = total // c
    r2 = 2 * (total - q * c)
    return q + np.int64((r2 > c) | ((r2 == c) & (q & 1 == 1)))


@nb.njit(inline="always")
def ibert_sqrt(v):
    """I-BERT's Algorithm 4: Newton's iteration from ``2^ceil(bits(v)/2)`` until it stops
    decreasing; ``floor(sqrt(v))``, 0 for ``v <= 0``."""
    if v <= 0:
        return np.int64(0)
    x = np.int64(1) << ((bit_length(v) + 1) >> 1)
    while True:
        y = (x + v // x) >> 1
        if y >= x:
            return x
        x = y


@nb.njit(nogil=True)
def layernorm_rows(x, out, bias, kind, shift):
    """I-LayerNorm of each row before scaling, ``kind`` 0: I-ViT PyTorch (10-step square root,
    ``floor((2^31 - 1) / k)``), 2: I-BERT (exact square root of the ``shift``-ed squares,
    ``floor(2^31 / (std + 0.0001))``)."""
    rows, c = x.shape
    y = np.empty(c, np.int64)
    for i in range(rows):
        total = np.int64(0)
        for j in range(c):
            total += x[i, j]
        mean = mean_half_even(total, c)
        var = np.int64(0)
        for j in range(c):
            y[j] = np.int64(x[i, j]) - mean
            var += (y[j] >> shift) * (y[j] >> shift)
        if kind == 0:
            f = INT32_MAX // ivit_sqrt(var)
        else:
            f = _IBERT_NUM // (10000 * (ibert_sqrt(var) << shift) + 1)
        for j in range(c):
            out[i, j] = ((y[j] * f) >> 1) + bias[j]


@nb.njit(nogil=True)
def layernorm_rows_tvm(x, out, bias):
    """I-LayerNorm as I-ViT's TVM graph computes it: int32 mean (truncated), squares wrapped to
    int32 and summed as uint32, uint32 square-root steps, int32 products and a truncating / 2."""
    rows, c = x.shape
    y = np.empty(c, np.int64)
    for i in range(rows):
        total = np.int64(0)
        for j in range(c):
            total = wrap32(total + x[i, j])
        mean = tdiv32(total, c)
        var = np.int64(0)
        for j in range(c):
            y[j] = wrap32(np.int64(x[i, j]) - mean)
            var = (var + (wrap32(y[j] * y[j]) & 0xFFFFFFFF)) & 0xFFFFFFFF
        f = tdiv32(INT32_MAX, wrap32(ivit_sqrt(var)))
        for j in range(c):
            out[i, j] = wrap32(tdiv32(wrap32(f * y[j]), 2) + bias[j])


# ---- I-BERT -------------------------------------------------------------------------------------
@nb.njit(inline="always")
def ibert_exp(x, x0, b, c):
    """I-BERT i-exp of one integer ``x <= 0`` (constants ``x0 = floor(-0.6931/S)``,
    ``b = floor(b/S)``, ``c = floor(c/S^2)``); positive ``x`` counts as 0."""
    x = max(min(x, 0), 30 * x0)
    q = floor_div(-x, -x0)  # floor(x / x0)
    r = x - x0 * q
    return max((r * (r + b) + c) << (30 - q), 0)


@nb.njit(nogil=True)
def ibert_exp_rows(x, out, x0, b, c):
    """``out = ibert_exp(x)`` elementwise over (rows, C)."""
    rows, cols = x.shape
    for i in range(rows):
        for j in range(cols):
            out[i, j] = ibert_exp(np.int64(x[i, j]), x0, b, c)


@nb.njit(nogil=True)
def ibert_softmax_rows(x, out, x0, b, c, m, s, out_shift):
    """I-BERT i-softmax of each row: i-exp, the 16-bit HAWQ requantization by ``(m, s)``,
    ``f = floor(2^32 / sum)``, ``floor(e16 f / 2^out_shift)``."""
    rows, cols = x.shape
    e = np.empty(cols, np.int64)
    for i in range(rows):
        top = np.int64(x[i].max())
        total = np.int64(0)
        for j in range(cols):
            v = hawq_mul(ibert_exp(np.int64(x[i, j]) - top, x0, b, c), m, s)
            e[j] = np.int64(min(max(v, -32768.0), 32767.0))
            total += e[j]
        f = (np.int64(1) << 32) // total
        for j in range(cols):
            out[i, j] = (e[j] * f) >> out_shift


@nb.njit(nogil=True)
def ibert_gelu_rows(x, out, b, c, shift):
    """I-BERT i-GELU elementwise over (rows, C)."""
    rows, cols = x.shape
    for i in range(rows):
        for j in range(cols):
            xv = np.int64(x[i, j])
            a = min(abs(xv), -b) + b
            y = a * a + c
            y = (y if xv > 0 else (-y if xv < 0 else np.int64(0))) >> 14
            out[i, j] = xv * (y + shift)
