"""Counter-based random bits for stochastic rounding (the JAX twin of kernels/numba/random.py).

Same hash as the Numba kernel, in uint32 arithmetic (which wraps modulo 2^32): element ``i``
gets ``mix(mix(i ^ key0) ^ key1)``'s top ``n`` bits. JAX arrays here are below 2^32 elements,
so the high word of the index is 0.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

_U = jnp.uint32


def mix32(x: jnp.ndarray) -> jnp.ndarray:
    """lowbias32 (C. Wellons): a bijective 32-bit integer hash."""
    x = x ^ (x >> _U(16))
    x = x * _U(0x7FEB352D)
    x = x ^ (x >> _U(15))
    x = x * _U(0x846CA68B)
    return x ^ (x >> _U(16))


def sr_keys(seed_lo, seed_hi) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The two per-call keys derived from the 64-bit seed (ints or uint32 arrays)."""
    return mix32(jnp.asarray(seed_lo).astype(_U) ^ _U(0x9E3779B9)), mix32(jnp.asarray(seed_hi).astype(_U) ^ _U(0x85EBCA6B))


def element_bits(shape: tuple[int, ...], key0, key1, n: int) -> jnp.ndarray:
    """The ``n``-bit random integers of every element of an array of ``shape`` (C order), as int32."""
    return index_bits(jnp.arange(math.prod(shape), dtype=_U).reshape(shape), 0, key0, key1, n)


def index_bits(i_lo, i_hi, key0, key1, n: int) -> jnp.ndarray:
    """The ``n``-bit random integers of elements with flat indices ``(i_hi << 32) | i_lo``."""
    h = mix32(mix32(jnp.asarray(i_lo).astype(_U) ^ key0) ^ jnp.asarray(i_hi).astype(_U) ^ key1)
    return (h >> _U(32 - n)).astype(jnp.int32)
