"""One truth: the Numba and JAX kernels equal the exact oracle (lpemu.reference) bit for bit.

Every preset and a spread of custom formats, every rounding mode and overflow policy, on all
codes (or a seeded sample of the 16-bit ones), all midpoints between neighbouring values and
their float neighbours, the subnormal and overflow boundaries, +-0, +-Inf and NaNs. Codes are
compared as integers; values as bit patterns.
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu import formats as F
from lpemu import reference
from lpemu._formats import FixedFormat, FloatFormat, IntFormat
from lpemu.kernels.numba import specialize

MODES = [m.value for m in lpemu.RoundingMode]
#: Inputs per format in the default run (a seeded sample that always keeps the boundary
#: cases); LPEMU_EXHAUSTIVE=1 checks every input.
MAX_INPUTS = None if os.environ.get("LPEMU_EXHAUSTIVE") else 700
SEED = 12345
SR_BITS = 7

CUSTOM = [
    F.p3109(8, 3), F.p3109(8, 4, extended=False), F.p3109(8, 1), F.p3109(8, 4, signed=False),
    F.p3109(6, 3, signed=False, extended=False),
    FloatFormat(4, 3, subnormals=False, name="e4m3_nosub"),
    FloatFormat(5, 2, bias=3, name="e5m2b3"),
    FloatFormat(3, 2, specials="none", subnormals=False, name="e3m2_nosub"),
    FloatFormat(2, 1, specials="none", signed=False, name="e2m1u"),
    FloatFormat(8, 2, name="e8m2"),  # reaches the float32 subnormal range
    FloatFormat(6, 5, specials="fn", name="e6m5fn"),
    FixedFormat(3, 4), FixedFormat(2, 5, signed=False), IntFormat(8, signed=False), IntFormat(4),
    FixedFormat(10, 14),  # 25 bits: the widest signed fixed point a float32 holds
]
FLOAT32_FORMATS = [f for f in F.PRESETS.values() if f.name != "float64"] + CUSTOM


def _overflows(fmt):
    if isinstance(fmt, FixedFormat):
        return ["saturate", "wrap"]
    if fmt.infinities or fmt.has_nan:
        return [None, "saturate", "propagate"]
    return [None]


def interesting_inputs(fmt, dtype, rng) -> np.ndarray:
    """Codes' values, midpoints, their float neighbours, boundaries and specials, in ``dtype``."""
    if fmt.bits <= 10:
        codes = np.arange(fmt.num_codes)
    else:
        n = fmt.num_codes
        sample = [int(r * n) for r in rng.random(300)] + list(range(8)) + [n // 2 + i for i in range(8)]
        top = getattr(fmt, "max_code", n - 1)
        codes = sorted({c for c in sample + [top - i for i in range(4)] if 0 <= c < n})
    vals = np.array([fmt.code_value(c) for c in codes], np.float64)
    fin = np.unique(np.abs(vals[np.isfinite(vals)]))
    mids = fin[:-1] + (fin[1:] - fin[:-1]) / 2
    top = fin[-1]
    tiny = np.finfo(dtype).smallest_subnormal
    with np.errstate(over="ignore"):
        beyond = [top * 1.0625, top * 1.5, top * 4]
    extra = [0.0, *beyond, 1e30, tiny, 3 * tiny,
             fin[1] / 2 if fin.size > 1 else 1.0, fin[1] / 4 if fin.size > 1 else 1.0, np.inf, np.nan, 1.0, 1 / 3, 0.1]
    base = np.concatenate([vals[np.isfinite(vals)], mids, extra])
    big = np.finfo(dtype).max
    base = np.where(np.abs(base) > big, np.copysign(np.inf, base), base).astype(dtype)
    with np.errstate(over="ignore"):
        up = np.nextafter(base, np.inf, dtype=dtype)
        down = np.nextafter(base, -np.inf, dtype=dtype)
    allv = np.concatenate([base, up, down])
    allv = np.concatenate([allv, -allv])
    if dtype == np.float32:
        nan_payload = np.array([0x7F812345, 0xFFC00000], np.uint32).view(np.float32)
    else:
        nan_payload = np.array([0x7FF0000012345000, 0xFFF8000000000000], np.uint64).view(np.float64)
    if MAX_INPUTS is not None and allv.size > MAX_INPUTS:
        boundary = np.zeros(base.size, bool)
        boundary[-len(extra):] = True  # the boundary cases are kept in every sample
        boundary = np.tile(boundary, 6)
        pick = rng.choice(np.flatnonzero(~boundary), MAX_INPUTS - boundary.sum(), replace=False)
        allv = allv[np.sort(np.concatenate([np.flatnonzero(boundary), pick]))]
    return np.concatenate([allv, nan_payload])


def oracle_codes(x, fmt, mode, overflow) -> np.ndarray:
    out = np.empty(x.size, np.uint64)
    stochastic = lpemu.RoundingMode(mode).is_stochastic
    for i, v in enumerate(x.tolist()):
        rbits = reference.random_bits(i, SEED, SR_BITS) if stochastic else None
        out[i] = reference.round_to_code(v, fmt, mode, overflow, rbits=rbits, sr_bits=SR_BITS)
    return out


def _kw(mode):
    return dict(seed=SEED, sr_bits=SR_BITS) if lpemu.RoundingMode(mode).is_stochastic else dict(sr_bits=SR_BITS)


def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


@pytest.mark.parametrize("fmt", FLOAT32_FORMATS, ids=lambda f: f.name)
def test_float32_kernels_equal_oracle(fmt, rng):
    x_all = interesting_inputs(fmt, np.float32, rng)
    for overflow in _overflows(fmt):
        x = x_all
        if overflow != _overflows(fmt)[0]:  # the policy matters only for large and infinite inputs
            x = x_all[~(np.abs(x_all) < fmt.max / 2)]
        xj = jnp.asarray(x)
        for mode in MODES:
            expected = oracle_codes(x, fmt, mode, overflow)
            got = lpemu.encode(x, fmt, mode, overflow, **_kw(mode))
            bad = np.flatnonzero(got.astype(np.uint64) != expected)
            assert bad.size == 0, (mode, overflow, x[bad[:5]], got[bad[:5]], expected[bad[:5]])
            # JAX compiles per combination (~0.1 s): every mode with the default policy here, the
            # other policies in test_jax_overflow_policies
            if overflow == _overflows(fmt)[0]:
                got_jax = np.asarray(lpemu.encode(xj, fmt, mode, overflow, **_kw(mode)))
                np.testing.assert_array_equal(got_jax, got, err_msg=f"jax {mode} {overflow}")
            # values: quantize == decode(encode) in both backends
            values = lpemu.quantize(x, fmt, mode, overflow, **_kw(mode))
            np.testing.assert_array_equal(_bits(values), _bits(lpemu.decode(got, fmt)), err_msg=f"{mode} {overflow}")
            if overflow == _overflows(fmt)[0] and mode in ("nearest_even", "stochastic"):
                values_jax = np.asarray(lpemu.quantize(xj, fmt, mode, overflow, **_kw(mode)))
                np.testing.assert_array_equal(_bits(values_jax), _bits(values), err_msg=f"jax {mode} {overflow}")


@pytest.mark.parametrize("fmt", [F.E5M2, F.E4M3, F.p3109(8, 3), F.E2M1, F.INT8, F.BF16], ids=lambda f: f.name)
def test_jax_overflow_policies(fmt, rng):
    x = interesting_inputs(fmt, np.float32, rng)
    x = x[~(np.abs(x) < fmt.max / 2)]
    for overflow in _overflows(fmt)[1:]:
        for mode in ("nearest_even", "toward_zero", "up", "down", "odd", "stochastic"):
            np.testing.assert_array_equal(np.asarray(lpemu.encode(jnp.asarray(x), fmt, mode, overflow, **_kw(mode))),
                                          lpemu.encode(x, fmt, mode, overflow, **_kw(mode)), err_msg=f"{mode} {overflow}")


FLOAT64_FORMATS = [F.FP64, F.FP32, F.TF32, F.BF16, F.FP16, F.E4M3, F.E5M2FNUZ, F.E8M0, F.E2M1,
                   FloatFormat(11, 20, name="e11m20"), FloatFormat(8, 2, subnormals=False), IntFormat(32),
                   FixedFormat(20, 30)]


@pytest.mark.parametrize("fmt", FLOAT64_FORMATS, ids=lambda f: f.name)
def test_float64_kernels_equal_oracle(fmt, rng):
    x = interesting_inputs(fmt, np.float64, rng)
    for overflow in _overflows(fmt)[:2]:
        for mode in ("nearest_even", "toward_zero", "up", "odd", "stochastic_c"):
            expected = oracle_codes(x, fmt, mode, overflow)
            got = lpemu.encode(x, fmt, mode, overflow, **_kw(mode))
            bad = np.flatnonzero(got.astype(np.uint64) != expected)
            assert bad.size == 0, (mode, overflow, x[bad[:5]], got[bad[:5]], expected[bad[:5]])
            values = lpemu.quantize(x, fmt, mode, overflow, **_kw(mode))
            np.testing.assert_array_equal(_bits(values), _bits(lpemu.decode(got, fmt, np.float64)))
            if mode not in ("nearest_even", "stochastic_c"):
                continue  # JAX compiles per combination; two modes suffice to check the int64 path
            with jax.enable_x64(True):
                xj = jnp.asarray(x)
                np.testing.assert_array_equal(np.asarray(lpemu.encode(xj, fmt, mode, overflow, **_kw(mode))), got)
                vj = np.asarray(lpemu.quantize(xj, fmt, mode, overflow, **_kw(mode)))
                np.testing.assert_array_equal(_bits(vj), _bits(values))


def test_float32_and_float64_containers_agree(rng):
    x32 = (rng.standard_normal(5000) * np.exp2(rng.integers(-20, 20, 5000))).astype(np.float32)
    for fmt in (F.E4M3, F.BF16, F.FP16, F.E8M0, F.INT8):
        for mode in MODES:
            a = lpemu.encode(x32, fmt, mode, **_kw(mode))
            b = lpemu.encode(x32.astype(np.float64), fmt, mode, **_kw(mode))
            np.testing.assert_array_equal(a, b, err_msg=f"{fmt.name} {mode}")


@pytest.mark.parametrize("name, fmt, mode, overflow", [
    ("quantize_float", F.E5M2, "stochastic_b", "saturate"), ("encode_float", F.E8M0, "up", None)])
def test_specialised_build_equals_generic(name, fmt, mode, overflow, rng):
    """The flag-specialised loop large arrays use gives the generic loop's bits."""
    from lpemu._container import float_params
    from lpemu.kernels.params import flags_of

    x = interesting_inputs(F.E4M3, np.float32, rng)
    xb = x.view(np.int32)
    p = float_params(fmt, np.float32, mode, overflow, SR_BITS)
    out_dtype = np.int32 if name.startswith("quantize") else np.uint8
    a = np.empty(x.size, out_dtype)
    b = np.empty(x.size, out_dtype)
    specialize.generic(name)(xb, a, p, flags_of(p), 7, 0)
    specialize.specialized(name, flags_of(p))(xb, b, p, flags_of(p), 7, 0)
    np.testing.assert_array_equal(a, b)


def test_large_arrays_take_the_specialised_path(monkeypatch, rng):
    from lpemu._container import float_params
    from lpemu.kernels.params import flags_of

    x = (rng.standard_normal(3000)).astype(np.float32)
    small = lpemu.quantize(x, "e5m2", "stochastic_b", "saturate", seed=3, sr_bits=SR_BITS)
    monkeypatch.setattr(specialize, "SPECIALIZE_MIN_SIZE", 1000)
    big = lpemu.quantize(x, "e5m2", "stochastic_b", "saturate", seed=3, sr_bits=SR_BITS)
    np.testing.assert_array_equal(_bits(big), _bits(small))
    flags = flags_of(float_params(F.E5M2, np.float32, "stochastic_b", "saturate", SR_BITS))
    assert ("quantize_float", flags) in {k for k in _cache_keys(specialize.specialized)}


def _cache_keys(cached):
    # functools.cache keeps no public key list: call with the same args and compare identity
    from lpemu._container import float_params
    from lpemu.kernels.params import flags_of

    flags = flags_of(float_params(F.E5M2, np.float32, "stochastic_b", "saturate", SR_BITS))
    before = cached.cache_info().hits
    cached("quantize_float", flags)
    return {("quantize_float", flags)} if cached.cache_info().hits == before + 1 else set()


def test_jax_under_jit_and_vmap(rng):
    x = rng.standard_normal((4, 64)).astype(np.float32)
    expected = lpemu.quantize(x, "e4m3")
    f = jax.jit(lambda v: lpemu.quantize(v, "e4m3"))
    np.testing.assert_array_equal(np.asarray(f(jnp.asarray(x))), expected)
    g = jax.vmap(lambda v: lpemu.quantize(v, "e4m3"))
    np.testing.assert_array_equal(np.asarray(g(jnp.asarray(x))), expected)
    # a traced seed: vmap over seeds gives each row its own stream
    h = jax.vmap(lambda s: lpemu.quantize(jnp.asarray(x[0]), "e4m3", "stochastic", seed=s))
    rows = np.asarray(h(jnp.arange(3, dtype=jnp.uint32)))
    for s in range(3):
        np.testing.assert_array_equal(rows[s], lpemu.quantize(x[0], "e4m3", "stochastic", seed=s))
    assert not np.array_equal(rows[0], rows[1])


def test_scalars_and_shapes():
    assert lpemu.quantize(0.3, "e4m3") == 0.3125
    assert isinstance(lpemu.quantize(np.float32(0.3), "e4m3"), np.float32)
    assert lpemu.quantize(np.ones((2, 0, 3), np.float32), "bf16").shape == (2, 0, 3)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)[:, ::2]  # non-contiguous
    np.testing.assert_array_equal(lpemu.quantize(x, "e2m1"), lpemu.quantize(np.ascontiguousarray(x), "e2m1"))
    assert lpemu.quantize(np.array([3]), "int8").dtype == np.float64  # integers become float64
    out = np.empty(3, np.float32)
    res = lpemu.quantize(np.array([1.1, 2.2, 3.3], np.float32), "e5m2", out=out)
    assert res is out and out.tolist() == [1.0, 2.0, 3.5]


# ---- hypothesis: random formats, modes and inputs against the oracle ---------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lpemu.testing import float_formats, interesting_floats, rounding_modes  # noqa: E402


@st.composite
def _case(draw):
    fmt = draw(float_formats(max_bits=12))
    xs = draw(st.lists(interesting_floats(fmt, np.float32), min_size=1, max_size=24))
    mode = draw(rounding_modes()).value
    overflow = draw(st.sampled_from(_overflows(fmt)))
    return fmt, np.array(xs, np.float32), mode, overflow


@given(_case())
def test_random_formats_equal_oracle(case):
    """Numba (generic kernel: no recompilation per format) against the oracle."""
    fmt, x, mode, overflow = case
    expected = oracle_codes(x, fmt, mode, overflow)
    got = lpemu.encode(x, fmt, mode, overflow, **_kw(mode))
    np.testing.assert_array_equal(got.astype(np.uint64), expected)


@given(_case())
def test_random_formats_jax_equals_numba(case):
    fmt, x, mode, overflow = case
    np.testing.assert_array_equal(np.asarray(lpemu.encode(jnp.asarray(x), fmt, mode, overflow, **_kw(mode))),
                                  lpemu.encode(x, fmt, mode, overflow, **_kw(mode)))


@pytest.mark.parametrize("fmt", [FloatFormat(4, 3, specials="fnuz", subnormals=False),
                                 FloatFormat(4, 3, specials="p3109", subnormals=False)],
                         ids=["fnuz-nosub", "p3109-nosub"])
def test_formats_without_negative_zero_decode_flushed_codes_as_plus_zero(fmt):
    """Sign-bit codes with exponent 0 are flushed subnormals; a format without -0 decodes them as +0."""
    codes = np.arange(0x81, 0x88, dtype=np.uint8)
    for values in (lpemu.decode(codes, fmt), np.asarray(lpemu.decode(jnp.asarray(codes), fmt))):
        assert np.all(values == 0) and not np.any(np.signbit(values))
    assert all(reference.decode_code(int(c), fmt) == 0 for c in codes)
    assert all(math.copysign(1.0, fmt.code_value(int(c))) == 1.0 for c in codes)
