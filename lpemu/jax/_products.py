"""Shape work behind the policy's products: dot_general and convolutions as batched matmuls,
and sliding windows.

Everything here is exact (transposes, reshapes, pads, slices); the arithmetic lives in
:class:`lpemu.jax.Policy`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["canonical_dot", "from_canonical", "dot_channel_axis", "windows", "im2col", "col2out"]


def canonical_dot(a: Any, b: Any, dimension_numbers: Any) -> tuple[Any, Any, tuple[int, ...]]:
    """``dot_general`` operands as (B, M, K) and (B, K, N) arrays, and the result's shape.

    The batch dimensions come first, then a's free dimensions (flattened into M) and the
    contracted ones (flattened into K, in the order of ``dimension_numbers``); likewise b.
    """
    (lc, rc), (lb, rb) = dimension_numbers
    lc, rc, lb, rb = (tuple(int(d) for d in dims) for dims in (lc, rc, lb, rb))
    lf = [d for d in range(a.ndim) if d not in lc + lb]
    rf = [d for d in range(b.ndim) if d not in rc + rb]
    batch = [a.shape[d] for d in lb]
    m = [a.shape[d] for d in lf]
    n = [b.shape[d] for d in rf]
    k = math.prod(a.shape[d] for d in lc)
    a3 = jnp.transpose(a, (*lb, *lf, *lc)).reshape(math.prod(batch), math.prod(m), k)
    b3 = jnp.transpose(b, (*rb, *rc, *rf)).reshape(math.prod(batch), k, math.prod(n))
    return a3, b3, (*batch, *m, *n)


def from_canonical(out: Any, shape: Sequence[int]) -> Any:
    """The (B, M, N) product back in dot_general's (batch, a free, b free) shape."""
    return out.reshape(tuple(shape))


def dot_channel_axis(dimension_numbers: Any, ndims: tuple[int, int], weights: int) -> int | None:
    """The dot_general result axis of operand ``weights``' (0 or 1) one free dimension, or None
    if that operand has no or several free dimensions."""
    (lc, rc), (lb, rb) = dimension_numbers
    contract, batch = tuple((lc, rc)[weights]), tuple((lb, rb)[weights])
    free = [d for d in range(ndims[weights]) if d not in contract + batch]
    if len(free) != 1:
        return None
    return len(lb) + ((ndims[0] - len(lc) - len(lb)) if weights == 1 else 0)


def windows(x: Any, window: Sequence[int], strides: Sequence[int], padding: Sequence[tuple[int, int]],
            base_dilation: Sequence[int], window_dilation: Sequence[int]) -> Any:
    """Every window of ``x`` (as ``lax.reduce_window`` and convolutions see them), stacked last.

    Returns an array of shape (*out_shape, prod(window)): output position ``i`` holds the
    window's elements in row-major order of the window offsets; padding (and the holes of
    ``base_dilation``) hold zeros.
    """
    cfg = [(int(lo), int(hi), int(d) - 1) for (lo, hi), d in zip(padding, base_dilation)]
    xp = lax.pad(x, jnp.zeros((), x.dtype), cfg)
    span = [(w - 1) * d + 1 for w, d in zip(window, window_dilation)]
    out = [max((n - s) // st + 1, 0) for n, s, st in zip(xp.shape, span, strides)]
    pieces = []
    for offsets in itertools.product(*(range(w) for w in window)):
        start = [o * d for o, d in zip(offsets, window_dilation)]
        limit = [s + max((n - 1) * st + 1, 0) for s, n, st in zip(start, out, strides)]
        pieces.append(lax.slice(xp, start, limit, tuple(strides)))
    return jnp.stack(pieces, axis=-1)


def im2col(lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Sequence[tuple[int, int]],
           lhs_dilation: Sequence[int], rhs_dilation: Sequence[int], dimension_numbers: Any,
           feature_group_count: int) -> tuple[Any, Any, tuple[int, ...]]:
    """A convolution as a batched matmul: (G, P, C/G * KK) patches, (G, C/G * KK, O/G) kernels.

    G is the feature group count, P the number of output positions (batch times output
    spatial size), KK the kernel's spatial size; the contracted axis runs over input channels,
    then kernel positions (row-major). Returns the two operands and the (N, *spatial, O) shape
    of the product before :func:`col2out`.
    """
    lhs_spec, rhs_spec, _ = dimension_numbers
    x = jnp.transpose(lhs, lhs_spec)  # (N, C, *S)
    w = jnp.transpose(rhs, rhs_spec)  # (O, C/G, *K)
    nsp = x.ndim - 2
    kernel = w.shape[2:]
    kk = math.prod(kernel)
    pats = windows(x, (1, 1, *kernel), (1, 1, *window_strides), ((0, 0), (0, 0), *padding),
                   (1, 1, *lhs_dilation), (1, 1, *rhs_dilation))  # (N, C, *O_sp, KK)
    n, c = x.shape[:2]
    out_sp = pats.shape[2:2 + nsp]
    g = feature_group_count
    p = n * math.prod(out_sp)
    pats = jnp.moveaxis(pats, 1, -2).reshape(p, g, (c // g) * kk).transpose(1, 0, 2)
    o = w.shape[0]
    kern = w.reshape(g, o // g, (c // g) * kk).transpose(0, 2, 1)
    return pats, kern, (n, *out_sp, o)


def col2out(out: Any, shape: Sequence[int], out_spec: Sequence[int]) -> Any:
    """The (G, P, O/G) product of :func:`im2col` operands in the convolution's output layout."""
    res = out.transpose(1, 0, 2).reshape(tuple(shape))  # (N, *spatial, O)
    res = jnp.moveaxis(res, -1, 1)  # (N, O, *spatial): the canonical layout
    return jnp.transpose(res, tuple(int(i) for i in np.argsort(out_spec)))
