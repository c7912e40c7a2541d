"""Matrix products with modelled accumulators (the JAX twin of kernels/numba/dot.py).

Operands are float64 arrays (the caller enables x64 and widens float32 bits exactly); the
sequential sum is a ``lax.scan`` over k, the pairwise sum a static loop over the tree's levels.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ..params import DOWN, STOCHASTIC_A
from .arith import exact_add, round_odd_bits, two_prod
from .exact_sum import exact_sum_odd
from .lmul import lmul_value
from .random import index_bits
from .rounding import float_element

PRODUCT_EXACT, PRODUCT_ROUNDED, PRODUCT_LMUL = 0, 1, 2


def _round(hi, lo, p, key0, key1, index=None):
    """hi + lo rounded once into the format of ``p`` (random bits of flat ``index`` when given)."""
    rbits = None
    if index is not None and p.mode >= STOCHASTIC_A:
        rbits = index_bits(index & 0xFFFFFFFF, index >> 32, key0, key1, p.sr_bits)
    return lax.bitcast_convert_type(float_element(round_odd_bits(hi, lo), p, p, key0, key1, rbits), jnp.float64)


def product(x, y, kind: int, pp, lp):
    """x * y: exact, rounded once into the product format or the L-Mul approximation."""
    if kind == PRODUCT_ROUNDED:
        hi, lo = two_prod(x, y)
        return _round(hi, lo, pp, 0, 0)
    if kind == PRODUCT_LMUL:
        x, y = jnp.broadcast_arrays(x, y)
        return lmul_value(x, y, lp)
    return x * y


def accumulate(acc, p, index, pacc, key0, key1):
    """acc + p rounded once into the accumulator format (random bits of ``index``)."""
    s, e = exact_add(acc, p, 0.0, pacc.mode)
    return _round(s, e, pacc, key0, key1, index)


def _base(m: int, n: int, k_dim: int):
    """(i * N + j) * K for every output element, as int64."""
    return (jnp.arange(m, dtype=jnp.int64)[:, None] * n + jnp.arange(n, dtype=jnp.int64)[None, :]) * k_dim


def sequential_matmul(a, b, c, kind: int, pp, lp, pacc, key0, key1):
    """c + a @ b with recursive summation over k, each step rounded."""
    m, k_dim = a.shape
    base = _base(m, b.shape[1], k_dim)

    def step(acc, k):
        p = product(a[:, k][:, None], b[k][None, :], kind, pp, lp)
        return accumulate(acc, p, base + k, pacc, key0, key1), None

    return lax.scan(step, c, jnp.arange(k_dim, dtype=jnp.int64))[0]


def pairwise_matmul(a, b, c, kind: int, pp, lp, pacc, key0, key1):
    """c + (a @ b summed as a binary tree), each addition rounded; c is added last."""
    m, k_dim = a.shape
    base = _base(m, b.shape[1], k_dim)
    t = product(a[:, :, None], b[None, :, :], kind, pp, lp)  # (M, K, N)
    node = 0
    while t.shape[1] > 1:
        size = t.shape[1]
        half = size // 2
        idx = base[:, None, :] + node + jnp.arange(half, dtype=jnp.int64)[None, :, None]
        s = accumulate(t[:, 0:2 * half:2], t[:, 1:2 * half:2], idx, pacc, key0, key1)
        t = jnp.concatenate([s, t[:, size - 1:]], axis=1) if size % 2 else s
        node += half
    return accumulate(c, t[:, 0], base + node, pacc, key0, key1)


def exact_matmul(a, b, c, kind: int, pp, lp, pacc, key0, key1, lsb: int, nlimbs: int):
    """round(c + a @ b) with the sum exact (kernels/jax/exact_sum.py), rounded once."""
    m, n = c.shape
    t = jnp.swapaxes(product(a[:, :, None], b[None, :, :], kind, pp, lp), 1, 2)  # (M, N, K)
    bits = exact_sum_odd(t, c, lsb, nlimbs, pacc.mode == DOWN)
    index = jnp.arange(m * n, dtype=jnp.int64).reshape(m, n)
    rbits = index_bits(index & 0xFFFFFFFF, index >> 32, key0, key1, pacc.sr_bits) if pacc.mode >= STOCHASTIC_A else None
    return lax.bitcast_convert_type(float_element(bits, pacc, pacc, key0, key1, rbits), jnp.float64)
