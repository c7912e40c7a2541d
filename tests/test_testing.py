"""Tests of lpemu.testing: the strategies draw what they promise, and the checker passes correct
roundings (ml_dtypes, jax, gfloat, the exact oracle) and reports the smallest counterexample of
buggy ones (ties away from zero, subnormals flushed by XLA's reduce_precision).

Hypothesis settings come from the profile tests/conftest.py loads (deterministic, no deadline);
tests that run lpemu's exact oracle lower max_examples.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

import lpemu
from lpemu import reference
from lpemu._container import check_fits
from lpemu._formats import FloatFormat, Specials
from lpemu.errors import InvalidArgumentError, UnsupportedContainerError
from lpemu.formats import BF16, E2M1, E2M3, E3M2, E4M3, E4M3_IEEE, E5M2, INT4, INT8, FixedFormat, p3109
from lpemu.testing import (
    CheckResult, Mismatch, RoundingCheckError, _check_bit_range, _Comparer, check_rounding, codes_of,
    float_formats, halfway_points, interesting_floats, rounding_modes, values_of,
)

F32 = np.dtype(np.float32)


def bits(a) -> np.ndarray:
    return np.asarray(a, np.float32).view(np.uint32)


def ml_round_trip(dtype):
    return lambda x: x.astype(dtype).astype(np.float32)


def overflows(fmt) -> list[str | None]:
    if isinstance(fmt, FixedFormat):
        return ["saturate", "wrap"]
    return [None, "saturate", "propagate"] if (fmt.infinities or fmt.has_nan) else [None]


# =============================================================================================
# Strategies
# =============================================================================================
@given(float_formats(max_bits=12))
def test_float_formats_fit_float32(fmt):
    assert isinstance(fmt, FloatFormat) and 1 <= fmt.bits <= 12
    check_fits(fmt, F32)
    x = np.array([fmt.max, fmt.min_subnormal], np.float32)
    np.testing.assert_array_equal(bits(lpemu.quantize(x, fmt)), bits(x))


@given(float_formats(max_bits=64, container=np.float64))
def test_float_formats_fit_float64(fmt):
    check_fits(fmt, np.dtype(np.float64))


@given(float_formats(max_bits=8, families=["fnuz", Specials.P3109]))
def test_float_formats_families(fmt):
    assert fmt.specials in (Specials.FNUZ, Specials.P3109) and fmt.bits <= 8


def test_float_formats_draws_every_kind():
    """Non-default biases, unsigned, no subnormals, each family, and the narrowest widths occur."""
    strat = float_formats(max_bits=8)
    find(strat, lambda f: f.bias != 2 ** (f.exp_bits - 1) - 1)
    find(strat, lambda f: not f.signed and not f.subnormals)
    find(strat, lambda f: f.specials is Specials.P3109 and not f.infinities)
    for fam in Specials:
        find(strat, lambda f, fam=fam: f.specials is fam)


@given(st.data())
def test_values_of_are_fixed_points(data):
    """Every value of the format is left unchanged by lpemu.quantize, in every rounding mode."""
    fmt = data.draw(float_formats(max_bits=10), label="fmt")
    mode = data.draw(rounding_modes(), label="mode")
    vals = data.draw(st.lists(values_of(fmt), min_size=1, max_size=20), label="values")
    x = np.array(vals, np.float32)
    assert (bits(x.astype(np.float64)) == bits(np.array(vals))).all()  # exact in float32
    got = lpemu.quantize(x, fmt, mode, seed=7)
    np.testing.assert_array_equal(bits(got), bits(x))


@given(st.data())
def test_codes_of(data):
    fmt = data.draw(float_formats(max_bits=10), label="fmt")
    code = data.draw(codes_of(fmt), label="code")
    assert 0 <= code < fmt.num_codes
    fin = data.draw(codes_of(fmt, finite=True), label="finite code")
    assert math.isfinite(fmt.code_value(fin))


def test_values_of_fixed_point():
    fmt = FixedFormat(3, 2)
    v = find(values_of(fmt), lambda v: v < -7.75)
    assert v == fmt.min == -8.0


@settings(max_examples=25)
@given(st.data())
def test_halfway_points_are_ties(data):
    """The exact oracle sees each midpoint as a tie: nearest_even and nearest_away differ by one step."""
    fmt = data.draw(float_formats(max_bits=10), label="fmt")
    t = data.draw(halfway_points(fmt), label="midpoint")
    lo = reference.round_value(t, fmt, "toward_zero")
    hi = reference.round_value(t, fmt, "nearest_away")
    assert abs(hi) > abs(lo) and lo + hi == 2 * t
    even = reference.round_value(t, fmt, "nearest_even")
    assert even in (lo, hi)


def test_halfway_points_shrink_to_the_first_tie():
    assert find(halfway_points(E4M3), lambda t: True) == 2.0**-10
    assert find(halfway_points(INT8), lambda t: t > 126) == 126.5


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_interesting_floats_reach_each_kind(dtype):
    strat = interesting_floats(E4M3, dtype)
    assert find(strat, lambda x: True).dtype == np.dtype(dtype)
    tie = dtype(2.0**-10)
    find(strat, lambda x: x == tie)                                     # a midpoint
    find(strat, lambda x: x == np.nextafter(tie, dtype(1)))             # and its neighbour
    find(strat, lambda x: np.isnan(x))
    find(strat, lambda x: x == -np.inf)
    find(strat, lambda x: x == dtype(464.0))                            # overflow threshold
    find(strat, lambda x: 0 < x < dtype(2.0**-9) and x != tie)          # below the subnormals
    find(strat, lambda x: x == 0 and np.signbit(x))


def test_rounding_modes():
    assert find(rounding_modes(), lambda m: True) is lpemu.RoundingMode.NEAREST_EVEN
    find(rounding_modes(), lambda m: m.is_stochastic)
    with pytest.raises(NoSuchExample):
        find(rounding_modes(deterministic_only=True), lambda m: m.is_stochastic)


# =============================================================================================
# The checker passes correct implementations
# =============================================================================================
@pytest.mark.parametrize("fmt, dtype", [
    (E4M3, ml_dtypes.float8_e4m3fn), (E5M2, ml_dtypes.float8_e5m2), (E4M3_IEEE, ml_dtypes.float8_e4m3),
    (E2M1, ml_dtypes.float4_e2m1fn), (E3M2, ml_dtypes.float6_e3m2fn), (E2M3, ml_dtypes.float6_e2m3fn),
    (BF16, ml_dtypes.bfloat16),
], ids=lambda v: getattr(v, "name", None) or np.dtype(v).name)
def test_checker_passes_ml_dtypes(fmt, dtype):
    r = check_rounding(ml_round_trip(dtype), fmt, max_examples=100)
    r.raise_if_failed()
    assert r.passed and bool(r) and r.mismatches == 0 and r.counterexample is None
    assert r.checked >= 2 * fmt.num_finite  # every value and midpoint, both signs
    assert "PASS" in repr(r)


def test_checker_accepts_ml_dtypes_arrays_and_jax():
    check_rounding(lambda x: x.astype(ml_dtypes.float8_e4m3fn), E4M3, max_examples=0).raise_if_failed()
    cast = jax.jit(lambda v: v.astype(jnp.float8_e5m2).astype(jnp.float32))
    check_rounding(cast, E5M2, max_examples=50).raise_if_failed()
    check_rounding(jax.jit(lambda v: lpemu.quantize(v, E4M3, "up")), E4M3, "up", max_examples=0).raise_if_failed()


def test_checker_passes_gfloat_with_float64_results():
    gfloat = pytest.importorskip("gfloat")
    from gfloat.formats import format_info_ocp_e4m3

    def fn(x):
        y = gfloat.round_ndarray(format_info_ocp_e4m3, x, gfloat.RoundMode.TowardZero, sat=True)
        assert y.dtype == np.float64
        return y

    check_rounding(fn, E4M3, "toward_zero", "saturate", max_examples=50).raise_if_failed()


@settings(max_examples=12)
@given(st.data())
def test_checker_passes_the_oracle(data):
    """lpemu.quantize equals the exact oracle on the checker's systematic inputs, random formats."""
    fmt = data.draw(float_formats(max_bits=6), label="fmt")
    mode = data.draw(rounding_modes(deterministic_only=True), label="mode")
    ov = data.draw(st.sampled_from(overflows(fmt)), label="overflow")

    def oracle(x):
        return np.array([reference.round_value(float(v), fmt, mode, ov) for v in x], np.float32)

    check_rounding(oracle, fmt, mode, ov, max_examples=0).raise_if_failed()


def test_checker_float64_container():
    """gfloat rounds float64 inputs once and passes; ml_dtypes' float64 casts round twice (via
    float32) and fail just above the subnormal ties, on inputs no float32 holds."""
    gfloat = pytest.importorskip("gfloat")
    from gfloat.formats import format_info_ocp_e4m3

    ok = check_rounding(lambda x: gfloat.round_ndarray(format_info_ocp_e4m3, x), E4M3, dtype=np.float64,
                        max_examples=0)
    assert ok.passed and ok.dtype == np.float64
    r = check_rounding(ml_round_trip(ml_dtypes.float8_e4m3fn), E4M3, dtype=np.float64, max_examples=0)
    m = r.counterexample
    assert not r.passed and m.x.dtype == np.float64
    assert 2.0**-10 < m.x < np.nextafter(np.float32(2.0**-10), np.float32(1))  # between float32s
    assert m.expected == 2.0**-9 and m.actual == 0.0


# =============================================================================================
# ... and reports the smallest counterexample of buggy ones
# =============================================================================================
def test_checker_finds_ties_away():
    ties_away = lambda x: lpemu.quantize(x, E4M3, "nearest_away")  # noqa: E731
    r = check_rounding(ties_away, E4M3, max_examples=200)
    assert not r.passed and not r and r.mismatches > 0
    # The smallest float32 where ties-away and ties-to-even differ: the tie between 0 and 2^-9.
    m = r.counterexample
    assert isinstance(m, Mismatch)
    assert bits(m.x) == bits(2.0**-10) and bits(m.expected) == bits(0.0) and m.actual == 2.0**-9
    assert r.examples[1].x == -(2.0**-10)  # then its negative
    assert all(abs(a.x) <= abs(b.x) for a, b in zip(r.examples, r.examples[1:]))
    with pytest.raises(RoundingCheckError, match=r"x = 0\.0009765625 \(0x3a800000\)") as info:
        r.raise_if_failed()
    assert isinstance(info.value, AssertionError)
    assert "FAIL float8_e4m3fn nearest_even" in repr(r) and "smallest x = 0.0009765625" in repr(r)


def test_checker_finds_flushed_subnormals_of_reduce_precision():
    """XLA's reduce_precision flushes results in the subnormal range (shared/specs/peers.md)."""
    rp = jax.jit(lambda v: jax.lax.reduce_precision(v, exponent_bits=4, mantissa_bits=3))
    r = check_rounding(rp, E4M3_IEEE, max_examples=100)
    # Smallest |x| that rounds to the smallest subnormal 2^-9: the float32 just above the tie 2^-10.
    m = r.counterexample
    assert bits(m.x) == bits(np.nextafter(np.float32(2.0**-10), np.float32(1)))
    assert m.expected == 2.0**-9 and bits(m.actual) == bits(0.0)
    # Flushes are its only failures: everything from min_normal up agrees.
    assert all(abs(e.x) < E4M3_IEEE.min_normal for e in r.examples)


def test_checker_flushed_subnormals_in_a_bit_range():
    """The exhaustive path on 2^21 float32 patterns around 2^-10; counts match a direct count."""
    rp = jax.jit(lambda v: jax.lax.reduce_precision(v, exponent_bits=4, mantissa_bits=3))
    comparer = _Comparer(rp, E4M3_IEEE, lpemu.RoundingMode.NEAREST_EVEN, lpemu.Overflow.INFINITY, F32)
    start, n = 0x3A800000 - (1 << 20), 1 << 21
    assert _check_bit_range(comparer, start, start + n, chunk=1 << 19) == n
    x = np.arange(start, start + n, dtype=np.uint32).view(np.float32)
    expect = lpemu.quantize(x, E4M3_IEEE)
    # Every input above the tie 2^-10 (all below min_normal) is flushed to 0.
    assert comparer.count == int((expect != np.asarray(rp(x))).sum()) == (1 << 20) - 1
    assert bits(comparer.kept[0].x) == 0x3A800001


def test_hypothesis_finds_what_the_systematic_inputs_miss():
    """A bug only on floats whose low mantissa nibble is 0xA: no systematic input has it (codes
    and midpoints end in zeros, their neighbours in 0x1 or 0xF)."""
    def buggy(x):
        y = lpemu.quantize(x, E4M3)
        hit = (x.view(np.uint32) & 0xF) == 0xA
        return np.where(hit, x, y)

    assert check_rounding(buggy, E4M3, max_examples=0).passed
    r = check_rounding(buggy, E4M3, max_examples=300)
    assert not r.passed
    assert int(bits(r.counterexample.x)) & 0xF == 0xA
    assert r.checked > check_rounding(buggy, E4M3, max_examples=0).checked


def test_checker_nan_and_signed_zero_rules():
    """NaN payloads do not matter; the sign of zero does."""
    def payload(x):
        y = lpemu.quantize(x, E5M2).view(np.uint32)
        return np.where(np.isnan(x), y | 0x80000001, y).view(np.float32)

    check_rounding(payload, E5M2, max_examples=0).raise_if_failed()
    r = check_rounding(lambda x: lpemu.quantize(x, E5M2) + np.float32(0.0), E5M2, max_examples=0)
    assert bits(r.counterexample.x) == bits(-0.0) and bits(r.counterexample.actual) == 0


@pytest.mark.slow
def test_exhaustive_ml_dtypes_e4m3():
    """All 2^32 float32 inputs (about 3 minutes on 2 cores): deselected by default, run with -m slow."""
    r = check_rounding(ml_round_trip(ml_dtypes.float8_e4m3fn), E4M3, exhaustive=True)
    assert r.passed and r.checked == 1 << 32 and r.exhaustive


# =============================================================================================
# Bad arguments
# =============================================================================================
@pytest.mark.parametrize("kwargs, error, match", [
    (dict(fmt=E4M3, rounding="stochastic"), InvalidArgumentError, "deterministic"),
    (dict(fmt=E4M3, exhaustive=True, dtype=np.float64), InvalidArgumentError, "exhaustive"),
    (dict(fmt=E4M3, max_examples=-1), InvalidArgumentError, "max_examples"),
    (dict(fmt=E4M3, rounding="sideways"), InvalidArgumentError, "rounding"),
    (dict(fmt=E2M1, overflow="infinity"), InvalidArgumentError, "saturate"),
    (dict(fmt="float64"), UnsupportedContainerError, "float64"),
    (dict(fmt=E4M3, fn=lambda x: x[:-1]), InvalidArgumentError, "shape"),
    (dict(fmt=E4M3, fn=lambda x: x.astype(np.int32)), InvalidArgumentError, "float array"),
    (dict(fmt=E4M3, fn=3), InvalidArgumentError, "callable"),
], ids=["stochastic", "exhaustive-f64", "max_examples", "mode", "overflow", "container", "shape",
        "dtype", "callable"])
def test_checker_bad_arguments(kwargs, error, match):
    kwargs = {"fn": lambda x: x, "max_examples": 0, **kwargs}
    with pytest.raises(error, match=match):
        check_rounding(**kwargs)


@pytest.mark.parametrize("call, match", [
    (lambda: float_formats(max_bits=0), "max_bits"),
    (lambda: float_formats(families=["weird"]), "families"),
    (lambda: float_formats(families=[]), "at least one"),
    (lambda: float_formats(max_bits=1, families=["ieee"]), "no format"),
    (lambda: halfway_points(FloatFormat(1, 1, signed=False, subnormals=False, specials="p3109")), "two distinct"),
], ids=["max_bits", "family", "no-family", "too-narrow", "only-zero"])
def test_strategy_bad_arguments(call, match):
    with pytest.raises(InvalidArgumentError, match=match):
        call()


def test_result_repr_and_report():
    r = check_rounding(lambda x: x, E2M1, max_examples=0)
    assert isinstance(r, CheckResult)
    assert repr(r).startswith("CheckResult(FAIL float4_e2m1fn nearest_even overflow=saturate float32: ")
    assert r.report().count("\n") == len(r.examples) == 10
    ok = check_rounding(ml_round_trip(ml_dtypes.float4_e2m1fn), E2M1, max_examples=0)
    assert ok.raise_if_failed() is ok
    assert repr(ok) == f"CheckResult(PASS float4_e2m1fn nearest_even overflow=saturate float32: 0 of {ok.checked:,} inputs differ)"


def test_p3109_and_fixed_point_against_gfloat_and_oracle():
    """Formats ml_dtypes lacks: a P3109 format via gfloat, int4 via the oracle."""
    gfloat = pytest.importorskip("gfloat")
    fmt = p3109(8, 3)
    fi = gfloat.formats.format_info_p3109(8, 3)
    check_rounding(lambda x: gfloat.round_ndarray(fi, x), fmt, max_examples=0).raise_if_failed()
    oracle = lambda x: np.array([reference.round_value(float(v), INT4) for v in x], np.float32)  # noqa: E731
    check_rounding(oracle, INT4, max_examples=0).raise_if_failed()
