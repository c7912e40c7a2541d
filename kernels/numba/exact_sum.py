"""Exact (Kulisch) accumulation: the exact sum of float64 terms and an addend, rounded once to odd.

The ``exact`` accumulator model of a dot product adds K exact products and an addend ``c``
with no rounding at all and rounds the sum once. This kernel delivers that sum as one float64
rounded to odd at 53 bits, from which one later rounding into a narrower format is correct
(:mod:`.arith` says how many bits narrower each rounding mode needs):

1. Fixed point. The accumulator is an array of signed int64 *limbs* of :data:`LIMB_BITS` = 32
   bits; limb ``j`` weighs ``2^(lsb - 52 + 32 j)``. Every term must be an integer multiple of
   ``2^lsb`` and smaller than ``2^emax`` in magnitude (so its float64 quantum is at least
   ``2^(lsb - 52)``); :func:`limb_count` gives the number of limbs for that range. A term's
   signed significand (54 bits), shifted to its bit ``r < 32`` of limb ``i``, is an 86-bit
   two's complement number whose three 32-bit digits (the top one signed) are added to limbs
   ``i, i + 1, i + 2`` (:func:`deposit`). Each adds less than ``2^32`` in magnitude to a limb,
   so a limb cannot overflow before :data:`MAX_TERMS` terms: no carries while adding.
   Even and odd terms go to two banks of limbs (:data:`BANKS`), added together at the end.
2. One carry pass makes every limb a digit in ``[0, 2^32)``; the carry out of the top limb is
   the sign (0 or -1). A negative total is negated (the digits negated and carried once more).
3. The top non-zero digit and the two below it hold the leading 53 bits; every lower bit goes
   into a sticky bit. The float64 bits are built with integer operations only (:func:`odd_bits`).

Special values are found by a first pass over the terms (the largest magnitude) and settled by
a second scan only when present, as are the signs of exact zero sums; see :func:`exact_sum_odd`.

A call costs O(K + number of limbs): the scratch is cleared, carried and scanned in full
(tracking the range of limbs the terms touched cost more, per term, than it saved). The
scratch is passed in, so a loop over output elements allocates it once per thread chunk
(:func:`exact_sum_odd_rows`); allocating it per call measured the same at K = 256.

``kernels/jax/exact_sum.py`` is the same algorithm, function for function, bit for bit.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

#: Bits per limb (digit) of the accumulator.
LIMB_BITS = 32
#: Most terms (the addend included) one sum may have: a limb gains less than 2^32 per term.
MAX_TERMS = 1 << 31
#: Accumulators the terms alternate between: consecutive terms of similar magnitude add into the
#: same limbs, and each addition waits for the previous one's store; two banks (even and odd
#: terms, added together before the carry pass) made the loop 1.5x faster (5.5 -> 3.5 ns per
#: term, K = 256 products within 2^16 of each other), four only 3% more.
BANKS = 2
#: Terms checked for specials, then deposited, at a time (even, so that the banks alternate).
BLOCK = 512
#: Chunks of rows of :func:`exact_sum_odd_rows` (each allocates its own scratch limbs).
ROW_CHUNKS = 256
_DIGIT = np.int64(0xFFFFFFFF)
_MAG = np.int64(0x7FFFFFFFFFFFFFFF)
_FRAC = np.int64(0x000FFFFFFFFFFFFF)
_INF = np.int64(0x7FF0000000000000)
_QNAN = np.int64(0x7FF8000000000000)
_SIGN = np.int64(-(1 << 63))
_MAX_FINITE = np.int64(0x7FEFFFFFFFFFFFFF)


def limb_count(lsb: int, emax: int) -> int:
    """Number of limbs for terms that are multiples of ``2^lsb`` below ``2^emax`` in magnitude.

    Limb 0 weighs ``2^(lsb - 52)``, the quantum of a float64 in ``[2^lsb, 2^(lsb + 1))``, so
    that every term's significand lands on whole bits. The count is enough for the three pieces
    of the largest term and for the carries of up to :data:`MAX_TERMS` terms (the sum stays
    below ``2^(emax + 31)``), with one limb to spare.

    Examples:
        >>> limb_count(-1074, 1024), limb_count(-700, 700)
        (70, 48)
    """
    return max((emax - 1 - lsb) // LIMB_BITS + 3, (emax + 83 - lsb + LIMB_BITS - 1) // LIMB_BITS + 1)


@nb.njit(inline="always")
def bit_length(x: int) -> int:
    """Number of bits of ``x >= 0`` (0 for 0)."""
    return 64 - leading_zeros(np.int64(x))


@nb.njit(inline="always")
def deposit(limbs, b: int, base: int, imax: int) -> None:
    """Add the float64 with bits ``b`` to ``limbs`` (limb 0 weighing ``2^base``).

    The signed significand ``sm`` (54 bits) times ``2^r`` (``r < 32``) is an 86-bit two's
    complement number; its three 32-bit digits (the top one signed) are added to limbs
    ``i, i + 1, i + 2``. Inf and NaN (and terms above the range) land at ``imax`` at most, zero
    (and terms below it) at 0: harmless garbage that the caller discards or a wrong sum, but
    never a write outside ``limbs``.
    """
    mag = b & _MAG
    e = mag >> 52
    m = (mag & _FRAC) | (np.int64(e != 0) << 52)
    s = b >> 63  # 0 or -1
    sm = (m ^ s) - s
    q = max(max(e, 1) - 1075 - base, 0)  # the bit of the accumulator m's last bit lands on
    i = min(q >> 5, imax)
    r = q & 31
    limbs[i] += (sm << r) & _DIGIT
    limbs[i + 1] += (sm >> (32 - r)) & _DIGIT
    limbs[i + 2] += (sm >> 32) >> (32 - r)


@nb.njit(inline="always")
def carry(limbs, s: int) -> int:
    """Replace ``limbs`` by the digits in ``[0, 2^32)`` of their value (negated first if
    ``s == -1``); returns the carry out of the top limb: the sign, 0 or -1."""
    c = np.int64(0)
    for j in range(limbs.size):
        v = ((limbs[j] ^ s) - s) + c
        limbs[j] = v & _DIGIT
        c = v >> 32
    return c


@nb.njit(inline="always")
def special_bits(terms, cb: int) -> int:
    """Bits of a sum with a NaN or an infinity among the terms or ``c`` (bits ``cb``)."""
    nan = (cb & _MAG) > _INF
    pinf = cb == _INF
    ninf = cb == (_INF | _SIGN)
    for k in range(terms.shape[0]):
        b = np.float64(terms[k]).view(np.int64)
        nan |= (b & _MAG) > _INF
        pinf |= b == _INF
        ninf |= b == (_INF | _SIGN)
    if nan | (pinf & ninf):
        return _QNAN
    return _INF if pinf else _INF | _SIGN


@nb.njit(inline="always")
def zero_bits(terms, cb: int, round_down: bool) -> int:
    """Bits of an exact zero sum (IEEE 754 clause 6.3): +0, except -0 when every operand is -0;
    when rounding down, -0 unless every operand is +0."""
    any_bits = cb
    all_bits = cb
    for k in range(terms.shape[0]):
        b = np.float64(terms[k]).view(np.int64)
        any_bits |= b
        all_bits &= b
    if round_down:
        neg = any_bits != 0
    else:
        neg = ((any_bits & _MAG) == 0) & (all_bits < 0)
    return _SIGN if neg else np.int64(0)


@nb.njit(inline="always")
def odd_bits(a: int, b: int, c: int, sticky: bool, lead: int, neg: bool) -> int:
    """Float64 bits, rounded to odd, of the digits ``a > 0, b, c`` (in that order from the top,
    ``a`` weighing ``2^lead`` per unit) followed by lower bits whose OR is ``sticky``.

    ``a`` has ``n <= 32`` bits; its bits and the top ``53 - n`` of ``b`` and ``c`` form the
    significand. Results below ``2^-1022`` are rounded to odd on float64's subnormal grid (sums
    of float64 terms are exact there: all are multiples of ``2^-1074``); results of ``2^1024``
    or more give the largest finite magnitude (odd, and finite because the sum is: a later
    rounding then overflows as the exact sum would, in every mode).
    """
    n = bit_length(a)
    sig = (a << (53 - n)) | ((b << 21) >> n) | (c >> (n + 11))
    sticky = sticky | (((b << 21) & ((np.int64(1) << n) - 1)) != 0) | ((c & ((np.int64(1) << (n + 11)) - 1)) != 0)
    biased = lead + n - 1 + 1023
    if biased >= 2047:
        mag = _MAX_FINITE
    elif biased >= 1:
        mag = (np.int64(biased) << 52) | (sig & _FRAC) | np.int64(sticky)
    else:
        sh = min(1 - biased, 63)
        sticky = sticky | ((sig & ((np.int64(1) << sh) - 1)) != 0)
        mag = (sig >> sh) | np.int64(sticky)
    return mag | _SIGN if neg else mag


@nb.njit(inline="always")
def exact_sum_odd(terms, c: float, limbs, lsb: int, round_down: bool) -> int:
    """float64 bits (int64) of ``c + sum(terms)``, summed exactly and rounded once to odd.

    Args:
        terms: 1-D float64 array or strided view (K >= 0 terms, K < :data:`MAX_TERMS`).
        c: the addend (float64).
        limbs: int64 scratch of shape (:data:`BANKS`, :func:`limb_count` ``(lsb, emax)``), any
            contents (it is overwritten).
        lsb: every finite term and ``c`` is an integer multiple of ``2^lsb`` (``lsb >= -1074``)
            and below ``2^emax`` in magnitude. Outside that contract the result is unspecified
            (but nothing outside ``limbs`` is written).
        round_down: whether the rounding this result feeds is toward negative (sets the sign of
            an exact zero sum).

    Returns:
        The bits of the exact sum rounded to odd at 53 bits (truncated, last bit set when
        anything non-zero was dropped; exact sums exactly): below ``2^-1022`` on float64's
        subnormal grid, and from ``2^1024`` up the largest finite float64. Specials: any NaN,
        or both +Inf and -Inf, give the positive quiet NaN ``0x7FF8000000000000``; otherwise an
        infinity gives itself. An exact zero sum is +0, except -0 when every term and ``c``
        are -0; with ``round_down``, -0 unless every term and ``c`` are +0 (IEEE 754 clause
        6.3).
    """
    n = limbs.shape[1]
    base = lsb - 52
    limbs[:] = 0
    acc, acc1 = limbs[0], limbs[1]
    cb = np.float64(c).view(np.int64)
    # Specials are looked for by a separate pass (it vectorises) over blocks of terms that stay
    # in the L1 cache for the deposits: the largest magnitude taken inside the deposit loop
    # cost 1 ns per term (25%), and a pass over all terms first 2 ns per term for long sums.
    if (cb & _MAG) >= _INF:
        return special_bits(terms, cb)
    deposit(acc, cb, base, n - 3)
    size = terms.shape[0]
    nblocks = (size + BLOCK - 1) // BLOCK
    for blk in range(nblocks):
        k0 = blk * BLOCK
        m = min(BLOCK, size - k0)
        big = np.int64(0)
        for k in range(m):
            big = max(big, np.float64(terms[k0 + k]).view(np.int64) & _MAG)
        if big >= _INF:
            return special_bits(terms, cb)
        for h in range(m // 2):
            deposit(acc, np.float64(terms[k0 + 2 * h]).view(np.int64), base, n - 3)
            deposit(acc1, np.float64(terms[k0 + 2 * h + 1]).view(np.int64), base, n - 3)
    if size % 2 == 1:
        deposit(acc, np.float64(terms[size - 1]).view(np.int64), base, n - 3)
    for j in range(n):
        acc[j] += acc1[j]
    # Costs O(limbs) per sum: tracking the range of limbs touched cost more, per term.
    neg = carry(acc, 0) < 0
    if neg:
        carry(acc, -1)
    t = n - 1
    while (t >= 0) and (acc[t] == 0):
        t -= 1
    if t < 0:
        return zero_bits(terms, cb, round_down)
    sticky = False
    for j in range(t - 2):
        sticky |= acc[j] != 0
    b1 = acc[t - 1] if t >= 1 else np.int64(0)
    b2 = acc[t - 2] if t >= 2 else np.int64(0)
    return odd_bits(acc[t], b1, b2, sticky, base + LIMB_BITS * t, neg)


@nb.njit(parallel=True, cache=True)
def exact_sum_odd_rows(terms, c, out, lsb, nlimbs, round_down):
    """``out[r] = exact_sum_odd(terms[r], c[r], ...)`` for every row of the 2-D float64
    ``terms`` (R, K), in parallel: one scratch of (BANKS, ``nlimbs``) limbs per chunk of rows
    (:data:`ROW_CHUNKS` chunks at most; ``nb.get_num_threads()`` would stop caching)."""
    rows = terms.shape[0]
    chunks = min(rows, ROW_CHUNKS)
    for t in nb.prange(chunks):
        limbs = np.empty((BANKS, nlimbs), np.int64)
        for r in range(t * rows // chunks, (t + 1) * rows // chunks):
            out[r] = exact_sum_odd(terms[r], c[r], limbs, lsb, round_down)
