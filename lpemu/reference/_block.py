"""The exact reference of block quantization: one block at a time, Python ints and Fractions.

Power-of-two scales follow lpemu.block.BlockFormat's definition with exact arithmetic (the
scaled elements ``V / 2^s`` are exact rationals, rounded once by :func:`round_to_code`). The
float-scale (NVFP4) recipe is float32 arithmetic by definition: it is computed here with numpy
float32 scalars (IEEE 754) and explicit flushing of subnormals.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .._formats import FixedFormat
from . import decode_code, random_bits, round_to_code

__all__ = ["block_scale_exponent", "quantize_block", "tensor_scale", "quantize_array"]

_TINY = Fraction(1, 2**126)


def _floor_log2(v: Fraction) -> int:
    e = v.numerator.bit_length() - v.denominator.bit_length()
    return e if Fraction(2) ** e <= v else e - 1


def block_scale_exponent(amax: Fraction, fmt) -> tuple[int, bool]:
    """(scale exponent s, overflowed?) of a block with finite ``amax`` for a power-of-two format."""
    smin, smax = fmt.scale_range
    if amax == 0:
        return smin, False
    e = _floor_log2(amax)
    emax = fmt.emax_element
    rule = fmt.scale_rule
    if rule == "ceil":
        e += int(amax != Fraction(2) ** e)
    elif rule == "even":
        m = fmt.element_mantissa_bits
        q = Fraction(2) ** (e - m)
        if math.floor(amax / q + Fraction(1, 2)) * q >= Fraction(2) ** (e + 1):
            e += 1
    elif rule == "rceil":
        msig, mt = fmt.element_max_significand
        if amax / Fraction(2) ** e > Fraction(msig, 2**mt):
            e += 1
    s = e - emax
    return max(min(s, smax), smin), s > smax


def _round_elem(v, fmt, mode, index, seed, sr_bits) -> tuple[int, Fraction | float]:
    elem = fmt.element
    rb = random_bits(index, seed, sr_bits) if mode.is_stochastic else None
    ov = "saturate" if (fmt.saturate or isinstance(elem, FixedFormat)) else None
    code = round_to_code(v, elem, mode, ov, rbits=rb, sr_bits=sr_bits)
    if isinstance(elem, FixedFormat) and fmt.symmetric:
        k = code - (1 << elem.bits) if code >= 1 << (elem.bits - 1) else code
        if k < -elem.max_int:
            code = (-elem.max_int) & ((1 << elem.bits) - 1)
    return code, decode_code(code, elem)


def _f32(v) -> np.float32:
    v = np.float32(v)
    return v if abs(v) >= np.float32(2.0**-126) else v * np.float32(0)


def tensor_scale(values, fmt) -> np.float32:
    """NVFP4's float32 per-tensor scale S_enc of all ``values`` (finite ones, subnormals as 0)."""
    if not fmt.tensor_scale:
        return np.float32(1.0)
    amax = np.float32(0)
    for v in values:
        f = _f32(abs(np.float32(v)))
        if np.isfinite(f):
            amax = max(amax, f)
    if amax == 0:
        return np.float32(1.0)
    with np.errstate(over="ignore"):
        return np.float32(min(np.float32(fmt.scale.max * fmt.element.max) / amax, np.finfo(np.float32).max))


def quantize_block(values, fmt, *, rounding=None, index0: int = 0, seed: int | None = None, sr_bits: int = 30,
                   s_enc=None) -> tuple[list[int], int, list[float]]:
    """One block: (element codes, scale code, dequantized values as Python floats).

    ``values`` are Python/numpy floats; element ``t`` uses the random bits of index
    ``index0 + t``; ``s_enc`` is the per-tensor scale of float-scale formats.

    Examples:
        >>> from lpemu.block import MXFP4
        >>> quantize_block([1.0, 0.3, 0.2, 0.125], MXFP4)
        ([6, 2, 2, 1], 125, [1.0, 0.25, 0.25, 0.125])
    """
    from .._modes import rounding_mode

    mode = fmt.rounding if rounding is None else rounding_mode(rounding)
    vals = [float(v) for v in values]
    if fmt.flush_subnormals:
        vals = [math.copysign(0.0, v) if 0 < abs(v) < 2.0**-126 else v for v in vals]
    bad = any(not math.isfinite(v) for v in vals)
    if fmt.pow2_scale:
        amax = max((abs(Fraction(v)) for v in vals if math.isfinite(v)), default=Fraction(0))
        s, over = block_scale_exponent(amax, fmt)
        nan = (bad and fmt.nonfinite == "nan") or (over and fmt.scale_overflow == "nan")
        if nan:
            return [0] * len(vals), fmt.scale.nan_code, [math.nan] * len(vals)
        codes, out = [], []
        for t, v in enumerate(vals):
            x = v if not math.isfinite(v) or v == 0 else Fraction(v) / Fraction(2) ** s
            code, q = _round_elem(x, fmt, mode, index0 + t, seed, sr_bits)
            codes.append(code)
            out.append(float(q) if isinstance(q, float) else math.ldexp(float(q), s) if q != 0 else
                       (0.0 if float(q) == 0 and not _negzero(code, fmt) else -0.0))
        return codes, s + fmt.scale.bias, out
    # float scale: float32 arithmetic with flush to zero
    s_enc = np.float32(1.0) if s_enc is None else np.float32(s_enc)
    xs = [_f32(v) for v in vals]
    amax = np.float32(0)
    for v in xs:
        if np.isfinite(v):
            amax = max(amax, abs(v))
    t = _f32(_f32(amax / np.float32(fmt.element.max)) * s_enc)
    scode = round_to_code(float(t), fmt.scale, "nearest_even", "saturate")
    sd = np.float32(float(decode_code(scode, fmt.scale)))
    su = t if fmt.element_scale == "unrounded" else sd
    with np.errstate(over="ignore"):
        r = _f32(s_enc / su) if su != 0 else np.float32(0)
    if bad and fmt.nonfinite == "nan":
        return [0] * len(vals), fmt.scale.nan_code, [math.nan] * len(vals)
    codes, out = [], []
    for i, v in enumerate(xs):
        with np.errstate(over="ignore", invalid="ignore"):
            y = _f32(v * r)
        code, q = _round_elem(float(y), fmt, mode, index0 + i, seed, sr_bits)
        codes.append(code)
        qf = np.float32(float(q))
        out.append(float(_f32(_f32(qf * sd) / s_enc)))
    return codes, scode, out


def _negzero(code: int, fmt) -> bool:
    elem = fmt.element
    return not isinstance(elem, FixedFormat) and elem.signed and code == elem.sign_mask


def quantize_array(x: np.ndarray, fmt, axis: int = -1, *, rounding=None, seed=None, sr_bits: int = 30):
    """(values, element codes, scale codes) of a whole numpy array, block by block, in the
    layout of lpemu.block.encode (float64 values; NaN blocks NaN)."""
    x = np.asarray(x)
    with np.errstate(over="ignore"):
        return _quantize_array(x, fmt, axis, rounding, seed, sr_bits)


def _quantize_array(x, fmt, axis, rounding, seed, sr_bits):
    s_enc = tensor_scale(x.astype(np.float32).reshape(-1), fmt) if not fmt.pow2_scale else None
    xin = x.astype(np.float32) if not fmt.pow2_scale else x
    if fmt.block_size is None:
        flat = xin.reshape(-1)
        codes, sc, out = quantize_block(flat.tolist(), fmt, rounding=rounding, seed=seed, sr_bits=sr_bits, s_enc=s_enc)
        return np.array(out).reshape(x.shape), np.array(codes).reshape(x.shape), np.array(sc)
    ax = axis % x.ndim
    m = np.moveaxis(xin, ax, -1)
    rows_shape, n = m.shape[:-1], m.shape[-1]
    k = fmt.block_size
    nb = -(-n // k)
    m2 = m.reshape(-1, n)
    vals = np.empty(m2.shape)
    codes = np.empty(m2.shape, np.int64)
    scales = np.empty((m2.shape[0], nb), np.int64)
    for r in range(m2.shape[0]):
        for q in range(nb):
            seg = m2[r, q * k:(q + 1) * k]
            c, s, o = quantize_block(seg.tolist(), fmt, rounding=rounding, index0=r * n + q * k, seed=seed,
                                     sr_bits=sr_bits, s_enc=s_enc)
            vals[r, q * k:q * k + len(seg)] = o
            codes[r, q * k:q * k + len(seg)] = c
            scales[r, q] = s

    def back(a, length):
        return np.moveaxis(a.reshape(*rows_shape, length), -1, ax)

    return back(vals, n), back(codes, n), back(scales, nb)
