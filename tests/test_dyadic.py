"""lpemu.dyadic (shared/specs/integer-pipelines.md): the spec's vectors, the Numba and JAX kernels
against the exact Python-int oracle (lpemu.reference._integer) over int32 extremes, Numba == JAX
bit for bit (also under jit and vmap), and the argument checks.
"""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpemu import IntFormat, dyadic
from lpemu.dyadic import DyadicRounding
from lpemu.errors import InvalidArgumentError, InvalidFormatError
from lpemu.reference import _integer as R

MIN, MAX = -(2**31), 2**31 - 1
ROUNDINGS = [r.value for r in DyadicRounding]
EXTREMES = [MIN, MIN + 1, -(2**30) - 1, -(2**30), -65536, -3, -2, -1, 0, 1, 2, 3, 65535, 2**30, 2**30 + 1, MAX - 1, MAX]


def both(fn, *args, **kwargs):
    """``fn`` on numpy arguments (Numba) and on the same values as JAX arrays; asserts the two
    results are identical (values and dtype) and returns the numpy one."""
    got = fn(*args, **kwargs)
    jargs = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
    got_jax = np.asarray(fn(*jargs, **kwargs))
    assert got_jax.dtype == got.dtype and np.array_equal(got_jax, got), (got, got_jax)
    return got


def int32s(values) -> np.ndarray:
    return np.array(values, np.int64).astype(np.int32)


# ---- the spec's vectors ---------------------------------------------------------------------------
SRDHM = [((MIN, MIN), MAX), ((MAX, MAX), 2147483646), ((MIN, MAX), -2147483647), ((2**30, 2**30), 2**29),
         ((1, 2**30), 1), ((-1, 2**30), 0), ((3, 2**30), 2), ((-3, 2**30), -1)]
RDBPOT = [((5, 1), 3), ((-5, 1), -3), ((10, 2), 3), ((-10, 2), -3), ((-3, 1), -2), ((MIN, 31), -1), ((MAX, 31), 1)]


def test_srdhm_vectors():
    a, b = int32s([p[0][0] for p in SRDHM]), int32s([p[0][1] for p in SRDHM])
    expected = [p[1] for p in SRDHM]
    assert both(dyadic.saturating_rounding_doubling_high_mul, a, b).tolist() == expected
    assert [R.srdhm(*p[0]) for p in SRDHM] == expected


def test_rdbpot_vectors():
    x, e = int32s([p[0][0] for p in RDBPOT]), np.array([p[0][1] for p in RDBPOT], np.int32)
    expected = [p[1] for p in RDBPOT]
    assert both(dyadic.rounding_divide_by_pot, x, e).tolist() == expected
    assert [R.rdbpot(*p[0]) for p in RDBPOT] == expected


QM = [(0.5, (2**30, 0)), (1.0, (2**30, 1)), (0.1, (1717986918, -3)), (1 / 3, (1431655765, -1)),
      (1.5, (1610612736, 1)), (2.0**-32, (2**30, -31))]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("real, expected", QM, ids=[str(q[0]) for q in QM])
def test_quantize_multiplier_vectors(real, expected, rounding):
    assert dyadic.quantize_multiplier(real, rounding) == expected
    assert R.quantize_multiplier(real, rounding) == expected


MBQM = [(15, 0.5, 8, 8), (-15, 0.5, -7, -7), (1000, 0.1, 100, 100), (2**20, 0.3, 314573, 314573)]


@pytest.mark.parametrize("x, real, double, single", MBQM, ids=[f"{m[0]}*{m[1]}" for m in MBQM])
def test_mbqm_vectors(x, real, double, single):
    m, s = dyadic.quantize_multiplier(real)
    for rounding, expected in (("double", double), ("single", single)):
        assert both(dyadic.multiply_by_quantized_multiplier, int32s([x]), m, s, rounding=rounding).tolist() == \
            [expected]
        assert R.mbqm(x, m, s, rounding) == expected


def test_requantize_to_int8_vector():
    m, s = dyadic.quantize_multiplier(0.1)
    acc = int32s([1000, -1000, 1275, 1285, -1285, MAX, MIN])
    expected = [100 + 5, -100 + 5, 127, 127, -124, 127, -128]  # zero point 5, clamp to int8
    assert both(dyadic.requantize, acc, m, s, 5).tolist() == expected


@pytest.mark.parametrize("z, ratio, expected",
                         [(5, 0.5, 2), (-5, 0.5, -2), (7, 0.5, 4), (3, 0.5, 2), (1000, 0.13, 127)])
def test_hawq_fixedpoint_mul_vectors(z, ratio, expected):
    m, s = dyadic.quantize_multiplier(ratio, "hawq")
    assert both(dyadic.requantize, int32s([z]), m, s, rounding="hawq").tolist() == [expected]
    assert R.requantize(z, m, s, 0, -128, 127, "hawq") == expected
    assert both(dyadic.fixedpoint_mul, int32s([z]), ratio, 1.0).tolist() == [expected]


def test_hawq_rounding_is_float64():
    """HAWQ rounds the product to float64 beyond 2^53 before the division: compare with numpy's
    float64 arithmetic directly (an independent implementation of the same IEEE operations)."""
    rng = np.random.default_rng(7)
    x = np.concatenate([int32s(EXTREMES), rng.integers(MIN, MAX + 1, 500).astype(np.int32)])
    m = rng.integers(2**30, 2**31, x.size)
    s = rng.integers(-31, 31, x.size)
    got = both(dyadic.multiply_by_quantized_multiplier, x, m, s, rounding="hawq")
    expected = np.rint(x.astype(np.float64) * m.astype(np.float64) / 2.0 ** (31 - s)).astype(np.int64)
    np.testing.assert_array_equal(got, expected)
    assert (np.abs(x.astype(np.float64) * m) > 2**53).sum() > 100  # the double rounding is exercised


# ---- exhaustive and hypothesis sweeps against the oracle ------------------------------------------
def test_rdbpot_every_int16_every_exponent():
    x = np.arange(-(2**15), 2**15, dtype=np.int32)
    for e in (0, 1, 2, 7, 15, 16):
        got = dyadic.rounding_divide_by_pot(x, e)
        expected = np.where(x >= 0, (x + (1 << e >> 1)) >> e, -((-x + (1 << e >> 1)) >> e)) if e else x
        np.testing.assert_array_equal(got, expected)


int32_values = st.one_of(st.sampled_from(EXTREMES), st.integers(MIN, MAX))
multipliers = st.one_of(st.sampled_from([0, 1, 2**30, 2**30 + 1, MAX - 1, MAX]), st.integers(0, MAX))
N = 24  # elements per example: one array shape, so JAX compiles each operation once


@settings(max_examples=40)
@given(st.lists(int32_values, min_size=N, max_size=N), st.lists(int32_values, min_size=N, max_size=N))
def test_srdhm_equals_oracle(a, b):
    got = both(dyadic.saturating_rounding_doubling_high_mul, int32s(a), int32s(b))
    assert got.tolist() == [R.srdhm(x, y) for x, y in zip(a, b)]


@settings(max_examples=40)
@given(st.lists(int32_values, min_size=N, max_size=N), st.lists(st.integers(0, 31), min_size=N, max_size=N))
def test_rdbpot_equals_oracle(x, e):
    got = both(dyadic.rounding_divide_by_pot, int32s(x), np.array(e, np.int32))
    assert got.tolist() == [R.rdbpot(v, k) for v, k in zip(x, e)]


@settings(max_examples=30)
@given(st.lists(st.one_of(st.sampled_from([-(2**63), -1, 0, 1, 2**63 - 1]), st.integers(-(2**63), 2**63 - 1)),
                min_size=N, max_size=N), st.lists(st.integers(0, 63), min_size=N, max_size=N))
def test_rdbpot_int64_equals_oracle(x, e):
    got = dyadic.rounding_divide_by_pot(np.array(x, np.int64), np.array(e))
    assert got.dtype == np.int64 and got.tolist() == [R.rdbpot(v, k) for v, k in zip(x, e)]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@settings(max_examples=30)
@given(data=st.data())
def test_mbqm_equals_oracle(rounding, data):
    lo, hi = dyadic.SHIFT_RANGE[DyadicRounding(rounding)]
    x = data.draw(st.lists(int32_values, min_size=N, max_size=N))
    m = data.draw(st.lists(multipliers, min_size=N, max_size=N))
    s = data.draw(st.lists(st.one_of(st.sampled_from([lo, hi, 0, -1]), st.integers(lo, hi)), min_size=N, max_size=N))
    got = both(dyadic.multiply_by_quantized_multiplier, int32s(x), np.array(m, np.int32), np.array(s, np.int32),
               rounding=rounding)
    assert got.tolist() == [R.mbqm(*v, rounding) for v in zip(x, m, s)]


@settings(max_examples=30)
@given(st.lists(st.one_of(st.sampled_from([-(2**47), 2**47 - 1, -1, 0]), st.integers(-(2**47), 2**47 - 1)),
                min_size=N, max_size=N), st.lists(multipliers, min_size=N, max_size=N),
       st.lists(st.integers(-31, 7), min_size=N, max_size=N))
def test_mbqm_int64_overload_equals_oracle(x, m, s):
    """TFLite's int64-accumulator overload (16-bit multiplier), the same in both builds."""
    xs = np.array(x, np.int64)
    for rounding in ("double", "single"):
        got = dyadic.multiply_by_quantized_multiplier(xs, np.array(m), np.array(s), rounding=rounding)
        assert got.dtype == np.int32 and got.tolist() == [R.mbqm_int64(*v) for v in zip(x, m, s)]
    with jax.enable_x64(True):
        xj = jnp.asarray(xs)
    assert np.asarray(dyadic.multiply_by_quantized_multiplier(xj, jnp.asarray(m), jnp.asarray(s))).tolist() == \
        got.tolist()


def _reals():
    """Multipliers around ties of the 31-bit rounding, powers of two, the flush and saturation
    boundaries, subnormals, and random values over 2^-40..2^40."""
    ties = [(2**30 + k + 0.5) / 2**31 * 2.0**e for k in (0, 1, 2**29, 2**30 - 1) for e in (-3, 0, 5)]
    edges = [0.0, 5e-324, 2.0**-33, 2.0**-32, 2.0**-32 * (1 - 2**-40), 2.0**30, 2.0**31, 1 - 2**-53, 1.0, 0.75]
    return st.one_of(st.sampled_from(ties + edges), st.floats(2.0**-40, 2.0**40), st.floats(0, 2))


@settings(max_examples=80)
@given(_reals(), st.sampled_from(ROUNDINGS))
def test_quantize_multiplier_equals_oracle(real, rounding):
    m, s = dyadic.quantize_multiplier(real, rounding)
    assert (m, s) == R.quantize_multiplier(real, rounding)
    assert 0 <= m <= MAX and (m == 0 or m >= 2**30)
    if m and not (rounding == "single" and real >= 2**30):  # (single rounding saturates there)
        # half a unit of the 31-bit mantissa (exact: 2.0 ** (s - 31) underflows for subnormal reals)
        assert abs(Fraction(m) * Fraction(2) ** (s - 31) - Fraction(real)) <= Fraction(real) / 2**31


def test_quantize_multiplier_array_form():
    reals = np.array([[0.1, 0.5], [2.0**-40, 3.0]])
    m, s = dyadic.quantize_multiplier(reals)
    assert m.dtype == s.dtype == np.int32 and m.shape == (2, 2)
    assert [(int(a), int(b)) for a, b in zip(m.ravel(), s.ravel())] == [dyadic.quantize_multiplier(float(r))
                                                                        for r in reals.ravel()]


# ---- requantize: per tensor, per channel, formats, backends --------------------------------------
FORMATS = [IntFormat(8), IntFormat(8, signed=False), IntFormat(4), IntFormat(16), IntFormat(32)]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_requantize_per_channel_equals_oracle(fmt, rounding, rng):
    acc = np.concatenate([int32s(EXTREMES[:12]), rng.integers(-(2**24), 2**24, 48).astype(np.int32)]).reshape(3, 4, 5)
    reals = np.array([1e-4, 0.05, 0.9, 3.0])
    m, s = dyadic.quantize_multiplier(reals, rounding)
    zp = int(fmt.min + fmt.max) // 2 if fmt.bits < 32 else 0
    got = both(dyadic.requantize, acc, m, s, zp, fmt, rounding=rounding, axis=1)
    lo, hi = int(fmt.min), int(fmt.max)
    expected = [[[R.requantize(int(acc[i, c, j]), int(m[c]), int(s[c]), zp, lo, hi, rounding) for j in range(5)]
                 for c in range(4)] for i in range(3)]
    assert got.tolist() == expected
    assert got.dtype == np.dtype(f"{'int' if fmt.signed else 'uint'}{max(8, 1 << (fmt.bits - 1).bit_length())}")
    # per tensor: the same as per channel with one repeated multiplier
    per_tensor = dyadic.requantize(acc, int(m[2]), int(s[2]), zp, fmt, rounding=rounding)
    repeated = dyadic.requantize(acc, np.repeat(m[2:3], 5), np.repeat(s[2:3], 5), zp, fmt, rounding=rounding)
    np.testing.assert_array_equal(per_tensor, repeated)


def test_requantize_int64_accumulators(rng):
    acc = rng.integers(-(2**47), 2**47, (4, 6))
    m, s = dyadic.quantize_multiplier(np.linspace(2.0**-20, 2.0**-12, 6))
    got = dyadic.requantize(acc, m, s, -3, IntFormat(16))
    expected = [[min(max(R.mbqm_int64(int(v), int(m[c]), int(s[c])) - 3, -(2**15)), 2**15 - 1)
                 for c, v in enumerate(row)] for row in acc]
    assert got.dtype == np.int16 and got.tolist() == expected


def test_requantize_under_jit_and_vmap_with_traced_multipliers(rng):
    """The form an integer-only JAX model uses: multipliers are traced parameters."""
    acc = rng.integers(-(2**20), 2**20, (5, 3, 8)).astype(np.int32)
    m, s = dyadic.quantize_multiplier(np.array([0.01, 0.02, 0.5, 1e-3, 0.25, 0.1, 0.3, 2.0]))
    expected = dyadic.requantize(acc, m, s, 1)
    fn = jax.jit(lambda a, mm, ss: dyadic.requantize(a, mm, ss, 1))
    np.testing.assert_array_equal(np.asarray(fn(jnp.asarray(acc), jnp.asarray(m), jnp.asarray(s))), expected)
    vm = jax.vmap(lambda a: dyadic.requantize(a, jnp.asarray(m), jnp.asarray(s), 1))
    np.testing.assert_array_equal(np.asarray(vm(jnp.asarray(acc))), expected)


def test_elementwise_broadcasting_and_scalars():
    x = int32s([[1000], [-1000]])
    got = dyadic.multiply_by_quantized_multiplier(x, np.array([2**30, 2**31 - 1]), np.array([0, -1]))
    assert got.shape == (2, 2) and got.tolist() == [[500, 500], [-500, -500]]
    assert dyadic.saturating_rounding_doubling_high_mul(MIN, MIN) == MAX
    assert isinstance(dyadic.rounding_divide_by_pot(-5, 1), np.int32)
    empty = dyadic.requantize(np.zeros((0, 3), np.int32), np.ones(3, np.int64) << 30, np.zeros(3, np.int64))
    assert empty.shape == (0, 3)


def test_single_rounding_wraps_like_the_static_cast():
    """TFLite's single-rounding result is cast to int32 (it only DCHECKs the range)."""
    got = both(dyadic.multiply_by_quantized_multiplier, int32s([MAX, MIN]), MAX, 30, rounding="single")
    assert got.tolist() == [R.wrap((MAX * MAX + 1) >> 1), R.wrap((MIN * MAX + 1) >> 1)]


# ---- bad arguments ----------------------------------------------------------------------------------
A = np.array([1, 2], np.int32)
BAD = [  # (call, error, words the message must contain)
    (lambda: dyadic.quantize_multiplier(-0.5), InvalidArgumentError, ["finite and >= 0", "-0.5"]),
    (lambda: dyadic.quantize_multiplier(float("nan")), InvalidArgumentError, ["finite"]),
    (lambda: dyadic.quantize_multiplier(np.array([1.0, np.inf])), InvalidArgumentError, ["inf"]),
    (lambda: dyadic.quantize_multiplier(0.5, "nearest"), InvalidArgumentError, ["rounding", "double, single, hawq"]),
    (lambda: dyadic.quantize_multiplier("0.5"), InvalidArgumentError, ["real_multiplier"]),
    (lambda: dyadic.saturating_rounding_doubling_high_mul(A.astype(np.int64), A), InvalidArgumentError,
     ["a must", "int32", "int64"]),
    (lambda: dyadic.saturating_rounding_doubling_high_mul(2**31, 1), InvalidArgumentError,
     ["[-2147483648, 2147483647]"]),
    (lambda: dyadic.saturating_rounding_doubling_high_mul(A, np.ones(3, np.int32)), InvalidArgumentError,
     ["broadcast", "(2,)", "(3,)"]),
    (lambda: dyadic.rounding_divide_by_pot(A, 32), InvalidArgumentError, ["exponent", "[0, 31]", "32"]),
    (lambda: dyadic.rounding_divide_by_pot(A, np.array([0, -1])), InvalidArgumentError, ["exponent", "[0, 31]"]),
    (lambda: dyadic.rounding_divide_by_pot(A.astype(np.float32), 1), InvalidArgumentError, ["float32"]),
    (lambda: dyadic.rounding_divide_by_pot(A.astype(np.int64), 64), InvalidArgumentError, ["[0, 63]"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A, 2**31, 0), InvalidArgumentError,
     ["multiplier", "[0, 2147483647]", "2147483648"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A, -1, 0), InvalidArgumentError, ["multiplier", "-1"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A, 2**30, 31), InvalidArgumentError, ["shift", "[-31, 30]", "31"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A, 2**30, -32), InvalidArgumentError, ["shift", "[-31, 30]"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A, 2**30, -64, rounding="hawq"), InvalidArgumentError,
     ["shift", "[-63, 30]"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A.astype(np.int64), 2**30, 8), InvalidArgumentError,
     ["shift", "[-31, 7]"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(np.array([2**47]), 2**30, 0), InvalidArgumentError,
     ["x (int64)", str(2**47)]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A, 1.5, 0), InvalidArgumentError, ["multiplier", "integer"]),
    (lambda: dyadic.multiply_by_quantized_multiplier(A, 2**30, 0, rounding="up"), InvalidArgumentError, ["rounding"]),
    (lambda: dyadic.requantize(A, 2**30, 0, 128), InvalidArgumentError, ["zero_point", "[-128, 127]", "128"]),
    (lambda: dyadic.requantize(A, 2**30, 0, -1, "uint8"), InvalidArgumentError, ["zero_point", "[0, 255]"]),
    (lambda: dyadic.requantize(A, 2**30, 0, out="e4m3"), InvalidFormatError, ["IntFormat", "32 bits"]),
    (lambda: dyadic.requantize(A, 2**30, 0, out=IntFormat(64)), InvalidFormatError, ["at most 32 bits"]),
    (lambda: dyadic.requantize(A, np.array([2**30] * 3), 0), InvalidArgumentError, ["multiplier", "(2,)", "(3,)"]),
    (lambda: dyadic.requantize(A.reshape(1, 2), 2**30, np.zeros(2, int), axis=0), InvalidArgumentError,
     ["shift", "(1,)"]),
    (lambda: dyadic.requantize(A, np.array([2**30] * 2), 0, axis=1), InvalidArgumentError, ["axis", "[-1, 0]"]),
    (lambda: dyadic.requantize(A.astype(np.int16), 2**30, 0), InvalidArgumentError, ["acc", "int32, int64", "int16"]),
    (lambda: dyadic.requantize(np.array([2**47]), 2**30, 0), InvalidArgumentError, ["acc (int64)"]),
    (lambda: dyadic.fixedpoint_mul(A, -1.0, 1.0), InvalidArgumentError, ["scale_in"]),
    (lambda: dyadic.fixedpoint_mul(A, 1.0, 0.0), InvalidArgumentError, ["scale_out", "positive"]),
    (lambda: dyadic.fixedpoint_mul(A, 1.0, 1.0, bits=1), InvalidArgumentError, ["bits", "[2, 32]"]),
    (lambda: jax.jit(lambda s: dyadic.quantize_multiplier(s))(1), InvalidArgumentError, ["traced: floating point"]),
]


@pytest.mark.parametrize("call, error, words", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, error, words, raises_naming):
    raises_naming(call, error, words)


def test_multiplier_reproduces_the_real_scale():
    """The dyadic multiplier times an accumulator is the real product within one unit (double)
    or half a unit plus the multiplier's own error (the other roundings)."""
    rng = np.random.default_rng(11)
    acc = rng.integers(-(2**24), 2**24, 4000).astype(np.int32)
    for real in (0.0123, 0.5, 0.999, 1.7e-5):
        exact = acc * real
        for rounding in ROUNDINGS:
            m, s = dyadic.quantize_multiplier(real, rounding)
            got = dyadic.multiply_by_quantized_multiplier(acc, m, s, rounding=rounding).astype(np.float64)
            bound = (1.0 if rounding == "double" else 0.5) + np.abs(acc) * real * 2.0**-31
            assert (np.abs(got - exact) <= bound + 1e-9).all(), (real, rounding)
