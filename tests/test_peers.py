"""Agreement with the peers that implement the same thing: ml_dtypes, numpy float16, JAX casts
and jax.lax.reduce_precision, plus the documented places where they differ from the spec."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import lpemu
from lpemu import formats as F

ML_DTYPES = [
    (F.E5M2, ml_dtypes.float8_e5m2), (F.E4M3, ml_dtypes.float8_e4m3fn), (F.E4M3_IEEE, ml_dtypes.float8_e4m3),
    (F.E3M4, ml_dtypes.float8_e3m4), (F.E4M3FNUZ, ml_dtypes.float8_e4m3fnuz), (F.E5M2FNUZ, ml_dtypes.float8_e5m2fnuz),
    (F.E4M3B11FNUZ, ml_dtypes.float8_e4m3b11fnuz), (F.E3M2, ml_dtypes.float6_e3m2fn),
    (F.E2M3, ml_dtypes.float6_e2m3fn), (F.E2M1, ml_dtypes.float4_e2m1fn), (F.E8M0, ml_dtypes.float8_e8m0fnu),
    (F.BF16, ml_dtypes.bfloat16), (F.FP16, np.float16),
]


def _random_float32_bits(rng, n=1 << 18) -> np.ndarray:
    """Random bit patterns (every exponent equally likely) plus the specials."""
    u = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    special = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 1, 0x80000001], np.uint32)
    return np.concatenate([special, u]).view(np.float32)


def _e8m0_quirk(x: np.ndarray) -> np.ndarray:
    """ml_dtypes rounds float32 subnormals in (2^-127, 1.5 * 2^-127) up to 2^-126 (a nearer 2^-127 exists)."""
    with np.errstate(invalid="ignore"):  # signalling NaNs
        a = x.astype(np.float64)  # negative inputs are NaN in both
    return (a > 2.0**-127) & (a < 1.5 * 2.0**-127)


@pytest.mark.parametrize("fmt, dtype", ML_DTYPES, ids=lambda v: getattr(v, "name", ""))
def test_codes_equal_ml_dtypes_casts(fmt, dtype, rng):
    """ml_dtypes casts are RNE and non-saturating: lpemu's defaults, bit for bit."""
    x = _random_float32_bits(rng)
    with np.errstate(all="ignore"):
        ref = x.astype(dtype)
    codes = lpemu.encode(x, fmt)
    ref_codes = ref.view(codes.dtype)
    ok = codes == ref_codes
    if fmt is F.E8M0:
        assert not ok[_e8m0_quirk(x)].any()  # the documented ml_dtypes deviation
        ok |= _e8m0_quirk(x)
    if fmt is F.FP16:  # numpy keeps NaN payloads, lpemu gives the canonical quiet NaN
        ok |= np.isnan(x)
    assert ok.all(), (x[~ok][:5], codes[~ok][:5], ref_codes[~ok][:5])
    # and the round trip through JAX's cast is the same (peers.md: identical to ml_dtypes)
    if fmt not in (F.FP16, F.E3M2, F.E2M3):  # XLA:CPU has no float6 types
        via_jax = np.asarray(jnp.asarray(x).astype(dtype).astype(jnp.float32))
        q = lpemu.quantize(x, fmt)
        same = (q.view(np.uint32) == via_jax.view(np.uint32)) | (np.isnan(q) & np.isnan(via_jax))
        if fmt is F.E8M0:
            same |= _e8m0_quirk(x)
        if not fmt.has_nan:  # XLA maps every NaN to -0 here; ml_dtypes and lpemu flip the sign
            same |= np.isnan(x)
        assert same.all()


def test_ml_dtypes_nan_to_zero_for_formats_without_nan():
    x = np.array([np.nan, -np.nan], np.float32)
    assert lpemu.encode(x, "e2m1").tolist() == x.astype(ml_dtypes.float4_e2m1fn).view(np.uint8).tolist() == [8, 0]
    with pytest.raises(lpemu.InvalidArgumentError, match="has no NaN"):
        lpemu.quantize(x, "e2m1", nan="raise")


@pytest.mark.parametrize("op", [np.add, np.subtract, np.multiply, np.divide])
def test_numpy_float16_arithmetic_is_rne_fp16(op, rng):
    """numpy float16 arithmetic rounds the exact result once: lpemu's FP16 RNE of the exact
    float64 result (exact for fp16 operands) must agree."""
    a = lpemu.quantize(rng.standard_normal(20000) * 100, "fp16")
    b = lpemu.quantize(rng.standard_normal(20000) * 100, "fp16")
    with np.errstate(all="ignore"):
        exact = op(a, b)  # float64: exact for + - *; / is rounded once more (p' = 53 >= 2*11 + 2)
        ref = op(a.astype(np.float16), b.astype(np.float16))
    np.testing.assert_array_equal(lpemu.quantize(exact, "fp16"), ref.astype(np.float64))


def test_reduce_precision_agrees_except_subnormals(rng):
    """XLA's reduce_precision is RNE to an IEEE-like e/m format but flushes results that should be
    subnormal; lpemu agrees everywhere else (peers.md)."""
    x = _random_float32_bits(rng)
    x = x[np.isfinite(x)]
    rp = np.asarray(jax.jit(lambda v: jax.lax.reduce_precision(v, 4, 3))(jnp.asarray(x)))
    q = lpemu.quantize(x, F.E4M3_IEEE)
    differ = q.view(np.uint32) != rp.view(np.uint32)
    sub = np.abs(x) < F.E4M3_IEEE.min_normal
    assert differ.any() and not differ[~sub].any()
    assert (rp[differ] == 0).all()  # flushed
