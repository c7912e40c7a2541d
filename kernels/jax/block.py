"""Block-scaled quantization (the JAX twin of kernels/numba/block.py).

The same algorithm, vectorised over a 2-D array of container bits ``x[row, j]``: the rows are
zero-padded to whole blocks to reduce each block's amax, the block scales are repeated back
over their elements, and every element then goes through the same scaling by exponent edits
and the same element rounding as the Numba kernel. Elements stay in the unpadded ``(rows, n)``
layout, so element ``(row, j)`` has the flat index ``row * n + j`` that stochastic rounding
hashes, as in the Numba kernel. All parameters are static Python ints.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from .codec import bits_to_code
from .rounding import bit_length, fixed_element, float_element, split_bits

FLOOR, CEIL, EVEN, RCEIL, AMAX = range(5)


def shift_exponent(a, d, p):
    """Magnitude bits of ``value(a) * 2^d`` for finite non-zero container bits ``a`` (see the
    Numba twin: exact, sticky below the normal range, Inf above)."""
    mc = p.mc
    sig, b, lsb = split_bits(a, p, True)
    nsig = sig << (mc - (b - lsb))
    t = b + d
    emin_c = 1 - p.bias_c
    normal = ((t + p.bias_c) << mc) | (nsig & ((1 << mc) - 1))
    sh = jnp.clip(emin_c - t, 0, mc + 2)
    sticky = ((nsig & ((jnp.ones_like(nsig) << sh) - 1)) != 0).astype(nsig.dtype)
    low = (nsig >> sh) | sticky
    return jnp.where(t >= emin_c, jnp.where(t > p.bias_c, p.exp_mask_c, normal), low).astype(a.dtype)


def scale_exponent(amax, p, bp):
    """The unclamped scale exponent of blocks with amax bits ``amax > 0`` (finite)."""
    mc = p.mc
    sig, b, lsb = split_bits(amax, p, True)
    nsig = sig << (mc - (b - lsb))
    if bp.rule == CEIL:
        b = b + (nsig != (1 << mc)).astype(b.dtype)
    elif bp.rule == EVEN:
        b = b + ((nsig + (1 << (mc - bp.even_bits - 1))) >> (mc + 1))
    elif bp.rule == RCEIL:
        b = b + (nsig > (bp.msig << (mc - bp.mt_e))).astype(b.dtype)
    return b - bp.emax_e


def _blocks(v, k: int, fill):
    """``v`` (rows, n) padded with ``fill`` to whole blocks, as (rows, nb, k)."""
    rows, n = v.shape
    nb = -(-n // k)
    v = jnp.pad(v, ((0, 0), (0, nb * k - n)), constant_values=fill)
    return v.reshape(rows, nb, k)


def _expand(s, k: int, n: int):
    """Per-block values (rows, nb) repeated over their elements: (rows, n). A broadcast (which
    XLA fuses into its users) rather than ``jnp.repeat`` (a gather with scatter-built indices)."""
    rows, nb = s.shape
    return jnp.broadcast_to(s[:, :, None], (rows, nb, k)).reshape(rows, nb * k)[:, :n]


def int_bits(k, p):
    """Container magnitude bits of integers ``0 < k < 2^(mc+1)`` (exact)."""
    bl = bit_length(k)
    return ((bl - 1 + p.bias_c) << p.mc) | ((k << (p.mc + 1 - bl)) & ((1 << p.mc) - 1))


def _elements(x, s, pe, p, bp, key0, key1):
    """(dequantized container bits, element codes) of every element with its scale 2^s."""
    it = x.dtype
    sign = x & jnp.asarray(p.sign_bit_c, it)
    a = x & p.mag_mask_c
    if bp.flush:
        a = jnp.where(a < bp.tiny_bits, 0, a)
    finite = (a != 0) & (a < p.exp_mask_c)
    sa = jnp.where(finite, shift_exponent(jnp.maximum(a, 1), -s, p), a)
    sbits = sa | sign
    if bp.fixed:
        k = fixed_element(sbits, pe, pe, key0, key1)
        if bp.symmetric:
            k = jnp.maximum(k, -pe.kmax)
        code = k & ((1 << pe.width) - 1)
        ka = jnp.abs(k)
        mag = jnp.where(ka != 0, shift_exponent(int_bits(jnp.maximum(ka, 1), p), s - pe.frac, p), 0)
        return mag | jnp.where(k < 0, jnp.asarray(p.sign_bit_c, it), jnp.asarray(0, it)), code
    res = float_element(sbits, pe, pe, key0, key1)
    ra = res & p.mag_mask_c
    code = bits_to_code(ra, res < 0, pe)
    ra = jnp.where((ra != 0) & (ra < p.exp_mask_c), shift_exponent(jnp.maximum(ra, 1), s, p), ra)
    return ra | (res & jnp.asarray(p.sign_bit_c, it)), code


def pow2_blocks(x, pe, p, bp, key0, key1):
    """(dequantized bits, element codes, scale codes) of 2-D container bits ``x``."""
    rows, n = x.shape
    a = x & p.mag_mask_c
    if bp.flush:
        a = jnp.where(a < bp.tiny_bits, 0, a)
    ab = _blocks(a, bp.k, 0)
    bad = jnp.any(ab >= p.exp_mask_c, axis=-1)
    amax = jnp.max(jnp.where(ab < p.exp_mask_c, ab, 0), axis=-1)
    s = scale_exponent(jnp.maximum(amax, 1), p, bp)
    s = jnp.where(amax == 0, bp.smin, s)
    nan = bad if bp.nonfinite_nan else jnp.zeros(bad.shape, bool)
    if bp.scale_nan:
        nan = nan | (s > bp.smax)
    s = jnp.clip(s, bp.smin, bp.smax)
    scodes = jnp.where(nan, bp.snan, s + bp.sbias)
    vals, codes = _elements(x, _expand(s, bp.k, n), pe, p, bp, key0, key1)
    nan_e = _expand(nan, bp.k, n)
    vals = jnp.where(nan_e, p.qnan_c, vals).astype(x.dtype)
    codes = jnp.where(nan_e, 0, codes)
    return vals, codes, scodes


# ---- float scales (NVFP4) ----------------------------------------------------------------------
_TINY32 = 2.0**-126


def div(a, b):
    """Correctly rounded float32 ``a / b``. XLA rewrites a division by a broadcast scalar into a
    multiplication by its reciprocal (measured: x / 6 is wrong for a third of random x). The
    divisor is passed through a select on a condition XLA cannot fold (``(bits(a) | 1) != 0``,
    always true), so it is no longer a broadcast and the IEEE division stays, fused with its
    neighbours (an optimization barrier would keep it too, but splits the fusion: NVFP4 ran
    1.6x slower that way)."""
    a = jnp.asarray(a, jnp.float32)
    b = jnp.asarray(b, jnp.float32)
    shape = jnp.broadcast_shapes(a.shape, b.shape)
    a = jnp.broadcast_to(a, shape)
    keep = (lax.bitcast_convert_type(a, jnp.int32) | 1) != 0
    return a / jnp.where(keep, b, jnp.float32(1.0))


def ftz(v):
    """float32 values with subnormals flushed to zeros of their sign."""
    return jnp.where(jnp.abs(v) >= _TINY32, v, v * jnp.float32(0.0))


def _finite_magnitudes(x):
    """Magnitude bits of float32 bits ``x`` with subnormals flushed and Inf/NaN made 0: their
    integer maximum is the bits of the largest finite magnitude (an integer reduction, about
    twice as fast on XLA CPU as the float one, which must propagate NaN)."""
    a = x & 0x7FFFFFFF
    return jnp.where((a >= 1 << 23) & (a < 0x7F800000), a, 0)


def tensor_scale(x, bp):
    """The float32 per-tensor scale S_enc of float32 bits ``x`` (1 without a tensor scale)."""
    if not bp.tensor_scale:
        return jnp.float32(1.0)
    amax = lax.bitcast_convert_type(jnp.max(_finite_magnitudes(x), initial=0), jnp.float32)
    big = jnp.minimum(div(bp.scale_max * bp.elem_max, amax), jnp.finfo(jnp.float32).max)
    return jnp.where(amax == 0, jnp.float32(1.0), big)


def amax_blocks(x, s_enc, pe, p, ps, bp, key0, key1):
    """(value bits, element codes, scale codes) of float32 bits ``x`` with the NVFP4 recipe."""
    rows, n = x.shape
    xv = ftz(lax.bitcast_convert_type(x, jnp.float32))
    bad = jnp.any(_blocks(x & 0x7FFFFFFF, bp.k, 0) >= 0x7F800000, axis=-1)
    amax = lax.bitcast_convert_type(jnp.max(_blocks(_finite_magnitudes(x), bp.k, 0), axis=-1), jnp.float32)
    t = ftz(ftz(div(amax, bp.elem_max)) * s_enc)
    sres = float_element(lax.bitcast_convert_type(t, jnp.int32), ps, ps, 0, 0)
    scode = bits_to_code(sres & p.mag_mask_c, sres < 0, ps)
    sd = lax.bitcast_convert_type(sres, jnp.float32)
    su = t if bp.unrounded else sd
    r = jnp.where(su != 0, ftz(div(s_enc, jnp.where(su != 0, su, 1.0))), 0.0).astype(jnp.float32)
    nan = bad if bp.nonfinite_nan else jnp.zeros(bad.shape, bool)
    scodes = jnp.where(nan, ps.nan_code, scode)
    y = ftz(xv * _expand(r, bp.k, n))
    ybits = lax.bitcast_convert_type(y, jnp.int32)
    if bp.fixed:
        k = fixed_element(ybits, pe, pe, key0, key1)
        if bp.symmetric:
            k = jnp.maximum(k, -pe.kmax)
        code = k & ((1 << pe.width) - 1)
        qv = k.astype(jnp.float32) * jnp.float32(pe.quantum)
    else:
        res = float_element(ybits, pe, pe, key0, key1)
        code = bits_to_code(res & p.mag_mask_c, res < 0, pe)
        qv = lax.bitcast_convert_type(res, jnp.float32)
    val = ftz(div(ftz(qv * _expand(sd, bp.k, n)), s_enc))
    vals = lax.bitcast_convert_type(val, jnp.int32)
    nan_e = _expand(nan, bp.k, n)
    vals = jnp.where(nan_e, p.qnan_c, vals).astype(jnp.int32)
    codes = jnp.where(nan_e, 0, code)
    return vals, codes, scodes
