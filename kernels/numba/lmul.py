"""L-Mul approximate multiplication (Luo & Sun 2024, arXiv 2410.00907) of values of a float format.

One element at a time, on the container's bit fields, with integer arithmetic only (the
definition and its rules for zeros, specials and the exponent range are in ``lpemu/lmul.py``):

1. Split each operand into its exponent ``e`` and ``M``-bit mantissa field ``m`` (normalised,
   so a subnormal operand of the format contributes its true exponent and significand).
2. ``s = mx + my + 2^(M - l)``: the mantissa sum with the offset, in units of 2^-M. The
   ``bits`` form carries into the exponent when ``s >= 2^M`` (significand ``s``, exponent
   ``ex + ey + 1``), as the integer add of the codes does; the ``formula`` form keeps
   ``2^M + s`` (up to 3 * 2^M, so it may need one more bit than the format has).
3. Round the exact ``sig * 2^e`` once into the format with the product's rounding mode
   (:func:`~lpemu.kernels.numba.rounding.round_away`, the quantize kernel's decision), with an
   unbounded exponent above, to ``k * 2^q``; the overflow policy applies to ``k * 2^q``.
4. Encode ``k * 2^q`` as container bits; zero, Inf and NaN operands overwrite the result, as
   selects.

No step uses floating-point arithmetic, so the result does not depend on the FPU's subnormal
handling (XLA on CPU flushes float32 subnormals to zero: the JAX twin, which is this algorithm
function for function, would lose them in a float conversion).
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from ..params import LMUL_BITS, NAN_SIGN_INPUT, NAN_SIGN_NEGATIVE, OV_INFINITY
from .rounding import _toward_zero, bit_length, round_away

_SIGN64 = np.int64(-(2**63))
_SIGN32 = np.int64(-(2**31))
#: Arrays smaller than this run a serial loop (as kernels/numba/specialize.py).
PARALLEL_MIN_SIZE = 1 << 14


@nb.njit(inline="always")
def layout(mc: int) -> tuple[int, int, int]:
    """(bias, sign bit as a negative integer, exponent mask = Inf) of the float32 (``mc = 23``)
    or float64 (``mc = 52``) container."""
    if mc == 23:
        return 127, _SIGN32, np.int64(0xFF << 23)
    return 1023, _SIGN64, np.int64(0x7FF << 52)


@nb.njit(inline="always")
def normalized(a: int, mc: int, bias: int) -> tuple[int, int]:
    """(exponent, ``mc``-bit fraction) of container magnitude bits ``a > 0``: the value is
    (1 + fraction / 2^mc) * 2^exponent, container subnormals included (shifted up to their
    leading bit)."""
    e = a >> mc
    n = bit_length(a)
    sub = e == 0
    exp = (n - bias - mc) if sub else (e - bias)
    frac = ((a << max(mc + 1 - n, 0)) if sub else a) & ((np.int64(1) << mc) - 1)
    return exp, frac


@nb.njit(inline="always")
def encode(k: int, q: int, mc: int, bias: int) -> int:
    """Container magnitude bits of ``k * 2^q`` (``k >= 0``; the value must be a container
    number: ``q >= 1 - bias - mc``)."""
    n = bit_length(max(k, 1))
    b = q + n - 1  # binade
    kn = (k << max(mc + 1 - n, 0)) >> max(n - mc - 1, 0)  # leading bit at position mc
    normal = ((b + bias - 1) << mc) + kn  # the leading bit adds 1 to the exponent field
    sub = k << min(max(q - (1 - bias - mc), 0), 62)
    res = normal if b >= 1 - bias else sub
    return res if k > 0 else 0


@nb.njit(inline="always")
def round_scaled(sig: int, e: int, neg: bool, p) -> tuple[int, int]:
    """``sig * 2^e`` (``2^M <= sig < 2^(M+2)``) rounded once into the format with mode
    ``p.mode``, with an unbounded exponent above: ``(k, q)`` with the result ``k * 2^q``."""
    mt = p.mt
    b = e + bit_length(sig) - 1  # binade of the exact value
    if p.subn:
        q = max(b, p.emin) - mt  # exponent of the quantum
    else:
        q = (b - mt) if b >= p.emin else p.emin  # below min normal: 0 or 2^emin
    shift = q - e  # >= 0 since sig >= 2^M
    # sig < 2^(M+2): clipping the shift there keeps every deterministic decision (f < 1/2
    # beyond it; round_away's mc + 1 bound is M + 2)
    sc = min(shift, mt + 2)
    mask = (np.int64(1) << sc) - 1
    k = (sig >> sc) + np.int64(round_away(p.mode, neg, sig, mask, shift, 0, 1, mt + 1))
    if p.nozero and k == 0:  # formats without zero: the smallest value 2^emin
        k = 1
        q = p.emin
    return k, q


@nb.njit(inline="always")
def overflows(k: int, q: int, p) -> bool:
    """Whether ``k * 2^q`` exceeds the largest finite value ``max_sig * 2^(emax - M)``."""
    mt = p.mt
    n = bit_length(max(k, 1))
    b = q + n - 1
    kn = (k << max(mt + 1 - n, 0)) >> max(n - mt - 1, 0)  # M + 1 significant bits
    return (k > 0) & ((b > p.emax) | ((b == p.emax) & (kn > p.max_sig)))


@nb.njit(inline="always")
def lmul_bits(bx: int, by: int, p, mc: int) -> int:
    """L-Mul of two operands given as signed container bits (float32 bits for ``mc = 23``,
    float64 bits for ``mc = 52``, as int64) whose values are exactly in the format (``p``: an
    :class:`~lpemu.kernels.params.LMulParams`); returns the product's signed container bits.
    NaN results are the container's quiet NaN with the sign that ``p.nan_sign`` gives."""
    bias, sign_bit, inf = layout(mc)
    sign = (bx ^ by) & sign_bit
    neg = sign != 0
    ax = bx & ~sign_bit
    ay = by & ~sign_bit
    mt = p.mt
    ex, fx = normalized(max(ax, 1), mc, bias)
    ey, fy = normalized(max(ay, 1), mc, bias)
    one = np.int64(1) << mt
    s = (fx >> (mc - mt)) + (fy >> (mc - mt)) + p.off  # mantissa fields + offset, < 2^(M+1)
    if p.form == LMUL_BITS:
        carry = s >= one  # the integer add carries into the exponent field
        sig = s if carry else s + one
        e = ex + ey - mt + np.int64(carry)
    else:
        sig = s + one
        e = ex + ey - mt
    k, q = round_scaled(sig, e, neg, p)
    qnan = inf | (np.int64(1) << (mc - 1))
    if p.nan_sign == NAN_SIGN_INPUT:
        nan = qnan | sign
    else:
        nan = qnan | (sign_bit if p.nan_sign == NAN_SIGN_NEGATIVE else 0)
    zero = sign if p.negzero else 0
    res = (encode(k, q, mc, bias) | sign) if k > 0 else zero
    # overflow: the format's policy (docs/semantics.md clause 6)
    if overflows(k, q, p):
        if p.overflow != OV_INFINITY or _toward_zero(p.mode, neg):
            res = encode(p.max_sig, p.emax - mt, mc, bias) | sign
        else:
            res = (inf | sign) if p.has_inf else nan
    # zero operands, infinite operands (Inf * 0 is NaN), NaN operands
    zx = ax == 0
    zy = ay == 0
    if zx | zy:
        res = zero
    if (ax == inf) | (ay == inf):
        res = nan if (zx | zy) else (inf | sign)
    if (ax > inf) | (ay > inf):
        res = nan
    return res


@nb.njit(inline="always")
def lmul_value(x: float, y: float, p) -> float:
    """L-Mul of two float64 values that are exactly in the format; returns the product, a
    float64 value of the format (see :func:`lmul_bits`)."""
    r = lmul_bits(np.float64(x).view(np.int64), np.float64(y).view(np.int64), p, 52)
    return np.int64(r).view(np.float64)


@nb.njit(inline="always")
def lmul_value32(x, y, p):
    """:func:`lmul_value` for float32 values (a float32 container) and a float32 result."""
    r = lmul_bits(np.int64(np.float32(x).view(np.int32)), np.int64(np.float32(y).view(np.int32)), p, 23)
    return np.int32(r).view(np.float32)


@functools.cache
def _loop(parallel: bool, single: bool):
    if single:
        @nb.njit(parallel=parallel)
        def loop(x, y, out, p):
            for i in nb.prange(out.size):
                out[i] = lmul_value32(x[i], y[i], p)
    else:
        @nb.njit(parallel=parallel)
        def loop(x, y, out, p):
            for i in nb.prange(out.size):
                out[i] = lmul_value(x[i], y[i], p)

    return loop


def lmul_array(x, y, out, p, parallel: bool | None = None) -> None:
    """``out[i] = lmul_value(x[i], y[i], p)`` over 1-D float64 arrays, or float32 arrays with
    :func:`lmul_value32`, whose values are in the format (``out`` of the same dtype): serial
    for small arrays and parallel for large ones, unless ``parallel`` says which.

    The operands are rounded into the format beforehand by the quantize kernel, in a pass of
    its own: fusing that rounding into this loop (``float_element`` inlined twice) made the
    first call compile for 10 s serial and 25 s parallel instead of about 1 s and 3 s, for a
    memory pass that costs a few milliseconds per 2^22 elements.
    """
    if parallel is None:
        parallel = out.size >= PARALLEL_MIN_SIZE
    _loop(parallel, out.dtype == np.float32)(x, y, out, p)
