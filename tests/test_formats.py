"""Format descriptors: properties, the spec's facts, lookup, and the bad-argument table."""

from __future__ import annotations

import numpy as np
import pytest

import lpemu
from lpemu import formats as F
from lpemu.errors import InvalidArgumentError, InvalidFormatError, UnsupportedContainerError


@pytest.mark.parametrize("fmt, mx, min_normal, min_sub, finite", [
    (F.E4M3, 448, 2**-6, 2**-9, 254), (F.E5M2, 57344, 2**-14, 2**-16, 248), (F.E4M3_IEEE, 240, 2**-6, 2**-9, 240),
    (F.E3M2, 28, 0.25, 0.0625, 64), (F.E2M3, 7.5, 1, 0.125, 64), (F.E2M1, 6, 1, 0.5, 16),
    (F.E4M3FNUZ, 240, 2**-7, 2**-10, 255), (F.E5M2FNUZ, 57344, 2**-15, 2**-17, 255),
    (F.E4M3B11FNUZ, 30, 2**-10, 2**-13, 255), (F.E8M0, 2.0**127, 2.0**-127, 2.0**-127, 255),
    (F.p3109(8, 3), 49152, 2**-15, 2**-17, 253), (F.p3109(8, 4), 224, 2**-7, 2**-10, 253),
    (F.p3109(8, 4, extended=False), 240, 2**-7, 2**-10, 255), (F.FP16, 65504, 2**-14, 2**-24, 63488),
])
def test_spec_facts(fmt, mx, min_normal, min_sub, finite):
    assert (fmt.max, fmt.min_normal, fmt.min_subnormal, fmt.num_finite) == (mx, min_normal, min_sub, finite)


def test_values_in_code_order():
    assert F.E2M1.values()[:8].tolist() == [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    v = F.p3109(8, 3).values()
    assert v[0x01] == 2.0**-17 and v[0x7E] == 49152 and v[0x7F] == np.inf and np.isnan(v[0x80]) and v[0xFF] == -np.inf
    e8 = F.E8M0.values()
    assert e8[0] == 2.0**-127 and e8[127] == 1.0 and e8[254] == 2.0**127 and np.isnan(e8[255])
    assert np.isnan(F.E4M3FNUZ.values()[0x80]) and np.isnan(F.E4M3.values()[0x7F])


def test_lookup_by_lpemu_and_ml_dtypes_names():
    import ml_dtypes

    assert lpemu.format("e4m3") is F.E4M3 is lpemu.format("float8_e4m3fn") is lpemu.format(ml_dtypes.float8_e4m3fn)
    assert lpemu.format("bf16") is F.BF16 and lpemu.format(np.float16) is F.FP16
    assert lpemu.format("binary8p3se") == F.p3109(8, 3)
    assert lpemu.format("uint4") == lpemu.IntFormat(4, signed=False)
    with pytest.raises(InvalidFormatError, match="unknown format 'e9m9'"):
        lpemu.format("e9m9")


def test_repr_and_summary():
    assert repr(F.E4M3) == "FloatFormat(4, 3, specials='fn', name='float8_e4m3fn')"
    assert F.E5M2.summary()["max"] == 57344
    assert repr(lpemu.IntFormat(8)) == "IntFormat(8)"
    assert lpemu.FixedFormat(3, 4).max == 7.9375


def test_fixed_point_rounding_and_wrap():
    x = np.array([2.5, -2.5, 127.6, -129, 300, np.inf, -np.inf, np.nan])
    assert lpemu.quantize(x, "int8").tolist() == [2, -2, 127, -128, 127, 127, -128, 0]
    assert lpemu.quantize(x, "int8", "nearest_away").tolist() == [3, -3, 127, -128, 127, 127, -128, 0]
    assert lpemu.quantize(x[:5], "int8", overflow="wrap").tolist() == [2, -2, -128, 127, 44]
    assert lpemu.quantize(np.array([0.30, -0.30]), lpemu.FixedFormat(3, 4), "up").tolist() == [0.3125, -0.25]


# ---- one table of bad arguments (style.md: a single place, like hypothesis' argument tests) ----

BAD_FORMATS = [
    (lambda: lpemu.FloatFormat(0, 3), "exp_bits must be an integer in \\[1, 11\\]"),
    (lambda: lpemu.FloatFormat(4, 53), "man_bits must be an integer in \\[0, 52\\]"),
    (lambda: lpemu.FloatFormat(4, 3, specials="weird"), "specials must be one of"),
    (lambda: lpemu.FloatFormat(5, 0), "man_bits must be >= 1 for specials='ieee'"),
    (lambda: lpemu.FloatFormat(4, 3, specials="fnuz", signed=False), "needs a sign bit"),
    (lambda: lpemu.FloatFormat(4, 3, specials="fn", infinities=True), "infinities=True needs"),
    (lambda: lpemu.FloatFormat(2, 1, specials="none", zero=False, subnormals=False), "needs a NaN"),
    (lambda: lpemu.FloatFormat(4.5, 3), "exp_bits must be an integer"),
    (lambda: lpemu.IntFormat(0), "bits must be an integer in \\[1, 64\\]"),
    (lambda: lpemu.FixedFormat(60, 10), "width .* must be in \\[1, 64\\]"),
    (lambda: F.p3109(8, 8), "p3109.p must be an integer in \\[1, 7\\]"),
]

x32 = np.ones(4, np.float32)
BAD_CALLS = [
    (lambda: lpemu.quantize(x32, "e4m3", "sideways"), InvalidArgumentError, "rounding must be one of"),
    (lambda: lpemu.quantize(x32, "e4m3", overflow="clip"), InvalidArgumentError, "overflow must be one of"),
    (lambda: lpemu.quantize(x32, "e2m1", overflow="infinity"), InvalidArgumentError, "has no Inf or NaN"),
    (lambda: lpemu.quantize(x32, "e4m3", overflow="wrap"), InvalidArgumentError, "for integer and fixed-point"),
    (lambda: lpemu.quantize(x32, "int8", overflow="infinity"), InvalidArgumentError, "'saturate' or 'wrap'"),
    (lambda: lpemu.quantize(x32, "e4m3", "stochastic"), InvalidArgumentError, "needs a seed"),
    (lambda: lpemu.quantize(x32, "e4m3", "sr", seed=-1), InvalidArgumentError, "seed must be an integer in"),
    (lambda: lpemu.quantize(x32, "e4m3", "sr", seed=1, sr_bits=31), InvalidArgumentError, "sr_bits must be an integer in \\[1, 30\\]"),
    (lambda: lpemu.quantize(x32, "e4m3", nan="keep"), InvalidArgumentError, "nan must be 'zero' or 'raise'"),
    (lambda: lpemu.quantize(x32.astype(np.float16), "e4m3"), UnsupportedContainerError, "float32 or float64"),
    (lambda: lpemu.quantize(x32, "fp64"), UnsupportedContainerError, "cannot be emulated exactly in float32"),
    (lambda: lpemu.quantize(x32, lpemu.IntFormat(32)), UnsupportedContainerError, "float32"),
    (lambda: lpemu.quantize(x32, lpemu.FloatFormat(8, 3, bias=150)), UnsupportedContainerError, "smallest quantum"),
    (lambda: lpemu.quantize(x32, "e4m3", out=np.empty(3, np.float32)), InvalidArgumentError, "out must be"),
    (lambda: lpemu.decode(np.array([256]), "e4m3"), InvalidArgumentError, "must be in \\[0, 255\\]"),
    (lambda: lpemu.decode(np.array([1.0]), "e4m3"), InvalidArgumentError, "integer array"),
    (lambda: lpemu.quantize(x32, 42), InvalidFormatError, "format must be"),
]


@pytest.mark.parametrize("make, match", BAD_FORMATS)
def test_bad_formats_name_the_field(make, match):
    with pytest.raises(InvalidFormatError, match=match):
        make()


@pytest.mark.parametrize("call, error, match", BAD_CALLS)
def test_bad_calls_name_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_errors_are_value_or_type_errors():
    assert issubclass(InvalidArgumentError, ValueError) and issubclass(UnsupportedContainerError, TypeError)


def test_jax_argument_errors():
    import jax
    import jax.numpy as jnp

    x = jnp.array([1.0, jnp.nan], jnp.float32)
    with pytest.raises(InvalidArgumentError, match="has no NaN"):
        lpemu.quantize(x, "e2m1", nan="raise")
    with pytest.raises(InvalidArgumentError, match="needs a concrete input"):
        jax.jit(lambda v: lpemu.quantize(v, "e2m1", nan="raise"))(x)
    with pytest.raises(UnsupportedContainerError, match="float32 or float64"):
        lpemu.quantize(x.astype(jnp.float16), "e4m3")
    with pytest.raises(InvalidArgumentError, match="seed must be an integer scalar"):
        lpemu.quantize(x, "e4m3", "stochastic", seed=jnp.array([1, 2]))
    assert lpemu.quantize(jnp.array([3]), "int8").dtype == jnp.float32  # JAX's default float
