"""Block-scaled quantization (MX, BFP, NVFP4): one shared scale per block of ``k`` elements.

The input is a 2-D array of container bits ``x[row, j]`` (int32 for float32, int64 for
float64); block ``q`` of a row holds elements ``q * k .. min((q + 1) * k, n) - 1`` (the last
block of a row may be short: it is the zero-padded block of lpemu.block's rule, since zeros
change neither the amax nor any other element). Blocks are numbered ``g = row * nb + q`` and a
call processes blocks ``g0 .. g1 - 1``, so the caller can split the work between threads.

Power-of-two scales (:func:`pow2_blocks`), per block:

1. ``amax`` = the largest finite magnitude, as container bits (magnitudes of IEEE floats
   order like their bit patterns), with fp32-subnormal inputs dropped when flushing.
2. The scale exponent ``s`` from amax's exact binade and significand (:func:`scale_exponent`).
3. Each element: its bits times ``2^-s`` by editing the exponent (:func:`shift_exponent`,
   exact, or with a sticky bit below the container's normal range, where no element rounding can
   tell the difference); then the existing element rounding (``float_element`` /
   ``fixed_element``), then times ``2^s`` again for the dequantized value.

Float scales (NVFP4, :func:`amax_blocks`): float32 arithmetic with subnormals flushed to zero,
see lpemu.block.BlockFormat. ``kernels/jax/block.py`` is the same algorithm.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from ..params import Flags

from .codec import bits_to_code
from .random import sr_keys
from .rounding import bit_length, fixed_element, float_element, split_bits

FLOOR, CEIL, EVEN, RCEIL, AMAX = range(5)


@nb.njit(inline="always")
def shift_exponent(a: int, d: int, p) -> int:
    """Magnitude bits of ``value(a) * 2^d`` for finite non-zero container bits ``a``.

    Exact when the result is a normal container number; below that range the significand is
    shifted right with the discarded bits OR-ed into the last bit (sticky); above it, Inf.
    """
    mc = p.mc
    sig, b, lsb = split_bits(a, p, True)
    nsig = sig << (mc - (b - lsb))  # leading bit at position mc
    t = b + d
    emin_c = 1 - p.bias_c
    if t >= emin_c:
        res = ((t + p.bias_c) << mc) | (nsig & ((np.int64(1) << mc) - 1))
        return p.exp_mask_c if t > p.bias_c else res
    sh = min(emin_c - t, mc + 2)
    sticky = np.int64((nsig & ((np.int64(1) << sh) - 1)) != 0)
    return (nsig >> sh) | sticky


@nb.njit(inline="always")
def scale_exponent(amax: int, p, bp) -> int:
    """The unclamped scale exponent of a block with amax bits ``amax > 0`` (finite)."""
    mc = p.mc
    sig, b, lsb = split_bits(amax, p, True)
    nsig = sig << (mc - (b - lsb))
    if bp.rule == CEIL:
        b += np.int64(nsig != (np.int64(1) << mc))
    elif bp.rule == EVEN:
        b += (nsig + (np.int64(1) << (mc - bp.even_bits - 1))) >> (mc + 1)
    elif bp.rule == RCEIL:
        b += np.int64(nsig > (np.int64(bp.msig) << (mc - bp.mt_e)))
    return b - bp.emax_e


@nb.njit(inline="always")
def _block_scale(x, row, j0, j1, p, bp):
    """(s, nan block?) of the elements x[row, j0:j1]."""
    amax = 0
    bad = False
    for j in range(j0, j1):
        a = np.int64(x[row, j]) & p.mag_mask_c
        if bp.flush and a < bp.tiny_bits:
            a = 0
        bad |= a >= p.exp_mask_c
        if a < p.exp_mask_c:
            amax = max(amax, a)
    s = scale_exponent(max(amax, 1), p, bp)
    if amax == 0:
        s = bp.smin
    nan = bad and bp.nonfinite_nan
    if s > bp.smax:
        nan |= bp.scale_nan != 0
        s = bp.smax
    s = max(s, bp.smin)
    return s, nan


@nb.njit(inline="always")
def int_bits(k: int, p) -> int:
    """Container magnitude bits of the integer ``0 < k < 2^(mc+1)`` (exact)."""
    bl = bit_length(k)
    return ((bl - 1 + p.bias_c) << p.mc) | ((k << (p.mc + 1 - bl)) & ((np.int64(1) << p.mc) - 1))


@nb.njit(inline="always")
def _scaled_input(bits: int, s: int, p, bp) -> int:
    """Signed container bits of the element ``bits`` times 2^-s (flushed first when asked)."""
    sign = bits & p.sign_bit_c
    a = bits & p.mag_mask_c
    if bp.flush and a < bp.tiny_bits:
        a = 0
    finite = (a != 0) & (a < p.exp_mask_c)
    return (shift_exponent(max(a, 1), -s, p) if finite else a) | sign


@nb.njit(inline="always")
def pow2_float_element(bits: int, s: int, i: int, pe, fe, p, bp, key0, key1):
    """(dequantized signed container bits, code) of one float element under scale 2^s."""
    res = float_element(_scaled_input(bits, s, p, bp), i, pe, fe, key0, key1)
    ra = res & p.mag_mask_c
    code = bits_to_code(ra, res < 0, pe, fe)
    if (ra != 0) & (ra < p.exp_mask_c):
        ra = shift_exponent(ra, s, p)
    return ra | (res & p.sign_bit_c), code


@nb.njit(inline="always")
def pow2_fixed_element(bits: int, s: int, i: int, pe, fe, p, bp, key0, key1):
    """(dequantized signed container bits, two's-complement code) of one integer element."""
    k = fixed_element(_scaled_input(bits, s, p, bp), i, pe, fe, key0, key1)
    if bp.symmetric:
        k = max(k, -pe.kmax)
    code = k & ((np.int64(1) << pe.width) - 1)
    ka = abs(k)
    # |k| < 2^(mc+1): its container bits, times 2^(s - frac)
    mag = shift_exponent(int_bits(max(ka, 1), p), s - pe.frac, p) if ka != 0 else 0
    return mag | (p.sign_bit_c if k < 0 else 0), code


def make_pow2_blocks(element):
    """The block loop over one element kind (``pow2_float_element`` or ``pow2_fixed_element``:
    Numba types every branch, so the kind is chosen when the loop is built)."""

    @nb.njit(inline="always")
    def pow2_blocks(x, vals, codes, scales, g0, g1, pe, fe, p, bp, key0, key1, want_vals):
        """Blocks g0..g1-1 of ``x``: scale codes into ``scales[row, q]``, element codes into
        ``codes`` or (``want_vals``) dequantized container bits into ``vals``."""
        n = x.shape[1]
        nb_ = scales.shape[1]
        k = bp.k
        for g in range(g0, g1):
            row = g // nb_
            q = g - row * nb_
            j0 = q * k
            j1 = min(j0 + k, n)
            s, nan = _block_scale(x, row, j0, j1, p, bp)
            scales[row, q] = bp.snan if nan else s + bp.sbias
            for j in range(j0, j1):
                v, c = element(np.int64(x[row, j]), s, row * n + j, pe, fe, p, bp, key0, key1)
                if nan:
                    v = p.qnan_c
                    c = 0
                if want_vals:
                    vals[row, j] = v
                else:
                    codes[row, j] = c

    return pow2_blocks


# ---- float scales (NVFP4) ----------------------------------------------------------------------
_TINY32 = np.float32(2.0**-126)


@nb.njit(inline="always")
def ftz(v):
    """float32 ``v`` with a subnormal flushed to a zero of its sign."""
    return v if abs(v) >= _TINY32 else v * np.float32(0.0)


@nb.njit(inline="always")
def _f32(bits) -> np.float32:
    return np.int32(bits).view(np.float32)


@nb.njit(inline="always")
def _b32(v) -> int:
    return np.int64(np.float32(v).view(np.int32))


@nb.njit(nogil=True)
def tensor_amax(x, r0: int, r1: int) -> np.float32:
    """The largest finite magnitude of rows r0..r1-1 of float32 bits ``x`` (subnormals as 0)."""
    amax = np.float32(0.0)
    for row in range(r0, r1):
        for j in range(x.shape[1]):
            v = ftz(abs(_f32(x[row, j])))
            if v < np.float32(np.inf):
                amax = max(amax, v)
    return amax


@nb.njit(inline="always")
def _amax_input(bits: int, r):
    """float32 bits of ``x * r`` (flush to zero)."""
    return _b32(ftz(ftz(_f32(bits)) * r))


@nb.njit(inline="always")
def amax_float_element(bits: int, r, i, pe, fe, p, bp, key0, key1):
    """(element value as float32, code) of ``round(x * r)``."""
    res = float_element(_amax_input(bits, r), i, pe, fe, key0, key1)
    return _f32(res), bits_to_code(res & p.mag_mask_c, res < 0, pe, fe)


@nb.njit(inline="always")
def amax_fixed_element(bits: int, r, i, pe, fe, p, bp, key0, key1):
    """(element value as float32, two's-complement code) of ``round(x * r)``."""
    k = fixed_element(_amax_input(bits, r), i, pe, fe, key0, key1)
    if bp.symmetric:
        k = max(k, -pe.kmax)
    return np.float32(k * pe.quantum), k & ((np.int64(1) << pe.width) - 1)


def make_amax_blocks(element):
    """The float-scale (NVFP4) block loop over one element kind."""

    @nb.njit(inline="always")
    def amax_blocks(x, vals, codes, scales, g0, g1, s_enc, pe, fe, p, ps, fs, bp, key0, key1, want_vals):
        """Blocks g0..g1-1 of float32 bits ``x`` with the NVFP4 recipe; ``s_enc`` is the float32
        per-tensor scale, ``ps``/``fs`` round into the scale format (RNE, saturating)."""
        n = x.shape[1]
        nb_ = scales.shape[1]
        k = bp.k
        xf, vf, cf = x.reshape(-1), vals.reshape(-1), codes.reshape(-1)
        elem_max = np.float32(bp.elem_max)
        for g in range(g0, g1):
            row = g // nb_
            q = g - row * nb_
            j0 = q * k
            j1 = min(j0 + k, n)
            amax = np.float32(0.0)
            bad = False
            for j in range(j0, j1):
                v = ftz(abs(_f32(x[row, j])))
                bad |= not (v < np.float32(np.inf))
                if v < np.float32(np.inf):
                    amax = max(amax, v)
            t = ftz(ftz(amax / elem_max) * s_enc)
            sres = float_element(_b32(t), 0, ps, fs, key0, key1)
            scode = bits_to_code(sres & p.mag_mask_c, sres < 0, ps, fs)
            sd = _f32(sres)  # the decoded (rounded) scale
            su = t if bp.unrounded else sd
            r = ftz(s_enc / su) if su != np.float32(0.0) else np.float32(0.0)
            nan = bad and bp.nonfinite_nan
            scales[row, q] = ps.nan_code if nan else scode
            # flat indices, one loop per output and NaN blocks apart: the form LLVM vectorises
            i0, i1 = row * n + j0, row * n + j1
            if nan:
                for i in range(i0, i1):
                    if want_vals:
                        vf[i] = p.qnan_c
                    else:
                        cf[i] = 0
            elif want_vals:
                for i in range(i0, i1):
                    qv, c = element(np.int64(xf[i]), r, i, pe, fe, p, bp, key0, key1)
                    vf[i] = _b32(ftz(ftz(qv * sd) / s_enc))
            else:
                for i in range(i0, i1):
                    qv, c = element(np.int64(xf[i]), r, i, pe, fe, p, bp, key0, key1)
                    cf[i] = c

    return amax_blocks


# ---- entry points ------------------------------------------------------------------------------
@functools.cache
def pow2_loop(fixed: bool, const_flags=None):
    """The compiled power-of-two block loop for float (or ``fixed``) elements; with
    ``const_flags`` the element flags are compile-time constants (the 3x of specialize.py)."""
    blocks = make_pow2_blocks(pow2_fixed_element if fixed else pow2_float_element)
    const = None if const_flags is None else Flags(*const_flags)

    if const is None:
        @nb.njit(nogil=True)
        def loop(x, vals, codes, scales, g0, g1, pe, fe, p, bp, seed_lo, seed_hi, want_vals):
            key0, key1 = sr_keys(seed_lo, seed_hi)
            blocks(x, vals, codes, scales, g0, g1, pe, fe, p, bp, key0, key1, want_vals)
    else:
        @nb.njit(nogil=True)
        def loop(x, vals, codes, scales, g0, g1, pe, fe, p, bp, seed_lo, seed_hi, want_vals):
            key0, key1 = sr_keys(seed_lo, seed_hi)
            blocks(x, vals, codes, scales, g0, g1, pe, const, p, bp, key0, key1, want_vals)
    return loop


@functools.cache
def amax_loop(fixed: bool, const_flags=None, const_scale_flags=None):
    """The compiled float-scale (NVFP4) block loop (``const_flags``, ``const_scale_flags``: the
    element and scale flags as compile-time constants, as for :func:`pow2_loop`)."""
    blocks = make_amax_blocks(amax_fixed_element if fixed else amax_float_element)
    # error_model="numpy": no zero-divisor checks (every divisor is non-zero here), which lets
    # LLVM vectorise the float32 dequantization: 4x faster on 4096x4096 NVFP4
    const = None if const_flags is None else Flags(*const_flags)
    const_scale = None if const_scale_flags is None else Flags(*const_scale_flags)

    if const is None:
        @nb.njit(nogil=True, error_model="numpy")
        def loop(x, vals, codes, scales, g0, g1, s_enc, pe, fe, p, ps, fs, bp, seed_lo, seed_hi, want_vals):
            key0, key1 = sr_keys(seed_lo, seed_hi)
            blocks(x, vals, codes, scales, g0, g1, s_enc, pe, fe, p, ps, fs, bp, key0, key1, want_vals)
    else:
        @nb.njit(nogil=True, error_model="numpy")
        def loop(x, vals, codes, scales, g0, g1, s_enc, pe, fe, p, ps, fs, bp, seed_lo, seed_hi, want_vals):
            key0, key1 = sr_keys(seed_lo, seed_hi)
            blocks(x, vals, codes, scales, g0, g1, s_enc, pe, const, p, ps, const_scale, bp, key0, key1, want_vals)

    return loop
