"""Counter-based random bits for stochastic rounding (see docs/semantics.md).

Element ``i`` of a call with seed ``(seed_hi << 32) | seed_lo`` gets
``h = mix(mix(lo(i) ^ key0) ^ hi(i) ^ key1)`` with ``mix`` the lowbias32 hash; the top
``n`` bits of ``h`` are the random integer. A hash of the index (rather than a sequential
generator) makes every element's bits independent of the thread schedule and identical in
the JAX kernel.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_MASK32 = np.uint64(0xFFFFFFFF)
_M1 = np.uint64(0x7FEB352D)
_M2 = np.uint64(0x846CA68B)
_S15 = np.uint64(15)
_S16 = np.uint64(16)
_S32 = np.uint64(32)
_GOLDEN = np.uint64(0x9E3779B9)
_SALT = np.uint64(0x85EBCA6B)


@nb.njit(inline="always")
def mix32(x: np.uint64) -> np.uint64:
    """lowbias32 (C. Wellons): a bijective 32-bit integer hash, computed in uint64."""
    x ^= x >> _S16
    x = (x * _M1) & _MASK32
    x ^= x >> _S15
    x = (x * _M2) & _MASK32
    x ^= x >> _S16
    return x


@nb.njit(inline="always")
def sr_keys(seed_lo: int, seed_hi: int) -> tuple[np.uint64, np.uint64]:
    """The two per-call keys derived from the 64-bit seed."""
    return mix32(np.uint64(seed_lo) ^ _GOLDEN), mix32(np.uint64(seed_hi) ^ _SALT)


@nb.njit(inline="always")
def element_bits(i: int, key0: np.uint64, key1: np.uint64, n: int) -> int:
    """The ``n``-bit random integer of flat element ``i``."""
    u = np.uint64(i)
    h = mix32(mix32((u & _MASK32) ^ key0) ^ (u >> _S32) ^ key1)
    return np.int64(h >> np.uint64(32 - n))
