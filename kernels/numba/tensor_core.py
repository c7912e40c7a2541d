"""NVIDIA tensor-core matrix multiply-accumulate, bit for bit (shared/specs/tensor-cores.md).

One block FMA adds ``n`` exact products and an addend ``c`` in fixed point:

1. every operand gets its adder exponent once (:func:`input_exponent`: its binade, or the
   format's ``emin`` for subnormals); a product's exponent is ``ea + eb``;
2. ``E`` = the largest term exponent, at least ``min_exp`` (:func:`block_sum`, first pass);
3. each term is truncated toward zero to ``frac = 23 + neab`` fraction bits below ``2^E``
   and the truncated terms are added exactly (second pass);
4. the sum is normalised once and rounded to the output grid (:func:`round_block`): toward
   zero to ``23 + min(neab, 0)`` fraction bits for fp32, to nearest even for fp16; the result
   is the next block's addend.

Interleaved blocks (H100/H200 FP8 with fp16 output) run two half-blocks (products ``4t, 4t+1``
then ``4t+2, 4t+3``; the caller orders K so that each half is contiguous), the second with the
first's result as addend, and then add ``c`` with one rounding to nearest even
(:func:`add_round`).

Everything is exact float64 arithmetic on integer-valued quantities. A term is
``trunc(a * b * 2^(frac - E))``: the product of two float32s is exact in float64, scaling by a
power of two is exact (or gives a value below 1, which truncates to 0 as it should), and the
truncated terms are integers below 2^31 whose sums (below 2^42) float64 holds exactly. The
rounded result ``k * 2^q`` is likewise computed with ``trunc``/``rint`` of the sum scaled by a
power of two. Powers of two are built from their bits (:func:`pow2_bits`) in int64 arrays read
through float64 views, in separate loops (LLVM vectorises a loop only when its arrays cannot
alias). Measured at 256^3 on this 2-core machine: an int64 shift-and-sign formulation of the
same steps ran 2x slower, and ``math.ldexp`` for the powers of two 10x slower.

Layout: ``va``/``ea`` are (M, Kp) float64 values/exponents of ``a``; ``vb``/``eb`` are (Kp, N)
of ``b``. The kernel is parallel over rows of the output and vectorised along the row: every
inner loop runs over up to :data:`CHUNK` output columns (blocks are only 4..32 products long,
too short to vectorise along K; a fixed tile of 16 columns was fully unrolled by LLVM and then
not vectorised, 4x slower).

Parameters are a tuple of ints, ``(n, frac, min_exp, out_frac, out_emin, out_emax, rne,
interleave, nan_bits)`` (built by ``lpemu._tensor_cores.kernel_params``; ``nan_bits`` are the
float32 bits of a NaN result); every function here assumes them valid.
``kernels/jax/tensor_core.py`` is the same algorithm.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

#: Exponent given to zero operands and addends: far below every real exponent, so a zero never
#: sets E.
ZERO_EXP = -(1 << 24)
#: Output columns computed together: the inner loops run over them (vectorised), and their
#: working arrays (about 100 bytes per column) stay in the L1 cache.
CHUNK = 256
#: fp32 exponent of the smallest normal (an addend's exponent is never below it, spec step 2).
FP32_EMIN = -126


@nb.njit(inline="always")
def bit_length(x: int) -> int:
    """Number of bits of ``x >= 0`` (0 for 0)."""
    return 64 - leading_zeros(np.int64(x))


@nb.njit(inline="always")
def pow2_bits(e: int) -> int:
    """The float64 bits of ``2^e`` for ``-1022 <= e <= 1023``."""
    return np.int64(1023 + e) << 52


@nb.njit(inline="always")
def input_exponent(bits: int, emin: int) -> int:
    """The exponent a float32 (``bits``, int32) enters the adder with: its binade, but at least
    ``emin`` (subnormals, spec step 1); :data:`ZERO_EXP` for zero, NaN and Inf."""
    mag = bits & 0x7FFFFFFF
    e = max(max(mag >> 23, 1) - 127, emin)
    return np.int64(e if (mag != 0) & (mag < 0x7F800000) else ZERO_EXP)


@nb.njit(inline="always")
def addend_exponent(k: float, q: int) -> int:
    """The exponent of the addend ``k * 2^q`` (``k`` integer-valued, below 2^62): its binade,
    but at least -126 (spec step 2); :data:`ZERO_EXP` for 0."""
    bl = bit_length(np.int64(abs(k)))
    return max(q + bl - 1, FP32_EMIN) if bl != 0 else ZERO_EXP


@nb.njit(cache=True)
def split_operand(x, perm, val, exp, emin):
    """Rows of float32 ``x`` (R, K) as float64 values ``val`` (0 for NaN and Inf) and adder
    exponents ``exp`` (R, Kp): column ``k`` takes element ``perm[k]`` (-1: a zero, the padding)."""
    bits = x.view(np.int32)
    for r in range(x.shape[0]):
        for k in range(perm.shape[0]):
            src = perm[k]
            if src >= 0:
                v = np.float64(x[r, src])
                val[r, k] = v if np.isfinite(v) else 0.0
                exp[r, k] = input_exponent(np.int64(bits[r, src]), emin)
            else:
                val[r, k] = 0.0
                exp[r, k] = ZERO_EXP


@nb.njit(inline="always")
def block_sum(va, ea, vb, eb, i, j0, w, k0, k1, c, ce, acc, e_top, scale_bits, min_exp, frac):
    """One block FMA before rounding, for outputs ``(i, j0 + j)``, ``j < w``: products
    ``k0 <= k < k1`` plus the addends ``c`` (exponents ``ce``). Fills ``e_top`` with E and
    ``acc`` with the exact sum of the truncated terms, in units of ``2^(E - frac)``. Eight, then
    four products at a time: fewer loads and stores of ``e_top``/``acc`` per product."""
    scale = scale_bits.view(np.float64)
    for j in range(w):
        e_top[j] = max(ce[j], min_exp)
    k = k0
    while k + 8 <= k1:
        e0, e1, e2, e3 = ea[i, k], ea[i, k + 1], ea[i, k + 2], ea[i, k + 3]
        e4, e5, e6, e7 = ea[i, k + 4], ea[i, k + 5], ea[i, k + 6], ea[i, k + 7]
        b0, b1 = eb[k, j0:j0 + w], eb[k + 1, j0:j0 + w]
        b2, b3 = eb[k + 2, j0:j0 + w], eb[k + 3, j0:j0 + w]
        b4, b5 = eb[k + 4, j0:j0 + w], eb[k + 5, j0:j0 + w]
        b6, b7 = eb[k + 6, j0:j0 + w], eb[k + 7, j0:j0 + w]
        for j in range(w):
            e_top[j] = max(max(max(e_top[j], e0 + b0[j]), max(e1 + b1[j], e2 + b2[j])),
                           max(max(e3 + b3[j], e4 + b4[j]), max(max(e5 + b5[j], e6 + b6[j]), e7 + b7[j])))
        k += 8
    while k + 4 <= k1:
        e0, e1, e2, e3 = ea[i, k], ea[i, k + 1], ea[i, k + 2], ea[i, k + 3]
        b0, b1 = eb[k, j0:j0 + w], eb[k + 1, j0:j0 + w]
        b2, b3 = eb[k + 2, j0:j0 + w], eb[k + 3, j0:j0 + w]
        for j in range(w):
            e_top[j] = max(max(e_top[j], e0 + b0[j]), max(max(e1 + b1[j], e2 + b2[j]), e3 + b3[j]))
        k += 4
    while k < k1:
        e0 = ea[i, k]
        b0 = eb[k, j0:j0 + w]
        for j in range(w):
            e_top[j] = max(e_top[j], e0 + b0[j])
        k += 1
    for j in range(w):
        scale_bits[j] = pow2_bits(frac - e_top[j])
    for j in range(w):
        acc[j] = np.trunc(c[j] * scale[j])
    k = k0
    while k + 8 <= k1:
        a0, a1, a2, a3 = va[i, k], va[i, k + 1], va[i, k + 2], va[i, k + 3]
        a4, a5, a6, a7 = va[i, k + 4], va[i, k + 5], va[i, k + 6], va[i, k + 7]
        v0, v1 = vb[k, j0:j0 + w], vb[k + 1, j0:j0 + w]
        v2, v3 = vb[k + 2, j0:j0 + w], vb[k + 3, j0:j0 + w]
        v4, v5 = vb[k + 4, j0:j0 + w], vb[k + 5, j0:j0 + w]
        v6, v7 = vb[k + 6, j0:j0 + w], vb[k + 7, j0:j0 + w]
        for j in range(w):
            s = scale[j]
            acc[j] += (((np.trunc(a0 * v0[j] * s) + np.trunc(a1 * v1[j] * s))
                        + (np.trunc(a2 * v2[j] * s) + np.trunc(a3 * v3[j] * s)))
                       + ((np.trunc(a4 * v4[j] * s) + np.trunc(a5 * v5[j] * s))
                          + (np.trunc(a6 * v6[j] * s) + np.trunc(a7 * v7[j] * s))))
        k += 8
    while k + 4 <= k1:
        a0, a1, a2, a3 = va[i, k], va[i, k + 1], va[i, k + 2], va[i, k + 3]
        v0, v1 = vb[k, j0:j0 + w], vb[k + 1, j0:j0 + w]
        v2, v3 = vb[k + 2, j0:j0 + w], vb[k + 3, j0:j0 + w]
        for j in range(w):
            s = scale[j]
            acc[j] += ((np.trunc(a0 * v0[j] * s) + np.trunc(a1 * v1[j] * s))
                       + (np.trunc(a2 * v2[j] * s) + np.trunc(a3 * v3[j] * s)))
        k += 4
    while k < k1:
        a0 = va[i, k]
        v0 = vb[k, j0:j0 + w]
        for j in range(w):
            acc[j] += np.trunc(a0 * v0[j] * scale[j])
        k += 1


@nb.njit(inline="always")
def _round_scaled(w, acc, qe, down_bits, up_bits, p, rne, c, ce, ovf, oneg):
    """``c = round(acc * down) * up`` (``down = 2^-(quantum exponent)``, ``up = 2^qe``), toward
    zero or to nearest even, with its addend exponent, and the first overflow recorded. A zero
    result is +0 (also from a negative sum: measured on an H100)."""
    down = down_bits.view(np.float64)
    up = up_bits.view(np.float64)
    limit = 2.0 ** (p[5] + 1)
    for j in range(w):
        y = acc[j] * down[j]
        k = np.rint(y) if rne else np.trunc(y)
        r = k * up[j]
        c[j] = r if r != 0 else 0.0
        ce[j] = addend_exponent(k, qe[j])
        of = abs(r) >= limit
        oneg[j] = (r < 0) if of & (not ovf[j]) else oneg[j]
        ovf[j] = ovf[j] | of


@nb.njit(inline="always")
def round_block(w, acc, e_top, frac, p, rne, c, ce, qe, down_bits, up_bits, ovf, oneg):
    """Spec step 5: normalise each block sum ``acc * 2^(E - frac)`` once and round it to the
    output grid (``out_frac`` fraction bits per binade; binades below ``out_emin`` share its
    quantum); the results become the addends ``c`` (exponents ``ce``). Overflow (reaching
    ``2^(out_emax + 1)``) is recorded in ``ovf``, its sign in ``oneg``."""
    for j in range(w):
        lsb = e_top[j] - frac
        q = max(lsb + bit_length(np.int64(abs(acc[j]))) - 1, p[4]) - p[3]
        qe[j] = q
        down_bits[j] = pow2_bits(lsb - q)
        up_bits[j] = pow2_bits(q)
    _round_scaled(w, acc, qe, down_bits, up_bits, p, rne, c, ce, ovf, oneg)


@nb.njit(inline="always")
def add_round(w, c, ce, d, acc, qe, down_bits, up_bits, p, ovf, oneg):
    """Interleaved blocks: ``c = c + d`` rounded to nearest even once.

    ``c + d`` is first rounded to float64, which cannot change the final rounding: the
    operands have at most 24 bits and 53 >= 2 * 24 + 1 (double rounding is innocuous)."""
    acc_bits = acc.view(np.int64)
    for j in range(w):
        acc[j] = c[j] + d[j]
    for j in range(w):
        ev = ((acc_bits[j] >> 52) & 0x7FF) - 1023
        q = max(ev, p[4]) - p[3]
        qe[j] = q
        down_bits[j] = pow2_bits(-q)
        up_bits[j] = pow2_bits(q)
    _round_scaled(w, acc, qe, down_bits, up_bits, p, 1, c, ce, ovf, oneg)


@nb.njit(inline="always")
def _special(a, bt, i, j, cv, K) -> int:
    """Spec step 7 from the exact products and c: 1 NaN, 2 +Inf, 3 -Inf, 0 none of them."""
    nan = cv != cv
    pinf = cv == np.inf
    ninf = cv == -np.inf
    for k in range(K):
        pr = np.float64(a[i, k]) * np.float64(bt[j, k])
        nan |= pr != pr
        pinf |= pr == np.inf
        ninf |= pr == -np.inf
    if nan | (pinf & ninf):
        return 1
    if pinf:
        return 2
    return 3 if ninf else 0


@nb.njit(inline="always")
def tc_row(va, ea, vb, eb, cm, row_special, col_special, a, bt, out, p, i):
    """Row ``i`` of the output (see :func:`tc_matmul`), :data:`CHUNK` columns at a time."""
    n, frac, min_exp = p[0], p[1], p[2]
    rne, interleave = p[6], p[7]
    nblocks = va.shape[1] // n
    N = out.shape[1]
    K = a.shape[1]
    half = n // 2
    width = min(CHUNK, N)
    c_bits = cm.view(np.int32)
    out_bits = out.view(np.uint32)
    c = np.empty(width, np.float64)
    ce = np.empty(width, np.int64)
    d = np.empty(width, np.float64)
    de = np.empty(width, np.int64)
    zero = np.zeros(width, np.float64)
    zero_e = np.full(width, ZERO_EXP, np.int64)
    acc = np.empty(width, np.float64)
    e_top = np.empty(width, np.int64)
    qe = np.empty(width, np.int64)
    scale_bits = np.empty(width, np.int64)
    down_bits = np.empty(width, np.int64)
    up_bits = np.empty(width, np.int64)
    ovf = np.zeros(width, np.bool_)
    oneg = np.zeros(width, np.bool_)
    for j0 in range(0, N, CHUNK):
        w = min(CHUNK, N - j0)
        for j in range(w):
            cv = np.float64(cm[i, j0 + j])
            c[j] = cv if np.isfinite(cv) else 0.0
            ce[j] = input_exponent(np.int64(c_bits[i, j0 + j]), FP32_EMIN)
            ovf[j] = False
            oneg[j] = False
        for blk in range(nblocks):
            k0 = blk * n
            if interleave:
                block_sum(va, ea, vb, eb, i, j0, w, k0, k0 + half, zero, zero_e, acc, e_top, scale_bits,
                          min_exp, frac)
                round_block(w, acc, e_top, frac, p, rne, d, de, qe, down_bits, up_bits, ovf, oneg)
                block_sum(va, ea, vb, eb, i, j0, w, k0 + half, k0 + n, d, de, acc, e_top, scale_bits,
                          min_exp, frac)
                round_block(w, acc, e_top, frac, p, rne, d, de, qe, down_bits, up_bits, ovf, oneg)
                add_round(w, c, ce, d, acc, qe, down_bits, up_bits, p, ovf, oneg)
            else:
                block_sum(va, ea, vb, eb, i, j0, w, k0, k0 + n, c, ce, acc, e_top, scale_bits, min_exp, frac)
                round_block(w, acc, e_top, frac, p, rne, c, ce, qe, down_bits, up_bits, ovf, oneg)
        for j in range(w):
            r = np.float32(c[j])
            inf = np.float32(-np.inf) if oneg[j] else np.float32(np.inf)
            out[i, j0 + j] = inf if ovf[j] else r
        for j in range(j0, j0 + w):
            cv = np.float64(cm[i, j])
            if row_special[i] | col_special[j] | (not np.isfinite(cv)):
                sp = _special(a, bt, i, j, cv, K)
                if sp == 1:
                    out_bits[i, j] = p[8]
                elif sp != 0:
                    out[i, j] = np.float32(np.inf) if sp == 2 else np.float32(-np.inf)


@nb.njit(parallel=True, cache=True)
def tc_matmul(va, ea, vb, eb, cm, row_special, col_special, a, bt, out, p):
    """``out`` (M, N) float32 = the tensor-core ``a @ b + c``, parallel over rows.

    ``va``/``ea``, ``vb``/``eb``: split operands (see the module docstring); ``cm`` (M, N)
    float32 c (already rounded to fp16 for fp16 output); ``row_special``/``col_special``: rows
    of ``a`` / columns of ``b`` holding a NaN or Inf; ``a`` (M, K) and ``bt`` (N, K): the float32
    operands, read only for those. ``p``: the parameter tuple.
    """
    for i in nb.prange(va.shape[0]):
        tc_row(va, ea, vb, eb, cm, row_special, col_special, a, bt, out, p, i)


@nb.njit(cache=True)
def tc_matmul_serial(va, ea, vb, eb, cm, row_special, col_special, a, bt, out, p):
    """:func:`tc_matmul` on the calling thread, for small problems (starting the thread pool
    costs more than they do)."""
    for i in range(va.shape[0]):
        tc_row(va, ea, vb, eb, cm, row_special, col_special, a, bt, out, p, i)
