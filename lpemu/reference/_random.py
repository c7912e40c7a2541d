"""Reference counter-based hash for the random bits of stochastic rounding.

Implements docs/semantics.md, section "Random bits of stochastic rounding", in plain Python
integers. Every intermediate is reduced modulo 2^32 explicitly, so the result does not depend
on any machine integer type.
"""

from __future__ import annotations

from ..errors import check_int

__all__ = ["random_bits", "mix32"]

_MASK32 = 0xFFFFFFFF


def mix32(x: int) -> int:
    """The lowbias32 integer hash, modulo 2^32 (semantics: ``mix``).

    ``x ^= x >> 16; x *= 0x7feb352d; x ^= x >> 15; x *= 0x846ca68b; x ^= x >> 16``.

    Examples:
        >>> mix32(0), mix32(1)
        (0, 1753845952)
    """
    x &= _MASK32
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _MASK32
    x ^= x >> 16
    return x


def random_bits(index: int, seed: int, n: int) -> int:
    """The ``n``-bit random integer ``r`` that stochastic rounding uses for one element.

    Semantics, "Random bits of stochastic rounding": element ``i`` (flat C-order index) of a
    call with ``seed`` uses ``r = h >> (32 - n)`` with (all arithmetic modulo 2^32)::

        key0 = mix((seed mod 2^32) ^ 0x9e3779b9)
        key1 = mix((seed >> 32) ^ 0x85ebca6b)
        h    = mix(mix((i mod 2^32) ^ key0) ^ (i >> 32) ^ key1)

    Args:
        index: flat element index, in [0, 2^64).
        seed: the call's seed, in [0, 2^64).
        n: number of random bits, 1..32 (stochastic rounding uses ``sr_bits``, 1..30).

    Returns:
        An integer in [0, 2^n).

    Examples:
        >>> random_bits(0, 0, 30) < 2**30
        True
        >>> random_bits(5, 42, 32) >> 2 == random_bits(5, 42, 30)
        True
    """
    i = check_int("index", index, 0, 2**64 - 1)
    s = check_int("seed", seed, 0, 2**64 - 1)
    n = check_int("n", n, 1, 32)
    key0 = mix32((s & _MASK32) ^ 0x9E3779B9)
    key1 = mix32((s >> 32) ^ 0x85EBCA6B)
    # i >> 32 is below 2^32 because i < 2^64, so every operand of ^ is a 32-bit value.
    h = mix32(mix32((i & _MASK32) ^ key0) ^ (i >> 32) ^ key1)
    return h >> (32 - n)
