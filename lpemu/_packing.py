"""Dense storage of bit codes of any width from 1 to 32 bits.

:func:`pack` stores ``n`` codes of ``bits`` bits each in ``ceil(n * bits / 8)`` bytes,
most significant bit first: the first code occupies the most significant bits of the first
byte. This is the layout of OCP MX FP4/FP6 element storage and of ``np.packbits``:

* FP4 (4 bits): two codes per byte, ``byte = c0 << 4 | c1``.
* FP6 (6 bits): four codes per three bytes, ``byte0 = c0 << 2 | c1 >> 4``,
  ``byte1 = (c1 & 0xF) << 4 | c2 >> 2``, ``byte2 = (c2 & 3) << 6 | c3``.
* 8, 16 and 32 bits: one code per 1, 2, 4 bytes in big-endian order.

The unused trailing bits of the last byte are zero. :func:`unpack` is the inverse.

Both functions accept numpy or JAX arrays and return an array of the same library. The JAX
versions trace under :func:`jax.jit` with ``bits``, ``count`` and ``axis`` static.

Implementation (vectorized; the only Python loops run over the few positions of a group):

* numpy: widths whose group of ``lcm(bits, 8)`` bits fits in a uint64 (1..8, 10, 12, 14,
  16, 20, 24, 28, 32) use grouped shift-and-or arithmetic, ``8 / gcd(bits, 8)`` codes into
  ``bits / gcd(bits, 8)`` bytes at a time; the other widths go through an ``(n, bits)``
  bit matrix with ``np.unpackbits``/``np.packbits``.
* JAX (uint32 arithmetic only, so ``jax_enable_x64`` is not needed): grouped arithmetic
  where ``lcm(bits, 8) <= 32`` (1, 2, 3, 4, 6, 8, 12, 16, 24, 32); otherwise every output
  item is assembled from the few input items overlapping it with static gathers and shifts
  (:func:`_recombine`). Eager calls run one compiled kernel per (shape, dtype, bits, axis).
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any

import numpy as np

from .errors import InvalidArgumentError, check_int

__all__ = ["pack", "unpack", "packed_length"]

_MAX_BITS = 32


# ---- argument handling --------------------------------------------------------------------
def _bits_of(bits: Any) -> int:
    """The code width of ``bits`` (an int or an object with a ``.bits`` attribute)."""
    if not hasattr(bits, "__index__") and hasattr(bits, "bits"):
        name = getattr(bits, "name", "") or repr(bits)
        width = bits.bits
        if isinstance(width, bool) or not hasattr(width, "__index__") or not 1 <= int(width) <= _MAX_BITS:
            raise InvalidArgumentError(
                f"bits must be an integer in [1, {_MAX_BITS}]; format {name} is {width} bits wide"
            )
        return int(width)
    return check_int("bits", bits, 1, _MAX_BITS)


def _is_jax(x: Any) -> bool:
    jax = sys.modules.get("jax")  # a jax array can only exist when jax was imported
    return jax is not None and isinstance(x, jax.Array)


def _is_tracer(x: Any) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(x, jax.core.Tracer)


def _norm_axis(axis: Any, ndim: int, what: str) -> int:
    if ndim == 0:
        raise InvalidArgumentError(f"{what} must have at least one dimension, got a 0-d array")
    return check_int("axis", axis, -ndim, ndim - 1) % ndim


def _code_dtype(bits: int) -> np.dtype:
    """The smallest unsigned dtype holding a ``bits``-bit code."""
    return np.dtype(np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32)


def packed_length(n: int, bits: Any) -> int:
    """Number of bytes :func:`pack` uses for ``n`` codes of ``bits`` bits: ``ceil(n * bits / 8)``.

    Args:
        n: number of codes, >= 0.
        bits: code width, an int in [1, 32] or a format with a ``.bits`` attribute.

    Returns:
        The packed length in bytes.

    Raises:
        InvalidArgumentError: ``n`` is negative or ``bits`` is outside [1, 32].

    Examples:
        >>> packed_length(5, 4), packed_length(4, 6), packed_length(3, 1)
        (3, 3, 1)
    """
    b = _bits_of(bits)
    n = check_int("n", n, 0, sys.maxsize)
    return -(-n * b // 8)


# ---- numpy kernels ------------------------------------------------------------------------
def _group(bits: int) -> tuple[int, int]:
    """(codes, bytes) in one group of ``lcm(bits, 8)`` bits."""
    g = math.gcd(bits, 8)
    return 8 // g, bits // g


def _np_pack_grouped(c: np.ndarray, bits: int) -> np.ndarray:
    """Pack (m, n) codes via whole groups of lcm(bits, 8) <= 64 bits."""
    m, n = c.shape
    gc, gb = _group(bits)
    ngroups = -(-n // gc)
    wd = np.uint32 if gc * bits <= 32 else np.uint64
    c = c.astype(wd, copy=False)
    if ngroups * gc != n:
        c = np.concatenate([c, np.zeros((m, ngroups * gc - n), wd)], axis=1)
    c = c.reshape(m, ngroups, gc)
    word = c[:, :, 0].copy() if gc > 1 else c[:, :, 0]
    for k in range(1, gc):  # loop over the <= 8 positions in a group, not over elements
        word <<= wd(bits)
        word |= c[:, :, k]
    out = np.empty((m, ngroups, gb), np.uint8)
    for j in range(gb):
        out[:, :, j] = word >> wd(8 * (gb - 1 - j))  # astype on assignment keeps the low byte
    return out.reshape(m, ngroups * gb)[:, : -(-n * bits // 8)]


def _np_pack_bitmatrix(c: np.ndarray, bits: int) -> np.ndarray:
    """Pack (m, n) codes of any width via an (m, n, bits) bit matrix."""
    m, n = c.shape
    be = np.ascontiguousarray(c, dtype=">u4").view(np.uint8).reshape(m, n, 4)
    bitm = np.unpackbits(be, axis=-1)[:, :, 32 - bits :]
    return np.packbits(bitm.reshape(m, n * bits), axis=-1)


def _np_unpack_grouped(p: np.ndarray, bits: int, count: int, out_dtype: np.dtype) -> np.ndarray:
    m = p.shape[0]
    gc, gb = _group(bits)
    ngroups = -(-count // gc)
    wd = np.uint32 if gc * bits <= 32 else np.uint64
    need = ngroups * gb
    p = p[:, : min(need, p.shape[1])]
    if p.shape[1] < need:
        p = np.concatenate([p, np.zeros((m, need - p.shape[1]), np.uint8)], axis=1)
    p = p.reshape(m, ngroups, gb)
    word = p[:, :, 0].astype(wd)
    for j in range(1, gb):
        word <<= wd(8)
        word |= p[:, :, j]
    out = np.empty((m, ngroups, gc), out_dtype)
    mask = wd((1 << bits) - 1)
    for k in range(gc):
        out[:, :, k] = (word >> wd(bits * (gc - 1 - k))) & mask
    return out.reshape(m, ngroups * gc)[:, :count]


def _np_unpack_bitmatrix(p: np.ndarray, bits: int, count: int, out_dtype: np.dtype) -> np.ndarray:
    m = p.shape[0]
    need = -(-count * bits // 8)
    bitm = np.unpackbits(p[:, :need], axis=-1, count=count * bits).reshape(m, count, bits)
    full = np.zeros((m, count, 32), np.uint8)
    full[:, :, 32 - bits :] = bitm
    return np.packbits(full, axis=-1).view(">u4").reshape(m, count).astype(out_dtype)


def _np_pack(c: np.ndarray, bits: int) -> np.ndarray:
    if bits == 8:
        return c.astype(np.uint8)
    if bits == 1:
        return np.packbits(c.astype(np.uint8), axis=-1)
    if math.lcm(bits, 8) <= 64:
        return _np_pack_grouped(c, bits)
    return _np_pack_bitmatrix(c, bits)


def _np_unpack(p: np.ndarray, bits: int, count: int) -> np.ndarray:
    dt = _code_dtype(bits)
    if bits == 8:
        return p[:, :count].copy()
    if bits == 1:
        return np.unpackbits(p, axis=-1, count=count)
    if math.lcm(bits, 8) <= 64:
        return _np_unpack_grouped(p, bits, count, dt)
    return _np_unpack_bitmatrix(p, bits, count, dt)


# ---- general re-slicing kernel (any widths; uint32 arithmetic; used by the JAX path) -------
@functools.cache
def _recombine_plan(src_bits: int, dst_bits: int) -> tuple[np.ndarray, ...]:
    """Static plan to re-slice a stream of ``src_bits`` items into ``dst_bits`` items.

    One group is ``lcm(src_bits, dst_bits)`` bits. For destination item ``r`` of a group and
    its ``k``-th overlapping source item, returns (all of shape ``(dst_per_group, K)``) the
    source index counted from the group start (it may run into the next groups), the left
    and right shifts that move that source item's bits into place, and a 0/1 validity mask.
    """
    nd = math.lcm(src_bits, dst_bits) // dst_bits
    rows = []
    for r in range(nd):
        lo, hi = r * dst_bits, (r + 1) * dst_bits  # bit range of destination item r
        rows.append([(q, hi - (q + 1) * src_bits) for q in range(lo // src_bits, (hi - 1) // src_bits + 1)])
    k_max = max(len(row) for row in rows)
    index = np.zeros((nd, k_max), np.intp)
    left, right, valid = (np.zeros((nd, k_max), np.uint32) for _ in range(3))
    for r, row in enumerate(rows):
        for k, (q, d) in enumerate(row):
            index[r, k], valid[r, k] = q, 1
            left[r, k], right[r, k] = max(d, 0), max(-d, 0)
    return index, left, right, valid


def _recombine(xp: Any, x: Any, src_bits: int, dst_bits: int, nout: int) -> Any:
    """Re-slice rows of ``src_bits``-bit items (``(m, n)`` uint32) into ``nout`` items of
    ``dst_bits`` bits (``(m, nout)`` uint32), MSB first; missing source items read as 0.

    Every destination item is the sum of its (at most ``K``) overlapping source items, each
    shifted into place by static shifts; the parts occupy disjoint bits below ``dst_bits``,
    and anything above is masked off (sums wrap mod 2^32, which does not disturb low bits).
    """
    m = x.shape[0]
    u32 = np.uint32
    ns = math.lcm(src_bits, dst_bits) // src_bits
    index, left, right, valid = _recombine_plan(src_bits, dst_bits)
    nd = index.shape[0]
    ngroups = -(-nout // nd)
    nextra = int(index.max()) // ns  # groups after the current one that a group reads
    total = (ngroups + nextra) * ns
    x = x[:, :total]
    if x.shape[1] < total:
        x = xp.concatenate([x, xp.zeros((m, total - x.shape[1]), x.dtype)], axis=1)
    x = x.reshape(m, ngroups + nextra, ns)
    ext = xp.concatenate([x[:, t : t + ngroups] for t in range(nextra + 1)], axis=-1)
    parts = ext[:, :, index]  # (m, ngroups, nd, K)
    parts = ((parts << xp.asarray(left)) >> xp.asarray(right)) * xp.asarray(valid)
    out = parts.sum(axis=-1, dtype=u32)
    if dst_bits < 32:
        out = out & u32((1 << dst_bits) - 1)
    return out.reshape(m, ngroups * nd)[:, :nout]


# ---- JAX kernels (32-bit arithmetic only, so they work without jax_enable_x64) ------------
def _jax_pack(c: Any, bits: int) -> Any:
    import jax.numpy as jnp

    m, n = c.shape
    u32 = jnp.uint32
    c = c.astype(u32) & u32((1 << bits) - 1) if bits < 32 else c.astype(u32)
    nbytes = -(-n * bits // 8)
    gc, gb = _group(bits)
    if gc * bits <= 32:
        ngroups = -(-n // gc)
        if ngroups * gc != n:
            c = jnp.concatenate([c, jnp.zeros((m, ngroups * gc - n), u32)], axis=1)
        c = c.reshape(m, ngroups, gc)
        word = c[:, :, 0]
        for k in range(1, gc):
            word = (word << u32(bits)) | c[:, :, k]
        out = jnp.stack([(word >> u32(8 * (gb - 1 - j))).astype(jnp.uint8) for j in range(gb)], axis=-1)
        return out.reshape(m, ngroups * gb)[:, :nbytes]
    return _recombine(jnp, c, bits, 8, nbytes).astype(jnp.uint8)


def _jax_unpack(p: Any, bits: int, count: int) -> Any:
    import jax.numpy as jnp

    m = p.shape[0]
    u32 = jnp.uint32
    dt = _code_dtype(bits)
    gc, gb = _group(bits)
    if gc * bits <= 32:
        ngroups = -(-count // gc)
        need = ngroups * gb
        p = p[:, : min(need, p.shape[1])]
        if p.shape[1] < need:
            p = jnp.concatenate([p, jnp.zeros((m, need - p.shape[1]), jnp.uint8)], axis=1)
        p = p.reshape(m, ngroups, gb).astype(u32)
        word = p[:, :, 0]
        for j in range(1, gb):
            word = (word << u32(8)) | p[:, :, j]
        mask = u32((1 << bits) - 1) if bits < 32 else u32(0xFFFFFFFF)
        out = jnp.stack([(word >> u32(bits * (gc - 1 - k))) & mask for k in range(gc)], axis=-1)
        return out.reshape(m, ngroups * gc)[:, :count].astype(dt)
    return _recombine(jnp, p.astype(u32), 8, bits, count).astype(dt)


def _jax_pack_nd(codes: Any, bits: int, axis: int) -> Any:
    import jax.numpy as jnp

    c = jnp.moveaxis(codes, axis, -1)
    lead, n = c.shape[:-1], c.shape[-1]
    out = _jax_pack(c.reshape(math.prod(lead), n), bits)
    return jnp.moveaxis(out.reshape(*lead, out.shape[-1]), -1, axis)


def _jax_unpack_nd(packed: Any, bits: int, count: int, axis: int) -> Any:
    import jax.numpy as jnp

    p = jnp.moveaxis(packed, axis, -1)
    lead, nbytes = p.shape[:-1], p.shape[-1]
    out = _jax_unpack(p.reshape(math.prod(lead), nbytes), bits, count)
    return jnp.moveaxis(out.reshape(*lead, count), -1, axis)


@functools.cache
def _jax_jitted(which: str) -> Any:
    """The n-d JAX kernels compiled with their int arguments static: one dispatch per call
    eagerly (instead of one per primitive), and inlined when the caller is itself jitted."""
    import jax

    if which == "minmax":
        return jax.jit(lambda x: (x.min(), x.max()))
    if which == "pack":
        return jax.jit(_jax_pack_nd, static_argnums=(1, 2))
    return jax.jit(_jax_unpack_nd, static_argnums=(1, 2, 3))


# ---- public API ---------------------------------------------------------------------------
def pack(codes: Any, bits: Any, axis: int = -1) -> Any:
    """Pack ``bits``-bit codes densely along ``axis``, most significant bit first.

    The first code occupies the most significant bits of the first byte; codes straddle
    byte boundaries when ``bits`` does not divide 8. Two FP4 codes make one byte
    ``c0 << 4 | c1``; four FP6 codes make three bytes ``c0 << 2 | c1 >> 4``,
    ``(c1 & 0xF) << 4 | c2 >> 2``, ``(c2 & 3) << 6 | c3``. The unused trailing bits of the
    last byte are zero.

    Args:
        codes: integer array (numpy, JAX, or anything ``np.asarray`` accepts) of codes in
            ``[0, 2^bits)``; unsigned or signed dtypes with non-negative values.
        bits: code width, an int in [1, 32], or a format (:class:`~lpemu.FloatFormat`,
            :class:`~lpemu.FixedFormat`, ...) whose ``.bits`` is used.
        axis: the axis to pack along; the other axes are kept.

    Returns:
        A uint8 array of the same library as ``codes`` (numpy in, numpy out; JAX in, JAX out)
        whose ``axis`` has length ``ceil(n * bits / 8)`` for ``n = codes.shape[axis]``.

    Raises:
        InvalidArgumentError: ``bits`` is outside [1, 32] (or the format is wider), ``codes``
            is 0-d or not of an integer dtype, ``axis`` is out of range, or (numpy and
            concrete JAX arrays) a code is negative or ``>= 2^bits``.

    Notes:
        Under :func:`jax.jit` the values cannot be checked: each code is cast to uint32 and
        only its low ``bits`` bits are stored (a negative code is stored as its low ``bits``
        bits in two's complement), so an out-of-range code never corrupts its neighbours.
        ``bits`` and ``axis`` must be static under ``jit``.

    Examples:
        >>> import numpy as np
        >>> [hex(b) for b in pack(np.array([1, 2, 3, 4], np.uint8), 4)]
        ['0x12', '0x34']
        >>> [hex(b) for b in pack(np.array([1, 2, 3, 4], np.uint8), 6)]
        ['0x4', '0x20', '0xc4']
        >>> pack(np.array([1, 0, 1]), 1)
        array([160], dtype=uint8)
        >>> pack(np.array([[1, 2], [3, 4]], np.uint8), 4, axis=0)
        array([[19, 36]], dtype=uint8)
        >>> import jax, jax.numpy as jnp
        >>> jax.jit(pack, static_argnums=(1, 2))(jnp.array([1, 2, 3, 4]), 6, -1)
        Array([  4,  32, 196], dtype=uint8)
    """
    b = _bits_of(bits)
    is_jax = _is_jax(codes)
    if not is_jax:
        codes = np.asarray(codes)
    dt = np.dtype(codes.dtype)
    if not np.issubdtype(dt, np.integer):
        raise InvalidArgumentError(f"codes must have an integer dtype, got {dt}")
    ax = _norm_axis(axis, codes.ndim, "codes")
    if codes.size and not _is_tracer(codes):
        lo, hi = _jax_jitted("minmax")(codes) if is_jax else (codes.min(), codes.max())
        lo, hi = int(lo), int(hi)
        if lo < 0 or hi >= 1 << b:
            bad = lo if lo < 0 else hi
            raise InvalidArgumentError(
                f"codes must be in [0, {(1 << b) - 1}] for bits={b}, got a code {bad}"
            )
    if is_jax:
        return _jax_jitted("pack")(codes, b, ax)
    c = np.moveaxis(codes, ax, -1)
    lead, n = c.shape[:-1], c.shape[-1]
    out = _np_pack(c.reshape(math.prod(lead), n), b)
    out = out.reshape(*lead, out.shape[-1])
    return np.ascontiguousarray(np.moveaxis(out, -1, ax))


def unpack(packed: Any, bits: Any, count: int, axis: int = -1) -> Any:
    """Unpack ``count`` codes of ``bits`` bits each along ``axis``; the inverse of :func:`pack`.

    Bytes beyond the first ``ceil(count * bits / 8)`` along ``axis`` are ignored.

    Args:
        packed: uint8 array (numpy, JAX, or anything ``np.asarray`` accepts) as produced by
            :func:`pack`.
        bits: code width, an int in [1, 32], or a format whose ``.bits`` is used.
        count: number of codes to read along ``axis``, in
            ``[0, floor(8 * packed.shape[axis] / bits)]``. Static under :func:`jax.jit`.
        axis: the axis holding the packed bytes.

    Returns:
        The codes, of dtype uint8 (bits <= 8), uint16 (bits <= 16) or uint32, with ``axis``
        of length ``count``, in the same array library as ``packed``.

    Raises:
        InvalidArgumentError: ``bits`` is outside [1, 32], ``packed`` is 0-d or not uint8,
            ``axis`` is out of range, or ``count`` is negative or needs more bits than
            ``packed`` holds.

    Examples:
        >>> import numpy as np
        >>> unpack(np.array([0x04, 0x20, 0xC4], np.uint8), 6, 4)
        array([1, 2, 3, 4], dtype=uint8)
        >>> unpack(np.array([0x12, 0x30], np.uint8), 4, 3)
        array([1, 2, 3], dtype=uint8)
        >>> unpack(pack(np.array([70000, 5]), 17), 17, 2)
        array([70000,     5], dtype=uint32)
    """
    b = _bits_of(bits)
    is_jax = _is_jax(packed)
    if not is_jax:
        packed = np.asarray(packed)
    if np.dtype(packed.dtype) != np.uint8:
        raise InvalidArgumentError(f"packed must have dtype uint8, got {np.dtype(packed.dtype)}")
    ax = _norm_axis(axis, packed.ndim, "packed")
    nbytes = packed.shape[ax]
    cnt = check_int(f"count (for {nbytes} packed bytes of {b}-bit codes)", count, 0, 8 * nbytes // b)
    if is_jax:
        return _jax_jitted("unpack")(packed, b, cnt, ax)
    p = np.moveaxis(packed, ax, -1)
    lead = p.shape[:-1]
    out = _np_unpack(p.reshape(math.prod(lead), nbytes), b, cnt)
    return np.ascontiguousarray(np.moveaxis(out.reshape(*lead, cnt), -1, ax))
