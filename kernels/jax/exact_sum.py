"""Exact (Kulisch) accumulation, rounded once to odd (the JAX twin of kernels/numba/exact_sum.py).

The same algorithm and limb layout on whole arrays, reducing over the last axis, in int64 on the
float64 bit patterns only (x64 is switched on for the kernel's trace only; XLA on CPU flushes
subnormal floats, so no float operation is ever applied to a term):

1. every term (and the addend, appended as one more term) becomes a limb index and the three
   32-bit digits of its shifted signed significand (:func:`deposit`);
2. the digits of all rows go into one flat limb-major (nlimbs * rows) int64 array, one
   scatter-add per digit (:func:`accumulate`). Alternatives measured on CPU (K = 256 and 16384,
   46 limbs): a one-hot select-and-sum over the limb axis ran at 1-2 M terms/s; a 2-D
   (row, limb) scatter or a vmapped 1-D scatter at 15 M/s; one scatter of all digits
   concatenated at 9 M/s, and one scatter of 3-limb windows at 25-38 M/s; three flat scatters
   with ``mode="promise_in_bounds"`` (the indices are clamped) at 40 M/s. There are no banks:
   a scatter has no store-to-load chain to break;
3. carries run over the limb axis in a ``lax.scan`` (:func:`carry`), negative totals are
   negated and carried again, and the top digits are read with ``take_along_axis``.

Every limb is carried and scanned, as in the Numba kernel; the results are the same bit for bit
within the documented contract.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

#: Bits per limb (digit) of the accumulator.
LIMB_BITS = 32
#: Most terms (the addend included) one sum may have: a limb gains less than 2^32 per term.
MAX_TERMS = 1 << 31
_DIGIT = 0xFFFFFFFF
_MAG = 0x7FFFFFFFFFFFFFFF
_FRAC = 0x000FFFFFFFFFFFFF
_INF = 0x7FF0000000000000
_QNAN = 0x7FF8000000000000
_SIGN = -(1 << 63)
_MAX_FINITE = 0x7FEFFFFFFFFFFFFF


def limb_count(lsb: int, emax: int) -> int:
    """Number of limbs for terms that are multiples of ``2^lsb`` below ``2^emax`` in magnitude;
    limb 0 weighs ``2^(lsb - 52)`` (see the Numba twin).

    Examples:
        >>> limb_count(-1074, 1024), limb_count(-700, 700)
        (70, 48)
    """
    return max((emax - 1 - lsb) // LIMB_BITS + 3, (emax + 83 - lsb + LIMB_BITS - 1) // LIMB_BITS + 1)


def bit_length(x):
    """Number of bits of ``x >= 0`` (int64; 0 for 0)."""
    return 64 - lax.clz(x)


def deposit(b, base: int, imax: int):
    """(limb index, three pieces) of float64 bits ``b``, limb 0 weighing ``2^base``: the 32-bit
    digits of the signed significand shifted into place (see the Numba twin)."""
    mag = b & _MAG
    e = mag >> 52
    m = (mag & _FRAC) | jnp.where(e != 0, 1 << 52, 0)
    s = b >> 63
    sm = (m ^ s) - s
    q = jnp.maximum(jnp.maximum(e, 1) - 1075 - base, 0)
    i = jnp.minimum(q >> 5, imax)
    r = q & 31
    return i, ((sm << r) & _DIGIT, (sm >> (32 - r)) & _DIGIT, (sm >> 32) >> (32 - r))


def accumulate(b, base: int, nlimbs: int):
    """Limbs (nlimbs, R) of the exact sums of the rows of float64 bits ``b`` (R, K), limb-major
    so that the carry loop reads contiguous rows."""
    rows = b.shape[0]
    i, pieces = deposit(b, base, nlimbs - 3)
    start = i * rows + jnp.arange(rows, dtype=jnp.int64)[:, None]
    flat = jnp.zeros(nlimbs * rows, jnp.int64)
    for d, p in enumerate(pieces):
        flat = flat.at[(start + d * rows).reshape(-1)].add(p.reshape(-1), mode="promise_in_bounds")
    return flat.reshape(nlimbs, rows)


def carry(limbs, s):
    """(digits in [0, 2^32) of the value of ``limbs`` (n, R), negated first where ``s == -1``,
    the carry out: the sign, 0 or -1). A ``lax.scan`` over the limbs: an unrolled Python loop
    was 1.5-5x slower (XLA fused the digits' chains into one another and recomputed them)."""

    def step(c, limb):
        v = ((limb ^ s) - s) + c
        return v >> 32, v & _DIGIT

    c, digits = lax.scan(step, jnp.zeros(limbs.shape[1:], jnp.int64), limbs)
    return digits, c


def special_bits(b):
    """(whether a row has a NaN or an infinity, the bits it then gives) for bits ``b`` (R, K)."""
    nan = jnp.any((b & _MAG) > _INF, axis=-1)
    pinf = jnp.any(b == _INF, axis=-1)
    ninf = jnp.any(b == (_INF | _SIGN), axis=-1)
    bits = jnp.where(nan | (pinf & ninf), _QNAN, jnp.where(pinf, _INF, _INF | _SIGN))
    return nan | pinf | ninf, bits


def zero_bits(b, round_down: bool):
    """Bits of an exact zero sum of the rows of ``b`` (IEEE 754 clause 6.3; see the twin)."""
    if round_down:
        neg = jnp.any(b != 0, axis=-1)
    else:
        neg = jnp.all(b == _SIGN, axis=-1)
    return jnp.where(neg, _SIGN, 0)


def odd_bits(a, b, c, sticky, lead, neg):
    """Float64 bits rounded to odd of the digits ``a > 0, b, c`` (see the Numba twin)."""
    n = bit_length(a)
    one = jnp.int64(1)
    sig = (a << (53 - n)) | ((b << 21) >> n) | (c >> (n + 11))
    sticky = sticky | (((b << 21) & ((one << n) - 1)) != 0) | ((c & ((one << (n + 11)) - 1)) != 0)
    biased = lead + n - 1 + 1023
    normal = (biased << 52) | (sig & _FRAC) | sticky.astype(jnp.int64)
    sh = jnp.clip(1 - biased, 0, 63)
    sub = (sig >> sh) | (sticky | ((sig & ((one << sh) - 1)) != 0)).astype(jnp.int64)
    mag = jnp.where(biased >= 2047, _MAX_FINITE, jnp.where(biased >= 1, normal, sub))
    return jnp.where(neg, mag | _SIGN, mag)


def exact_sum_odd(terms, c, lsb: int, nlimbs: int, round_down: bool = False):
    """float64 bits (int64) of ``c + terms.sum(-1)``, summed exactly and rounded once to odd.

    Args:
        terms: float64 array (..., K); the sum runs over the last axis (K >= 0).
        c: float64 addends, broadcastable to ``terms.shape[:-1]``.
        lsb: static int: every finite term and ``c`` is an integer multiple of ``2^lsb``
            (``lsb >= -1074``) and below ``2^emax`` in magnitude; outside that the result is
            unspecified.
        nlimbs: static int, :func:`limb_count` ``(lsb, emax)``.
        round_down: static bool: whether the rounding this result feeds is toward negative.

    Returns:
        int64 array of shape ``terms.shape[:-1]``: the same bits as the Numba kernel (see its
        docstring for rounding, specials and the signs of zero sums).
    """
    with jax.enable_x64(True):
        terms = jnp.asarray(terms, jnp.float64)
        lead_shape = terms.shape[:-1]
        c = jnp.broadcast_to(jnp.asarray(c, jnp.float64), lead_shape)
        b = lax.bitcast_convert_type(terms, jnp.int64).reshape(math.prod(lead_shape), terms.shape[-1])
        b = jnp.concatenate([b, lax.bitcast_convert_type(c, jnp.int64).reshape(-1, 1)], axis=-1)
        base = lsb - 52
        limbs, sign = carry(accumulate(b, base, nlimbs), 0)
        neg = sign < 0
        limbs, _ = carry(limbs, sign)
        nz = limbs != 0
        # the top non-zero limb (a max over int32 positions: argmax's int64 iota would be lowered
        # outside this x64 context, with a warning)
        t = jnp.max(jnp.where(nz, jnp.arange(nlimbs, dtype=jnp.int32)[:, None], 0), axis=0).astype(jnp.int64)

        def digit(k):
            return jnp.where(k >= 0, jnp.take_along_axis(limbs, jnp.maximum(k, 0)[None], 0)[0], 0)

        sticky = jnp.any(nz & (jnp.arange(nlimbs)[:, None] < t - 2), axis=0)
        res = odd_bits(digit(t), digit(t - 1), digit(t - 2), sticky, base + LIMB_BITS * t, neg)
        res = jnp.where(jnp.any(nz, axis=0), res, zero_bits(b, round_down))
        special, sbits = special_bits(b)
        res = jnp.where(special, sbits, res)
        return res.reshape(lead_shape)
