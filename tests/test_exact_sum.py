"""Exact accumulation rounded to odd: Numba == JAX == the exact oracle, bit for bit.

Every case is a batch of rows (terms, c); each backend's float64 bits are compared with
``lpemu.reference._exact_sum.exact_sum_odd`` (an integer sum in units of 2^-1074, rounded to
odd with Python ints) row by row, as hex strings so that a failure shows the bits.
"""

from __future__ import annotations

import math

import jax
import numba as nb
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lpemu.kernels.jax import exact_sum as jx
from lpemu.kernels.numba import exact_sum as nx
from lpemu.reference._exact_sum import exact_sum_odd as reference

INF, NAN = math.inf, math.nan
#: (lsb, emax) ranges: the lead's formats, a narrow fixed-point-like range, all of float64.
RANGES = {"wide": (-700, 700), "narrow": (-20, 40), "float64": (-1074, 1024)}


@nb.njit(cache=True)
def _numba_columns(terms_t, c, out, lsb, nlimbs, round_down):
    """exact_sum_odd on the strided columns of ``terms_t`` (K, R), reusing one dirty scratch."""
    limbs = np.full((nx.BANKS, nlimbs), 0x5A5A5A5A5A5A5A5, np.int64)
    for r in range(terms_t.shape[1]):
        out[r] = nx.exact_sum_odd(terms_t[:, r], c[r], limbs, lsb, round_down)


def numba_rows(terms, c, lsb, emax, round_down):
    out = np.empty(terms.shape[0], np.int64)
    nx.exact_sum_odd_rows(terms, c, out, lsb, nx.limb_count(lsb, emax), round_down)
    return out


def numba_columns(terms, c, lsb, emax, round_down):
    out = np.empty(terms.shape[0], np.int64)
    _numba_columns(np.ascontiguousarray(terms.T), c, out, lsb, nx.limb_count(lsb, emax), round_down)
    return out


_jit = jax.jit(jx.exact_sum_odd, static_argnames=("lsb", "nlimbs", "round_down"))


def jax_jit(terms, c, lsb, emax, round_down):
    with jax.enable_x64(True):
        return np.asarray(_jit(terms, c, lsb=lsb, nlimbs=jx.limb_count(lsb, emax), round_down=round_down))


#: Every implementation, fed (terms (R, K), c (R,), lsb, emax, round_down) -> bits (R,).
BACKENDS = {"numba_rows": numba_rows, "numba_strided": numba_columns, "jax_jit": jax_jit}


def expected(terms, c, round_down=False):
    return np.array([reference(list(t), float(cc), round_down) for t, cc in zip(terms, c)], np.int64)


def hexes(bits):
    return [hex(int(b) & (2**64 - 1)) for b in np.asarray(bits).reshape(-1)]


def check(terms, c, lsb=-700, emax=700, round_down=False, backends=tuple(BACKENDS)):
    terms = np.asarray(terms, np.float64)
    c = np.asarray(c, np.float64)
    want = hexes(expected(terms, c, round_down))
    for name in backends:
        assert hexes(BACKENDS[name](terms, c, lsb, emax, round_down)) == want, name


def values(rng, shape, lsb, emax, bits=53):
    """Random finite values: signed ``bits``-bit significands times 2^e, lsb <= e <= emax - bits."""
    m = rng.integers(-(2**bits - 1), 2**bits, shape)
    return np.ldexp(m.astype(np.float64), rng.integers(lsb, emax - bits + 1, shape))


def shuffle_rows(rng, x):
    return np.stack([rng.permutation(row) for row in x])


# ---------------------------------------------------------------------------------------------
# Random sums in each range


@pytest.mark.parametrize("rng_name", list(RANGES))
def test_spread_over_the_range(rng_name):
    """Terms spread uniformly over every binade of the range (no overlap, mostly sticky)."""
    lsb, emax = RANGES[rng_name]
    rng = np.random.default_rng(1)
    terms = values(rng, (48, 24), lsb, emax)
    c = values(rng, 48, lsb, emax)
    c[::4] = 0.0
    check(terms, c, lsb, emax)


@pytest.mark.parametrize("round_down", [False, True], ids=["nearest", "round_down"])
def test_dot_products_of_narrow_inputs(round_down):
    """Products of 8- and 11-bit inputs with nearby exponents, like a bf16/fp16 dot product."""
    rng = np.random.default_rng(2)
    a = values(rng, (48, 24), -40, 40, bits=11)
    b = values(rng, (48, 24), -40, 40, bits=8)
    check(a * b, values(rng, 48, -60, 60, bits=24), round_down=round_down)


def test_massive_cancellation():
    """Pairs x, -x of huge terms plus a few tiny ones: the tiny ones are the whole sum."""
    rng = np.random.default_rng(3)
    big = values(rng, (48, 10), 300, 700)
    tiny = values(rng, (48, 4), -700, -400)
    tiny[::3, 1:] = 0.0  # some rows with one tiny term: exact results
    terms = shuffle_rows(rng, np.concatenate([big, -big, tiny], axis=1))
    check(terms, -tiny[:, 0] * (np.arange(48) % 5 == 0))  # some rows cancel to exactly 0


def test_cancellation_with_carries():
    """Sums whose carries run through many limbs: 2^k - 2^j chains and borrows."""
    rng = np.random.default_rng(4)
    rows, c = [], []
    for _ in range(48):
        hi = int(rng.integers(100, 640))
        lo = int(rng.integers(-700, hi - 60))
        k = rng.integers(1, 4)
        rows.append([2.0**hi, -(2.0**lo) * k, (2.0**lo) * int(rng.integers(0, 3)), -(2.0**hi)
                     if rng.random() < 0.3 else 0.0])
        c.append(float(rng.choice([0.0, 2.0 ** (lo - 1), -(2.0 ** (lo + 7))])))
    check(np.array(rows), np.array(c))


def test_exact_and_sticky_boundaries():
    """Sums of 53 bits (exact), 54 bits (one dropped bit), ones that only just need a sticky bit,
    and carries that round up a binade."""
    one, ulp = 1.0, 2.0**-52
    rows = [
        [one, ulp, 0.0],  # 1 + 2^-52: exact
        [one, ulp / 2, 0.0],  # 54 bits: sticky
        [one, ulp / 2, ulp / 2],  # exact again: 1 + 2^-52
        [one, -ulp / 4, 0.0],  # just below 1: 0.1111...1 (53 ones) then a dropped one
        [2.0**53, one, 0.0],  # 2^53 + 1: the last bit is dropped
        [2.0**53, one, one],  # 2^53 + 2: exact
        [2.0**53 - 1, one, 0.0],  # carry into a new binade: 2^53 exact
        [2.0**100, 2.0**-600, -(2.0**100)],  # only the tiny term remains
        [2.0**100, 2.0**-600, 0.0],  # tiny term far below: sticky
        [-(2.0**-600), 2.0**-650, 0.0],  # negative with a sticky bit
        [3.0, -1.0, 2.0**-700],
        [2.0**699 * (2 - ulp), 2.0**699 * (2 - ulp), 0.0],  # the largest terms of the range
    ]
    c = [0.0] * 11 + [2.0**699]
    check(np.array(rows), np.array(c))


def test_sticky_bit_at_every_distance():
    """x + 2^(e - d) (and minus) for every distance d = 1..140 and 4 alignments of x within a
    limb: the dropped bit lands in each of the limbs below the top one."""
    rows = []
    for e in (0, 9, 22, 31):
        for d in range(1, 141):
            for x in (2.0**e, 2.0**e * (2 - 2.0**-52)):
                rows += [[x, 2.0 ** (e - d)], [x, -(2.0 ** (e - d))], [-x, 2.0 ** (e - d)]]
    check(np.array(rows), np.zeros(len(rows)))


def test_exact_results_are_returned_exactly():
    """Terms whose sum fits in 53 bits (small significands at nearby exponents)."""
    rng = np.random.default_rng(5)
    e = rng.integers(-650, 600, (48, 1))
    terms = np.ldexp(rng.integers(-2**20, 2**20, (48, 16)).astype(float), e + rng.integers(0, 20, (48, 16)))
    c = np.zeros(48)
    want = expected(terms, c)
    sums = [math.fsum(row) for row in terms]  # fsum is correctly rounded: exact here
    assert hexes(want) == hexes(np.array(sums).view(np.int64))
    check(terms, c)


def test_subnormal_and_overflowing_sums():
    """In float64's full range: sums below 2^-1022 are subnormal (and exact: every float64 is
    a multiple of 2^-1074), sums of 2^1024 or more give the largest finite float64."""
    tiny = 2.0**-1074
    big = np.finfo(np.float64).max
    rows = [
        [tiny, tiny, 0.0],
        [2.0**-1022, -tiny, 0.0],  # the largest subnormal
        [2.0**-1000, -(2.0**-1000), 3 * tiny],
        [2.0**-1020, tiny, 0.0],  # normal, exact
        [2.0**-1022, 2.0**-1022 * (1 - 2.0**-52), -tiny],
        [big, big, 0.0],  # 2^1025 - 2^971: max finite
        [-big, -big, -big],
        [big, -big, 2.0**1023],
        [2.0**1023, 2.0**1023, -tiny],  # 2^1024 - 2^-1074: above max finite, below 2^1024
    ]
    check(np.array(rows), np.zeros(len(rows)), *RANGES["float64"])


def test_narrow_range_with_coarse_lsb():
    """lsb = -20: terms whose float64 quantum lies far below 2^lsb (exact integers times
    2^-20 with few significant bits), in a range of only a few limbs."""
    rng = np.random.default_rng(6)
    terms = np.ldexp(rng.integers(-255, 256, (48, 20)).astype(float), rng.integers(-20, 31, (48, 20)))
    check(terms, np.ldexp(rng.integers(-3, 4, 48).astype(float), 7), *RANGES["narrow"])


# ---------------------------------------------------------------------------------------------
# Zeros and special values


ZERO_ROWS = [
    ([0.0, 0.0], 0.0),
    ([-0.0, -0.0], -0.0),
    ([-0.0, 0.0], -0.0),
    ([0.0, -0.0], 0.0),
    ([-0.0, -0.0], 0.0),
    ([1.0, -1.0], -0.0),  # exact zero from non-zero terms
    ([-1.0, 1.0], 0.0),
    ([2.0**-700, -(2.0**-700)], -0.0),
]


@pytest.mark.parametrize("round_down", [False, True], ids=["nearest", "round_down"])
def test_zero_sums(round_down):
    """IEEE 754 clause 6.3: x + (-x) = +0, -0 + -0 = -0; rounding down: -0 unless all +0."""
    terms = np.array([t for t, _ in ZERO_ROWS])
    c = np.array([cc for _, cc in ZERO_ROWS])
    check(terms, c, round_down=round_down)
    got = numba_rows(terms, c, -700, 700, round_down)
    signs = [bool(b < 0) for b in got]
    if round_down:
        assert signs == [False, True, True, True, True, True, True, True]
    else:
        assert signs == [False, True, False, False, False, False, False, False]


SPECIAL_ROWS = [
    ([NAN, 1.0], 0.0),
    ([1.0, 2.0], NAN),
    ([INF, 1.0], 0.0),
    ([-INF, 1.0], 5.0),
    ([INF, -INF], 0.0),
    ([INF, INF], -INF),
    ([INF, 0.0], INF),
    ([-INF, -INF], -0.0),
    ([-NAN, INF], 0.0),
    ([1.0, -1.0], -INF),
    ([np.frombuffer(np.int64(0x7FF0000000000001).tobytes())[0], 0.0], 0.0),  # a signalling NaN
]


@pytest.mark.parametrize("round_down", [False, True], ids=["nearest", "round_down"])
def test_special_values(round_down):
    """NaN anywhere -> the positive quiet NaN; +Inf with -Inf -> NaN; otherwise the Inf."""
    terms = np.array([t for t, _ in SPECIAL_ROWS])
    c = np.array([cc for _, cc in SPECIAL_ROWS])
    check(terms, c, round_down=round_down)
    got = hexes(numba_rows(terms, c, -700, 700, round_down))
    q, pi, ni = "0x7ff8000000000000", "0x7ff0000000000000", "0xfff0000000000000"
    assert got == [q, q, pi, ni, q, q, pi, ni, q, ni, q]


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_short_sums(k):
    """K = 0 (only c), 1, 2 and 3 terms (odd K leaves one term for the first bank)."""
    rng = np.random.default_rng(7 + k)
    terms = values(rng, (32, k), -700, 700)
    terms[:4] = 0.0
    terms[4:8] = -0.0
    c = values(rng, 32, -700, 700)
    c[:2] = 0.0
    c[2:6] = -0.0
    check(terms, c)
    check(terms, c, round_down=True, backends=("numba_rows",))


# ---------------------------------------------------------------------------------------------
# Long sums (Numba)


def test_long_sum_with_cancellation():
    """K = 10^5: random terms, their negatives and a few survivors."""
    rng = np.random.default_rng(8)
    x = values(rng, 50_000 - 3, -400, 600)
    terms = rng.permutation(np.concatenate([x, -x, values(rng, 7, -700, -500)]))[None]  # K odd
    check(terms, np.array([1.0]), backends=("numba_rows",))


def test_specials_in_later_blocks():
    """K = 2 * BLOCK + 77 (odd): specials in the second and last blocks and as the last term."""
    rng = np.random.default_rng(10)
    k = 2 * nx.BLOCK + 77
    terms = values(rng, (5, k), -700, 700)
    terms[0, -1] = INF
    terms[1, nx.BLOCK + 3] = NAN
    terms[2, [5, k - 2]] = [-INF, INF]
    terms[3, 2 * nx.BLOCK] = -INF
    check(terms, values(rng, 5, -700, 700))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_long_sum_at_the_top_of_the_range(sign):
    """K = 2^20 of the largest terms of the range: the carries need the headroom limbs."""
    top = 2.0**699 * (2 - 2.0**-52)
    terms = np.full((1, 2**20), sign * top)
    terms[0, ::7] = sign * 2.0**-700
    check(terms, np.array([sign * top]), backends=("numba_rows",))


# ---------------------------------------------------------------------------------------------
# JAX: shapes, jit, vmap, eager


def test_jax_leading_dims_vmap_and_eager():
    """Any leading shape; c broadcast; jit == vmap == eager == Numba == reference."""
    rng = np.random.default_rng(9)
    lsb, emax = RANGES["wide"]
    n = jx.limb_count(lsb, emax)
    terms = values(rng, (2, 3, 5), lsb, emax)
    terms[0, 0, :2] = [INF, -INF]
    terms[1, 2] = [1.0, -1.0, 0.0, -0.0, 0.0]
    c = values(rng, (3,), lsb, emax)
    want = expected(terms.reshape(6, 5), np.broadcast_to(c, (2, 3)).reshape(6)).reshape(2, 3)
    with jax.enable_x64(True):
        jitted = np.asarray(_jit(terms, c, lsb=lsb, nlimbs=n, round_down=False))
        eager = np.asarray(jx.exact_sum_odd(terms, c, lsb, n))
        vm = jax.jit(jax.vmap(lambda t, cc: jx.exact_sum_odd(t, cc, lsb, n), in_axes=(0, None)))
        vmapped = np.asarray(vm(terms, c))
    assert jitted.shape == eager.shape == vmapped.shape == (2, 3)
    for got in (jitted, eager, vmapped):
        assert hexes(got) == hexes(want)


def test_jax_one_dimensional_terms():
    """A 1-D ``terms`` gives a 0-d result."""
    with jax.enable_x64(True):
        got = _jit(np.array([1.0, 2.0**-80]), 0.0, lsb=-700, nlimbs=jx.limb_count(-700, 700), round_down=False)
        assert got.shape == ()
        assert int(got) == 0x3FF0000000000001


def test_limb_count_agrees():
    for lsb, emax in RANGES.values():
        assert nx.limb_count(lsb, emax) == jx.limb_count(lsb, emax)


# ---------------------------------------------------------------------------------------------
# Property tests


def _value(lsb, emax):
    return st.builds(lambda m, e: math.ldexp(m, e), st.integers(-(2**53 - 1), 2**53 - 1),
                     st.integers(lsb, emax - 53))


@st.composite
def sums(draw, lsb=-700, emax=700, k=None):
    """(terms, c): random terms, some negated copies of others (cancellation), zeros and
    (rarely) specials."""
    val = st.one_of(_value(lsb, emax), _value(lsb, emax).map(lambda v: v * 2.0**-53 if v else v),
                    st.sampled_from([0.0, -0.0]))
    special = st.sampled_from([INF, -INF, NAN])
    elem = st.one_of(val, val, val, val, val, val, val, val, special)
    if k is None:
        terms = draw(st.lists(elem, max_size=12))
        n_neg = draw(st.integers(0, len(terms)))
        terms = terms + [-t for t in terms[:n_neg]]
        terms = draw(st.permutations(terms))
    else:
        terms = draw(st.lists(elem, min_size=k, max_size=k))
    return terms, draw(elem)


@given(sums(), st.booleans())
def test_property_numba(case, round_down):
    terms, c = case
    t = np.array(terms, np.float64).reshape(1, -1)
    check(t, np.array([c]), round_down=round_down, backends=("numba_rows", "numba_strided"))


@given(st.lists(sums(k=6), min_size=4, max_size=4), st.booleans())
def test_property_jax(cases, round_down):
    terms = np.array([t for t, _ in cases], np.float64)
    c = np.array([cc for _, cc in cases], np.float64)
    check(terms, c, round_down=round_down, backends=("jax_jit", "numba_rows"))
