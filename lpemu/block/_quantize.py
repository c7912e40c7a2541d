"""quantize / encode / decode for block formats: numpy runs the Numba kernels, JAX arrays the
JAX kernels (kernels/*/block.py); both give the same bits.

Layout: blocks run along ``axis``; block ``q`` holds elements ``q*k .. q*k + k - 1``. When the
axis length is not a multiple of ``k`` the last block is padded with zeros (which change
neither its scale nor its other elements) and the padding is dropped from the result.
Stochastic rounding draws element ``(row, j)``'s random bits from the index ``row * n + j``,
with ``n`` the axis length and ``row`` the C-order index over the other axes (the axis moved
last); for per-tensor formats the index is the C-order flat index.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

from .._container import check_fits, code_dtype, container_of, fixed_params, float_params, seed_words
from .._formats import FixedFormat, FloatFormat
from .._modes import RoundingMode, rounding_mode
from .._quantize import decode as _decode_elements
from ..formats import E8M0
from ..errors import InvalidArgumentError, InvalidFormatError, UnsupportedContainerError, check_int
from ..kernels.params import flags_of
from ._format import (
    MX_COMPAT, MXFP4, MXFP6_E2M3, MXFP6_E3M2, MXFP8_E4M3, MXFP8_E5M2, MXINT8, NVFP4, SCALE_RULES, BlockFormat,
    BlockParams,
)

__all__ = ["quantize", "encode", "decode", "BlockEncoding", "lookup_block"]

#: Named block formats accepted where a BlockFormat is expected.
BLOCK_PRESETS = {f.name: f for f in (MXFP8_E4M3, MXFP8_E5M2, MXFP6_E3M2, MXFP6_E2M3, MXFP4, MXINT8, NVFP4)}
BLOCK_PRESETS.update({f.name: f for f in MX_COMPAT.values()})

#: Arrays at least this large run the Numba loop compiled for their flags.
SPECIALIZE_MIN_SIZE = 1 << 22
#: Arrays at least this large are split between threads.
THREAD_MIN_SIZE = 1 << 16


class BlockEncoding(NamedTuple):
    """What :func:`encode` returns.

    ``elements``: element codes (uint8/uint16), shaped like the input. ``scales``: scale codes
    (uint8), shaped like the input with ``axis`` of length ``ceil(n / block_size)`` (shape ()
    for per-tensor formats). ``tensor_scale``: the float32 per-tensor scale ``S_enc`` of
    formats with ``tensor_scale`` (NVFP4), else None.
    """

    elements: Any
    scales: Any
    tensor_scale: Any = None


def lookup_block(fmt: BlockFormat | str) -> BlockFormat:
    """A block format object, or the preset of that name (``"mxfp4"``, ``"nvfp4"``,
    ``"mxint8_microxcaling"``...).

    Examples:
        >>> lookup_block("mxfp8_e4m3").element.name
        'float8_e4m3fn'
    """
    if isinstance(fmt, BlockFormat):
        return fmt
    if isinstance(fmt, str) and fmt.strip().lower() in BLOCK_PRESETS:
        return BLOCK_PRESETS[fmt.strip().lower()]
    raise InvalidFormatError(f"fmt must be a BlockFormat or one of {', '.join(sorted(BLOCK_PRESETS))}; got {fmt!r}")


def _is_jax(x: object) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.Array)


def _elem_params(fmt: BlockFormat, dtype, rounding, sr_bits):
    elem = fmt.element
    if isinstance(elem, FixedFormat):
        return fixed_params(elem, dtype, rounding, "saturate", sr_bits)
    return float_params(elem, dtype, rounding, "saturate" if fmt.saturate else None, sr_bits)


def _check_container(fmt: BlockFormat, dtype) -> None:
    """Every dequantized value (element times any scale) must be exact in the container."""
    c = container_of(dtype)
    check_fits(fmt.element, dtype)
    if fmt.pow2_scale:
        elem = fmt.element
        q = elem.emin - elem.man_bits if isinstance(elem, FloatFormat) else -elem.frac_bits
        lowest = 1 - c.bias - c.mc
        if q + fmt.scale_range[0] < lowest:
            raise UnsupportedContainerError(
                f"{fmt.name}: element quantum 2^{q} times the smallest scale 2^{fmt.scale_range[0]} is below the "
                f"smallest {np.dtype(dtype)} 2^{lowest}; use a float64 container")


def _block_params(fmt: BlockFormat, dtype, k: int) -> BlockParams:
    c = container_of(dtype)
    msig, mt_e = fmt.element_max_significand
    smin, smax = fmt.scale_range if fmt.pow2_scale else (0, 0)
    elem = fmt.element
    return BlockParams(
        k=k, rule=SCALE_RULES.index(fmt.scale_rule), emax_e=fmt.emax_element, even_bits=fmt.element_mantissa_bits,
        msig=msig, mt_e=mt_e, smin=smin, smax=smax, sbias=fmt.scale.bias,
        snan=-1 if fmt.scale.nan_code is None else fmt.scale.nan_code,
        scale_nan=int(fmt.scale_overflow == "nan"), nonfinite_nan=int(fmt.nonfinite == "nan"),
        flush=int(fmt.flush_subnormals), fixed=int(isinstance(elem, FixedFormat)), symmetric=int(fmt.symmetric),
        tiny_bits=(c.bias - 126) << c.mc, unrounded=int(fmt.element_scale == "unrounded"),
        tensor_scale=int(fmt.tensor_scale), emax_c=c.bias, scale_max=float(fmt.scale.max), elem_max=float(elem.max),
    )


def _container_params(dtype):
    """Parameters whose container fields (and exact exponent handling) the block kernels read."""
    return float_params(E8M0, dtype, "nearest_even", "saturate", 30)


def _scale_params(fmt: BlockFormat):
    return float_params(fmt.scale, np.float32, "nearest_even", "saturate", 30)


def _layout(shape: tuple[int, ...], fmt: BlockFormat, axis) -> tuple[int, int, int, int]:
    """(axis, rows, n, k) of the 2-D view the kernels run on."""
    if len(shape) == 0:
        raise InvalidArgumentError("block quantization needs an array with at least one dimension, got a scalar")
    ax = check_int("axis", axis, -len(shape), len(shape) - 1) % len(shape)
    if fmt.block_size is None:
        n = math.prod(shape)
        return ax, 1, n, max(n, 1)
    n = shape[ax]
    return ax, math.prod(shape) // max(n, 1) if n else 0, n, fmt.block_size


def _scale_shape(shape, fmt, ax, k):
    if fmt.block_size is None:
        return ()
    s = list(shape)
    s[ax] = -(-shape[ax] // k)
    return tuple(s)


def _common(x, fmt, axis, rounding, sr_bits, seed):
    fmt = lookup_block(fmt)
    mode = fmt.rounding if rounding is None else rounding_mode(rounding)
    sr_bits = check_int("sr_bits", sr_bits, 1, 30)
    return fmt, mode, sr_bits


def _run_threads(fn, total: int, size: int) -> None:
    threads = min(os.cpu_count() or 1, 8)
    if size < THREAD_MIN_SIZE or threads == 1 or total < 2:
        fn(0, total)
        return
    step = -(-total // threads)
    with ThreadPoolExecutor(threads) as ex:
        list(ex.map(lambda g0: fn(g0, min(g0 + step, total)), range(0, total, step)))


def _numpy_run(x, fmt: BlockFormat, axis, mode, sr_bits, seed, want_vals: bool):
    """Run the Numba kernels; returns (values or None, element codes or None, scale codes, S_enc)."""
    a = np.asarray(x)
    if a.dtype.kind in "iub":
        a = a.astype(np.float64)
    container_of(a.dtype)
    ax, rows, n, k = _layout(a.shape, fmt, axis)
    in_dtype = a.dtype
    with np.errstate(over="ignore"):  # float64 beyond float32: Inf (a NaN block)
        work = a if fmt.pow2_scale else a.astype(np.float32)
    dtype = work.dtype
    _check_container(fmt, dtype)
    pe = _elem_params(fmt, dtype, mode, sr_bits)
    fe = flags_of(pe)
    p = _container_params(dtype)
    bp = _block_params(fmt, dtype, k)
    lo, hi = seed_words(seed, mode)
    itype = np.int32 if dtype == np.float32 else np.int64
    moved = np.moveaxis(work, ax, -1) if fmt.block_size is not None else work
    x2 = np.ascontiguousarray(moved).reshape(rows, n).view(itype)
    nbk = -(-n // k) if n else 0
    scales = np.empty((rows, nbk), np.uint8)
    if want_vals:
        vals = np.empty((rows, n), dtype)
        codes = np.empty((1, 1), np.uint8)
        vbits = vals.view(itype)
    else:
        codes = np.empty((rows, n), code_dtype(fmt.element))
        vbits = np.empty((1, 1), itype)
    s_enc = None
    from ..kernels.numba import block as kb

    if fmt.pow2_scale:
        loop = kb.pow2_loop(bool(bp.fixed), fe if x2.size >= SPECIALIZE_MIN_SIZE else None)

        def fn(g0, g1):
            loop(x2, vbits, codes, scales, g0, g1, pe, fe, p, bp, lo, hi, want_vals)
    else:
        ps = _scale_params(fmt)
        s_enc = np.float32(1.0)
        if fmt.tensor_scale:
            parts = []
            _run_threads(lambda r0, r1: parts.append(kb.tensor_amax(x2, r0, r1)), rows, x2.size)
            amax = max(parts, default=np.float32(0))
            if amax != 0:
                with np.errstate(over="ignore"):
                    s_enc = min(np.float32(bp.scale_max * bp.elem_max) / np.float32(amax), np.finfo(np.float32).max)
        s_enc = np.float32(s_enc)
        big = x2.size >= SPECIALIZE_MIN_SIZE
        loop = kb.amax_loop(bool(bp.fixed), fe if big else None, flags_of(ps) if big else None)

        def fn(g0, g1):
            loop(x2, vbits, codes, scales, g0, g1, s_enc, pe, fe, p, ps, flags_of(ps), bp, lo, hi, want_vals)
    _run_threads(fn, rows * nbk, x2.size)

    def back(arr, length):
        if fmt.block_size is None:
            return arr.reshape(a.shape) if length == n else arr.reshape(())
        shaped = arr.reshape(*moved.shape[:-1], length)
        return np.ascontiguousarray(np.moveaxis(shaped, -1, ax))

    sc = back(scales, nbk)
    if want_vals:
        out = back(vals, n)
        return out.astype(in_dtype) if out.dtype != in_dtype else out, None, sc, s_enc
    return None, back(codes, n), sc, s_enc


@functools.cache
def _jax_fn(fmt: BlockFormat, dtype_name: str, mode: RoundingMode, sr_bits: int, rows: int, n: int, k: int,
            values_only: bool = False):
    import jax

    from ..kernels.jax import block as kb
    from ..kernels.jax.random import sr_keys

    dtype = np.dtype(dtype_name)
    pe = _elem_params(fmt, dtype, mode, sr_bits)
    p = _container_params(dtype)
    bp = _block_params(fmt, dtype, k)

    def run(x2, lo, hi):
        key0, key1 = sr_keys(lo, hi)
        if fmt.pow2_scale:
            vals, codes, scodes = kb.pow2_blocks(x2, pe, p, bp, key0, key1)
            s_enc = None
        else:
            ps = _scale_params(fmt)
            s_enc = kb.tensor_scale(x2, bp)
            vals, codes, scodes = kb.amax_blocks(x2, s_enc, pe, p, ps, bp, key0, key1)
        if values_only:  # XLA then drops the work of the codes
            return vals, None, None, None
        return vals, codes, scodes, s_enc

    return jax.jit(run)


def _jax_run(x, fmt: BlockFormat, axis, mode, sr_bits, seed, values_only: bool = False):
    import jax.numpy as jnp
    from jax import lax

    from .._quantize import _jax_seed

    if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
        x = x.astype(jnp.result_type(float))
    container_of(x.dtype)
    in_dtype = x.dtype
    work = x if fmt.pow2_scale else x.astype(jnp.float32)
    dtype = np.dtype(work.dtype)
    _check_container(fmt, dtype)
    _elem_params(fmt, dtype, mode, sr_bits)
    ax, rows, n, k = _layout(x.shape, fmt, axis)
    lo, hi = _jax_seed(seed, mode)
    itype = jnp.int32 if dtype == np.float32 else jnp.int64
    moved = jnp.moveaxis(work, ax, -1) if fmt.block_size is not None else work
    x2 = lax.bitcast_convert_type(moved.reshape(rows, n), itype)
    vals, codes, scodes, s_enc = _jax_fn(fmt, dtype.name, mode, sr_bits, rows, n, k, values_only)(x2, lo, hi)

    def back(arr, length):
        if fmt.block_size is None:
            return arr.reshape(x.shape) if length == n else arr.reshape(())
        return jnp.moveaxis(arr.reshape(*moved.shape[:-1], length), -1, ax)

    vals = back(lax.bitcast_convert_type(vals, work.dtype), n).astype(in_dtype)
    if codes is not None:
        codes = back(codes.astype(code_dtype(fmt.element)), n)
        scodes = back(scodes.astype(jnp.uint8), scodes.shape[1])
    return vals, codes, scodes, s_enc


def quantize(x: Any, fmt: BlockFormat | str, axis: int = -1, rounding: str | RoundingMode | None = None, *,
             seed: int | None = None, sr_bits: int = 30) -> Any:
    """Quantize ``x`` into a block format and return the dequantized values (same shape and dtype).

    Args:
        x: numpy array (Numba kernels) or JAX array (JAX kernels; works under jit/vmap), float32
            or float64 (integers become float64); at least one dimension.
        fmt: a :class:`BlockFormat` or a preset name (``"mxfp4"``, ``"nvfp4"``, ...).
        axis: the axis the blocks run along (ignored by per-tensor formats).
        rounding: element rounding mode; None uses ``fmt.rounding``.
        seed: integer in [0, 2^64) for stochastic rounding.
        sr_bits: random bits per element for stochastic rounding, 1..30.

    Returns:
        An array of ``x``'s shape and float dtype. NaN blocks give NaN. Float-scale formats
        (NVFP4) compute in float32: a float64 input is rounded to float32 first.

    Raises:
        InvalidFormatError: unknown format name.
        InvalidArgumentError: bad axis, rounding, seed, sr_bits, or a 0-d input.
        UnsupportedContainerError: the dtype cannot hold the dequantized values exactly.

    Examples:
        >>> import numpy as np
        >>> x = np.array([485, 475, 400, -485, -475, -450, 2**-6, -2**-6], np.float32)
        >>> quantize(x, MXFP8_E4M3).tolist()
        [448.0, 448.0, 384.0, -448.0, -448.0, -448.0, 0.015625, -0.015625]
        >>> quantize(np.array([7, 5, 2.5, -0.25, 0.75, 1.25, 0.1, -3.5], np.float32), MXFP4).tolist()
        [6.0, 4.0, 2.0, -0.0, 1.0, 1.0, 0.0, -4.0]
    """
    fmt, mode, sr_bits = _common(x, fmt, axis, rounding, sr_bits, seed)
    if _is_jax(x):
        return _jax_run(x, fmt, axis, mode, sr_bits, seed, values_only=True)[0]
    return _numpy_run(x, fmt, axis, mode, sr_bits, seed, True)[0]


def encode(x: Any, fmt: BlockFormat | str, axis: int = -1, rounding: str | RoundingMode | None = None, *,
           seed: int | None = None, sr_bits: int = 30) -> BlockEncoding:
    """Quantize ``x`` and return the codes: a :class:`BlockEncoding` (elements, scales, tensor_scale).

    Same arguments as :func:`quantize`; ``decode(encode(x, f), f)`` equals ``quantize(x, f)``.

    Examples:
        >>> import numpy as np
        >>> e = encode(np.array([1.0, 0.3, 0.2, 0.125], np.float32), MXFP4)
        >>> e.elements.tolist(), e.scales.tolist()
        ([6, 2, 2, 1], [125])
    """
    fmt, mode, sr_bits = _common(x, fmt, axis, rounding, sr_bits, seed)
    if _is_jax(x):
        _, codes, scodes, s_enc = _jax_run(x, fmt, axis, mode, sr_bits, seed)
        return BlockEncoding(codes, scodes, s_enc)
    _, codes, scodes, s_enc = _numpy_run(x, fmt, axis, mode, sr_bits, seed, False)
    return BlockEncoding(codes, scodes, s_enc)


def decode(encoded: BlockEncoding, fmt: BlockFormat | str, axis: int = -1, dtype: Any = np.float32) -> Any:
    """The values of encoded blocks (the inverse of :func:`encode`), in float32 or float64.

    Args:
        encoded: a :class:`BlockEncoding` (or a tuple ``(elements, scales[, tensor_scale])``).
        fmt: the block format the codes belong to.
        axis: the axis the blocks run along.
        dtype: container of the result: float32 (default) or float64 (float32 only for
            float-scale formats such as NVFP4).

    Returns:
        The dequantized values, shaped like ``encoded.elements``; NaN where the scale code is NaN.

    Examples:
        >>> import numpy as np
        >>> decode(BlockEncoding(np.array([6, 2, 2, 1], np.uint8), np.array([125], np.uint8)), MXFP4).tolist()
        [1.0, 0.25, 0.25, 0.125]
    """
    fmt = lookup_block(fmt)
    dtype = np.dtype(dtype)
    container_of(dtype)
    if not isinstance(encoded, tuple) or len(encoded) not in (2, 3):
        raise InvalidArgumentError("encoded must be a BlockEncoding (elements, scales, tensor_scale)")
    elements, scales = encoded[0], encoded[1]
    s_enc = encoded[2] if len(encoded) == 3 else None
    if not fmt.pow2_scale and dtype != np.float32:
        raise InvalidArgumentError(f"decode of {fmt.name} (float scales) gives float32, got dtype={dtype}")
    _check_container(fmt, dtype)
    jx = _is_jax(elements)
    xp = np
    if jx:
        import jax.numpy as jnp

        xp = jnp
    shape = tuple(elements.shape)
    ax, rows, n, k = _layout(shape, fmt, axis)
    want = _scale_shape(shape, fmt, ax, k)
    if tuple(scales.shape) != want:
        raise InvalidArgumentError(f"scales must have shape {want} for elements of shape {shape}, got {tuple(scales.shape)}")
    ev = _decode_elements(elements, fmt.element, dtype if fmt.pow2_scale else np.float32)
    sc = xp.asarray(scales).astype(xp.int32)
    if fmt.block_size is None:
        sc_full = xp.broadcast_to(sc, shape)
    else:
        sc_full = xp.take(xp.repeat(sc, k, axis=ax), xp.arange(n), axis=ax)
    nan = sc_full == fmt.scale.nan_code if fmt.scale.nan_code is not None else xp.zeros(shape, bool)
    if fmt.pow2_scale:
        s = sc_full - fmt.scale.bias
        if jx:
            from jax import lax

            from ..kernels.jax.block import shift_exponent

            c = container_of(dtype)
            p = _container_params(dtype)
            it = jnp.int32 if dtype == np.float32 else jnp.int64
            b = lax.bitcast_convert_type(ev, it)
            a = b & c.mag_mask
            fin = (a != 0) & (a < c.exp_mask)
            m = jnp.where(fin, shift_exponent(jnp.maximum(a, 1), s.astype(it), p), a)
            out = lax.bitcast_convert_type((m | (b & jnp.asarray(c.sign_bit, it))).astype(it), dtype)
        else:
            with np.errstate(over="ignore"):
                out = np.ldexp(ev.astype(np.float64), s).astype(dtype)
    else:
        sval = _decode_elements(xp.asarray(scales), fmt.scale, np.float32)
        if fmt.block_size is None:
            sd = xp.broadcast_to(sval, shape)
        else:
            sd = xp.take(xp.repeat(sval, k, axis=ax), xp.arange(n), axis=ax)
        se = xp.float32(1.0) if s_enc is None else xp.asarray(s_enc, xp.float32)
        tiny = np.float32(2.0**-126)

        def ftz(v):
            return xp.where(xp.abs(v) >= tiny, v, v * xp.float32(0))

        if jx:
            from ..kernels.jax.block import div

            out = ftz(div(ftz(ev * sd), se))
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                out = ftz(ftz(ev * sd) / se)
    return xp.where(nan, xp.asarray(np.nan, dtype), out).astype(dtype)
