"""L-Mul (lpemu.lmul, shared/specs/lmul.md): the spec's vectors, the Numba kernel against the
exact oracle (every operand pair of the 8-bit formats, hypothesis elsewhere), Numba == JAX bit
for bit (also under jit and vmap), and the argument checks. Values are compared as bit patterns.
"""

from __future__ import annotations

import doctest
import functools
import math
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import from_dtype

from lpemu import formats as F
from lpemu import lmul as L
from lpemu._formats import FloatFormat
from lpemu.errors import InvalidArgumentError, InvalidFormatError, UnsupportedContainerError
from lpemu.kernels.jax import lmul as jax_lmul
from lpemu.kernels.numba import lmul as numba_lmul
from lpemu.reference import _lmul as R

DETERMINISTIC = ["nearest_even", "nearest_away", "toward_zero", "up", "down", "odd"]
INF, NAN = math.inf, math.nan


def _bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def oracle(x, y, fmt, form="bits", rounding="nearest_even", overflow=None, dtype=np.float64) -> np.ndarray:
    """The reference L-Mul of every pair, in ``dtype`` (exact: the results are values of fmt)."""
    return np.array([R.lmul(a, b, fmt, form, rounding, overflow) for a, b in zip(x.tolist(), y.tolist())],
                    np.float64).astype(dtype)


def assert_same_bits(got, expected, x, y, what=""):
    got, expected = np.asarray(got), np.asarray(expected)
    bad = np.flatnonzero(_bits(got) != _bits(expected))
    assert bad.size == 0, (what, bad.size, [(x[i], y[i], got[i], expected[i]) for i in bad[:5]])


# ---- the spec's vectors (shared/specs/lmul.md, "Vectors") -------------------------------------
VECTORS = [  # (x, y, form, L-Mul in fp32)
    (1.0, 1.0, "bits", 1.0625),
    (1.5, 1.5, "bits", 2.125),
    (1.25, 1.25, "bits", 1.5625),
    (3.0, -2.0, "bits", -6.25),
    (2.0, 0.5, "bits", 1.0625),
    (3.6, 2.1, "bits", 7.6499996185302734375),
    (1.75, 1.75, "bits", 3.125),  # the integer add carries: 2 (0.75 + 0.75 + 1/16)
    (1.75, 1.75, "formula", 2.5625),  # 1 + 0.75 + 0.75 + 1/16
]


@pytest.mark.parametrize("x, y, form, expected", VECTORS, ids=[f"{x}*{y}-{f}" for x, y, f, _ in VECTORS])
def test_spec_vectors_fp32(x, y, form, expected):
    a, b = np.float32([x]), np.float32([y])
    assert L.multiply(a, b, "fp32", form).tolist() == [expected]
    assert np.asarray(L.multiply(jnp.asarray(a), jnp.asarray(b), "fp32", form)).tolist() == [expected]
    assert R.lmul(np.float32(x), np.float32(y), F.FP32, form) == expected
    if form == "bits":  # the bit-level definition: |a|bits + |b|bits - 0x3F780000
        raw = (int(a.view(np.uint32)[0]) & 0x7FFFFFFF) + (int(b.view(np.uint32)[0]) & 0x7FFFFFFF) - 0x3F780000
        assert abs(float(np.uint32(raw).view(np.float32))) == abs(expected)


@pytest.mark.parametrize("fmt, expected", [("fp32", 0x3F780000), ("bf16", 0x3F78), ("fp16", 0x3BC0),
                                           ("e4m3", 0x37), ("e5m2", 0x3B), ("e2m1", 0x1), ("e8m0", 126),
                                           (FloatFormat(8, 4), (127 << 4) - 2)], ids=str)
def test_offset(fmt, expected):
    assert L.offset(fmt) == expected


def test_offset_exponent_matches_the_paper():
    assert [L.offset_exponent(m) for m in range(8)] == [0, 1, 2, 3, 3, 4, 4, 4]
    assert all(L.offset_exponent(m) == R.offset_exponent(m) for m in range(53))


# ---- exhaustive: every operand pair of the 8-bit formats --------------------------------------
def _all_pairs(fmt, dtype=np.float64):
    v = fmt.values().astype(dtype)
    return np.repeat(v, v.size), np.tile(v, v.size)


@functools.cache
def _oracle_all_pairs(fmt, form) -> np.ndarray:
    x, y = _all_pairs(fmt)
    return oracle(x, y, fmt, form)


@pytest.mark.parametrize("form", L.FORMS)
@pytest.mark.parametrize("fmt", [F.E4M3, F.E5M2], ids=lambda f: f.name)
def test_all_pairs_equal_oracle(fmt, form):
    x, y = _all_pairs(fmt, np.float32)
    got = L.multiply(x, y, fmt, form)  # 65536 elements: the parallel loop
    assert_same_bits(got, _oracle_all_pairs(fmt, form).astype(np.float32), x, y)


@pytest.mark.parametrize("fmt", [F.E4M3, F.E5M2], ids=lambda f: f.name)
def test_bits_form_is_the_integer_add_of_codes(fmt):
    """For normal operands with a normal result the bits form is code(|x|) + code(|y|) - offset."""
    x, y = _all_pairs(fmt)
    n = fmt.num_codes
    mag = (1 << fmt.mag_bits) - 1
    cx, cy = np.repeat(np.arange(n), n) & mag, np.tile(np.arange(n), n) & mag  # the operands' codes
    raw = cx + cy - L.offset(fmt)
    normal = ((cx >> fmt.man_bits) > 0) & ((cy >> fmt.man_bits) > 0) & (cx <= fmt.max_code) & (cy <= fmt.max_code)
    keep = normal & ((raw >> fmt.man_bits) > 0) & (raw <= fmt.max_code)
    assert keep.sum() > 10000
    positive = fmt.values()[: fmt.max_code + 1]  # the values of the magnitude codes, ascending
    got = np.abs(_oracle_all_pairs(fmt, "bits")[keep])
    np.testing.assert_array_equal(np.searchsorted(positive, got), raw[keep])
    np.testing.assert_array_equal(positive[np.searchsorted(positive, got)], got)


@pytest.mark.parametrize("fmt", [F.E3M2, FloatFormat(3, 2, subnormals=False, specials="none")], ids=lambda f: f.name)
def test_all_pairs_every_mode_small_formats(fmt):
    x, y = _all_pairs(fmt, np.float32)
    for form in L.FORMS:
        for mode in DETERMINISTIC:
            got = L.multiply(x, y, fmt, form, mode)
            assert_same_bits(got, oracle(x, y, fmt, form, mode, dtype=np.float32), x, y, (form, mode))


@pytest.mark.parametrize("form", L.FORMS)
def test_element_function_all_pairs_e4m3(form):
    """The element kernels a matmul product model calls, on float64 values of the format."""
    fmt = F.E4M3
    x, y = _all_pairs(fmt)
    expected = _oracle_all_pairs(fmt, form)
    fin = ~(np.isnan(x) | np.isnan(y))  # NaN operands are not values of the format's grid
    x, y, expected = x[fin], y[fin], expected[fin]
    p = L.kernel_params(fmt, form)
    out = np.empty_like(x)
    numba_lmul.lmul_array(x, y, out, p, parallel=False)
    assert_same_bits(out, expected, x, y, form)
    with jax.enable_x64(True):
        got = np.asarray(jax.jit(jax_lmul.lmul_value, static_argnums=2)(jnp.asarray(x), jnp.asarray(y), p))
    assert_same_bits(got, expected, x, y, ("jax", form))


# ---- other format families, modes and overflow policies (seeded samples) ---------------------
FAMILIES = [
    F.p3109(8, 3),  # +-Inf, NaN 0x80 (negative), no -0
    F.p3109(8, 4, signed=False),  # unsigned: negative operands are NaN
    F.E4M3FNUZ,  # no Inf, no -0
    F.E8M0,  # no zero, M = 0
    F.E2M1,  # no Inf or NaN: saturating
    FloatFormat(4, 3, subnormals=False, name="e4m3_nosub"),
    FloatFormat(5, 4, name="e5m4"),  # l(4) = 3
    FloatFormat(6, 5, specials="fn", name="e6m5fn"),
]


def _overflows(fmt):
    return [None, "saturate", "propagate"] if (fmt.infinities or fmt.has_nan) else [None]


def _sample_pairs(fmt, rng, n):
    v = fmt.values()
    i, j = rng.integers(0, v.size, n), rng.integers(0, v.size, n)
    x, y = v[i], v[j]
    # and values off the grid, which the operand rounding moves (and sends past max)
    scale = 1 + rng.random(n) / 4
    extra_x, extra_y = [INF, -INF, 0.0, 1e300], [0.0, 2.0, INF, 1e300]
    return np.concatenate([x, x * scale, extra_x]), np.concatenate([y, y / scale, extra_y])


@pytest.mark.parametrize("fmt", FAMILIES, ids=lambda f: f.name)
def test_families_modes_overflow_equal_oracle(fmt, rng):
    x, y = _sample_pairs(fmt, rng, 100)
    for form in L.FORMS:
        for mode in DETERMINISTIC:
            for overflow in _overflows(fmt):
                got = L.multiply(x, y, fmt, form, mode, overflow)
                assert_same_bits(got, oracle(x, y, fmt, form, mode, overflow), x, y, (form, mode, overflow))


# ---- fp32, bf16, fp16: hypothesis and seeded random bit patterns ----------------------------
WIDE = [F.FP32, F.BF16, F.FP16]


def _edge_values(fmt):
    """Operands whose products overflow, underflow, land on subnormals or on the boundaries."""
    e_lo, e_hi = fmt.emin - fmt.man_bits, fmt.emax
    exps = sorted({0, 1, -1, e_hi, e_hi // 2, e_hi // 2 + 1, fmt.emin, fmt.emin // 2, fmt.emin // 2 - 1,
                   e_lo, e_lo // 2, e_lo // 2 + 1, e_lo - 1})
    return st.builds(lambda s, m, e: s * math.ldexp(m, e), st.sampled_from([1.0, -1.0]),
                     st.floats(1.0, 2.0, exclude_max=True), st.sampled_from(exps))


def _operands(fmt):
    return st.one_of(from_dtype(np.dtype(np.float32)), _edge_values(fmt),
                     st.sampled_from([0.0, -0.0, INF, -INF, NAN, fmt.max, fmt.min_subnormal, fmt.min_normal]))


def _as32(values):
    with np.errstate(over="ignore"):
        return np.array(values, np.float64).astype(np.float32)


@pytest.mark.parametrize("form", L.FORMS)
@pytest.mark.parametrize("fmt", WIDE, ids=lambda f: f.name)
@settings(max_examples=25)
@given(data=st.data())
def test_wide_formats_equal_oracle(fmt, form, data):
    pairs = data.draw(st.lists(st.tuples(_operands(fmt), _operands(fmt)), min_size=1, max_size=24))
    mode = data.draw(st.sampled_from(DETERMINISTIC))
    overflow = data.draw(st.sampled_from([None, "saturate", "propagate"]))
    x, y = _as32([p[0] for p in pairs]), _as32([p[1] for p in pairs])
    got = L.multiply(x, y, fmt, form, mode, overflow)
    assert_same_bits(got, oracle(x, y, fmt, form, mode, overflow, np.float32), x, y, (mode, overflow))


@pytest.mark.parametrize("fmt", WIDE, ids=lambda f: f.name)
def test_wide_formats_random_bit_patterns(fmt, rng):
    """Every float32 bit pattern is equally likely: NaNs, Infs and subnormals included; also in
    a float64 container."""
    x, y = (rng.integers(0, 1 << 32, 600, dtype=np.uint64).astype(np.uint32).view(np.float32) for _ in range(2))
    for form in L.FORMS:
        assert_same_bits(L.multiply(x, y, fmt, form), oracle(x, y, fmt, form, dtype=np.float32), x, y, form)
        with np.errstate(invalid="ignore"):  # signalling NaNs raise FE_INVALID when widened
            x64, y64 = x.astype(np.float64), y.astype(np.float64)
        assert_same_bits(L.multiply(x64, y64, fmt, form), oracle(x64, y64, fmt, form), x64, y64, form)


def test_fp64_format_in_float64(rng):
    """A format as wide as its container: float64 subnormal operands and results."""
    fmt = F.FP64
    tiny = np.array([5e-324, -2.5e-320, 2.2250738585072014e-308, 1e-160, 1.5e-154, 1.0, 1.75, -3.0, 1e154, 1.7e308])
    x, y = np.repeat(tiny, tiny.size), np.tile(tiny, tiny.size)
    r = rng.standard_normal(200) * 10.0 ** rng.integers(-300, 300, 200)
    x, y = np.concatenate([x, r[:100]]), np.concatenate([y, r[100:]])
    for form in L.FORMS:
        for mode in ("nearest_even", "up", "toward_zero"):
            assert_same_bits(L.multiply(x, y, fmt, form, mode), oracle(x, y, fmt, form, mode), x, y, (form, mode))


# ---- the documented rules, one by one ----------------------------------------------------------
@pytest.mark.parametrize("fmt, x, y, expected", [
    (F.FP32, 0.0, 5.0, 0.0), (F.FP32, -0.0, 5.0, -0.0), (F.FP32, 0.0, -5.0, -0.0), (F.FP32, -0.0, -0.0, 0.0),
    (F.FP32, INF, 0.0, NAN), (F.FP32, -INF, 2.0, -INF), (F.FP32, INF, -INF, -INF), (F.FP32, NAN, 1.0, NAN),
    (F.FP32, 3e38, 3e38, INF), (F.FP32, 1e-30, 1e-30, 0.0), (F.FP32, -1e-30, 1e-30, -0.0),
    (F.E4M3FNUZ, -0.0, 3.0, 0.0), (F.E4M3FNUZ, 0.0, -3.0, 0.0),  # no -0
    (F.E4M3, 300.0, 300.0, NAN), (F.E4M3, INF, 1.0, NAN),  # no Inf: NaN
    (F.E2M1, 6.0, 6.0, 6.0),  # neither: saturates
])
def test_rules(fmt, x, y, expected):
    got = L.multiply(np.array([x]), np.array([y]), fmt)[0]
    assert _bits(np.float64(got)) == _bits(np.float64(expected)) or (math.isnan(expected) and math.isnan(got))
    ref = R.lmul(x, y, fmt)
    assert _bits(np.float64(ref)) == _bits(np.float64(got))


@pytest.mark.parametrize("fmt, x, y, negative", [
    (F.FP32, INF, -0.0, True), (F.FP32, -NAN, -1.0, False), (F.E4M3, 1.0, -NAN, True),  # IEEE, fn: sx xor sy
    (F.E4M3FNUZ, NAN, 1.0, True), (F.p3109(8, 3), INF, 0.0, True),  # the NaN code 0x80 is negative
    (F.p3109(8, 4, signed=False), -1.0, 2.0, False),  # unsigned: positive
])
def test_nan_sign(fmt, x, y, negative):
    got = L.multiply(np.array([x]), np.array([y]), fmt)[0]
    assert math.isnan(got) and bool(np.signbit(got)) == negative
    assert math.isnan(R.lmul(x, y, fmt)) and (math.copysign(1.0, R.lmul(x, y, fmt)) < 0) == negative


def test_underflow_rounds_once_with_the_mode():
    fmt = F.FP16  # 2^-12 * 2^-12 = 2^-24 (the smallest subnormal) times 1.0625 (the offset)
    x = np.array([2.0**-12])
    assert L.multiply(x, x, fmt).tolist() == [2.0**-24]
    assert L.multiply(x, x, fmt, rounding="up").tolist() == [2.0**-23]
    assert L.multiply(x, x, fmt, rounding="toward_zero").tolist() == [2.0**-24]
    assert L.multiply(x / 4, x, fmt, rounding="up").tolist() == [2.0**-24]  # 2^-26 * 1.0625
    assert L.multiply(x / 4, -x, fmt).tolist() == [-0.0]
    assert L.multiply(x / 4, -x, fmt, rounding="down").tolist() == [-(2.0**-24)]


def test_subnormal_operands_are_normalised():
    fmt = F.FP16
    sub = 3 * 2.0**-24  # subnormal 1.5 * 2^-23: (1 + 0.5 + 0 + 1/16) * 2^(-23 + 12)
    assert L.multiply(np.array([sub]), np.array([2.0**12]), fmt).tolist() == [1.5625 * 2.0**-11]
    assert R.lmul(sub, 2.0**12, fmt) == 1.5625 * 2.0**-11
    assert R.lmul_exact(Fraction(sub), Fraction(2**12), fmt) == Fraction(25, 16) / 2**11


@pytest.mark.parametrize("overflow, rounding, expected", [
    (None, "nearest_even", INF), ("saturate", "nearest_even", 65504.0), ("propagate", "nearest_even", 65504.0),
    (None, "toward_zero", 65504.0), (None, "down", 65504.0), (None, "up", INF),
])
def test_overflow_policy(overflow, rounding, expected):
    got = L.multiply(np.array([256.0]), np.array([256.0]), "fp16", rounding=rounding, overflow=overflow)
    assert got.tolist() == [expected]


def test_broadcasting_dtypes_and_scalars():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = L.multiply(a, np.float32([1.0, 1.5, 2.0]), "bf16")
    assert got.shape == (2, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got[1], L.multiply(a[1], np.float32([1.0, 1.5, 2.0]), "bf16"))
    assert L.multiply(a, 2.0, "bf16").dtype == np.float64  # float32 with float64: float64
    assert L.multiply(3, -2, "fp32") == -6.25 and isinstance(L.multiply(3, -2, "fp32"), np.float64)
    assert L.multiply(np.zeros((0, 4), np.float32), np.float32(1), "e4m3").shape == (0, 4)
    j = L.multiply(jnp.arange(6.0).reshape(2, 3), jnp.asarray([1.0, 1.5, 2.0]), "bf16")
    np.testing.assert_array_equal(np.asarray(j), got)


# ---- Numba == JAX, bit for bit -----------------------------------------------------------------
def _jax_inputs(fmt, rng, n=1500):
    """Random float32 bit patterns, and for narrow formats their values and values off the grid."""
    bits = [rng.integers(0, 1 << 32, n // 2, dtype=np.uint64).astype(np.uint32).view(np.float32) for _ in range(2)]
    if fmt.bits > 16:
        return bits[0], bits[1]
    x, y = _sample_pairs(fmt, rng, n // 2)
    with np.errstate(over="ignore"):
        return np.concatenate([x.astype(np.float32), bits[0]]), np.concatenate([y.astype(np.float32), bits[1]])


JAX_CASES = [  # (format, form, rounding, overflow): each is one XLA compilation (~0.2 s)
    (F.FP32, "bits", "nearest_even", None), (F.FP32, "formula", "up", None),
    (F.BF16, "formula", "odd", "saturate"), (F.FP16, "bits", "down", "propagate"),
    (F.E4M3, "bits", "nearest_even", None), (F.E5M2, "formula", "nearest_away", "saturate"),
    (F.p3109(8, 3), "bits", "toward_zero", None), (F.E4M3FNUZ, "formula", "nearest_even", None),
    (F.E8M0, "bits", "up", None), (FloatFormat(4, 3, subnormals=False, name="e4m3_nosub"), "formula", "down", None),
]


@pytest.mark.parametrize("fmt, form, rounding, overflow", JAX_CASES,
                         ids=[f"{c[0].name}-{c[1]}-{c[2]}-{c[3]}" for c in JAX_CASES])
def test_numba_equals_jax(fmt, form, rounding, overflow, rng):
    x, y = _jax_inputs(fmt, rng)
    expected = L.multiply(x, y, fmt, form, rounding, overflow)
    got = np.asarray(L.multiply(jnp.asarray(x), jnp.asarray(y), fmt, form, rounding, overflow))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_jax_under_jit_and_vmap(rng):
    x, y = _jax_inputs(F.BF16, rng, 2048)
    x, y = x[:1024].reshape(32, 32), y[:1024].reshape(32, 32)
    expected = L.multiply(x, y, "bf16", "formula").view(np.uint32)
    f = jax.jit(lambda a, b: L.multiply(a, b, "bf16", "formula"))
    np.testing.assert_array_equal(np.asarray(f(x, y)).view(np.uint32), expected)
    rows = jax.vmap(lambda a, b: L.multiply(a, b, "bf16", "formula"))(jnp.asarray(x), jnp.asarray(y))
    np.testing.assert_array_equal(np.asarray(rows).view(np.uint32), expected)
    outer = jax.jit(jax.vmap(lambda a: L.multiply(a, jnp.asarray(y[0]), "bf16", "formula")))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(outer).view(np.uint32),
                                  L.multiply(x, y[0], "bf16", "formula").view(np.uint32))


# ---- arguments -----------------------------------------------------------------------------------
ONE = np.float32([1.0])
BAD = [  # (call, error, words the message must contain)
    (lambda: L.multiply(ONE, ONE, "e4m3", form="mitchell"), InvalidArgumentError, ["form", "bits", "formula"]),
    (lambda: L.multiply(ONE, ONE, "e4m3", form=None), InvalidArgumentError, ["form"]),
    (lambda: L.multiply(ONE, ONE, "int8"), InvalidFormatError, ["floating-point", "int8"]),
    (lambda: L.multiply(ONE, ONE, "e9m9"), InvalidFormatError, ["unknown format"]),
    (lambda: L.multiply(ONE, ONE, "e4m3", rounding="stochastic"), InvalidArgumentError, ["deterministic"]),
    (lambda: L.multiply(ONE, ONE, "e4m3", rounding="sideways"), InvalidArgumentError, ["rounding"]),
    (lambda: L.multiply(ONE, ONE, "e4m3", overflow="wrap"), InvalidArgumentError, ["wrap"]),
    (lambda: L.multiply(ONE, ONE, "e2m1", overflow="infinity"), InvalidArgumentError, ["saturate"]),
    (lambda: L.multiply(np.ones(3), np.ones(4), "e4m3"), InvalidArgumentError, ["broadcast", "(3,)", "(4,)"]),
    (lambda: L.multiply(ONE, ONE, "fp64"), UnsupportedContainerError, ["float64"]),
    (lambda: L.multiply(np.float16([1.0]), ONE, "e4m3"), UnsupportedContainerError, ["float16"]),
    (lambda: L.multiply(jnp.ones(3), jnp.ones(4), "e4m3"), InvalidArgumentError, ["broadcast"]),
    (lambda: L.multiply(jnp.ones(3), jnp.ones(3), "e4m3", form="paper"), InvalidArgumentError, ["form"]),
    (lambda: L.multiply(jnp.ones(3), jnp.ones(3), "fp64"), UnsupportedContainerError, ["float64"]),
    (lambda: L.offset("int4"), InvalidFormatError, ["floating-point"]),
    (lambda: L.offset_exponent(-1), InvalidArgumentError, ["man_bits", "[0, 52]"]),
    (lambda: L.mean_relative_error("e4m3", samples=0), InvalidArgumentError, ["samples"]),
    (lambda: L.mean_relative_error("e4m3", form="exact"), InvalidArgumentError, ["form"]),
    (lambda: R.lmul(1.0, 1.0, F.INT8), InvalidFormatError, ["FloatFormat"]),
    (lambda: R.lmul(1.0, 1.0, F.E4M3, "paper"), InvalidArgumentError, ["form"]),
    (lambda: R.lmul(1.0, 1.0, F.E4M3, rounding="stochastic_b"), InvalidArgumentError, ["deterministic"]),
    (lambda: R.lmul("1", 1.0, F.E4M3), InvalidArgumentError, ["real numbers"]),
]


@pytest.mark.parametrize("call, error, words", BAD, ids=range(len(BAD)))
def test_bad_arguments(call, error, words, raises_naming):
    raises_naming(call, error, words)


@pytest.mark.parametrize("module", [L, R], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
