"""lpemu.block: spec vectors, Numba == JAX == reference, round trips, gfloat, bad arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lpemu.block as B
from lpemu.errors import InvalidArgumentError, InvalidFormatError, UnsupportedContainerError
from lpemu.reference._block import quantize_array

jax = pytest.importorskip("jax")
jnp = jax.numpy

FORMATS = {
    "mxfp8_e4m3": B.MXFP8_E4M3, "mxfp8_e5m2": B.MXFP8_E5M2, "mxfp6_e3m2": B.MXFP6_E3M2,
    "mxfp6_e2m3": B.MXFP6_E2M3, "mxfp4": B.MXFP4, "mxint8": B.MXINT8, "nvfp4": B.NVFP4,
    "nvfp4_unrounded": B.NVFP4.replace(element_scale="unrounded"),
    "e4m3_scale_no_tensor": B.BlockFormat("e2m1", 16, "e4m3", tensor_scale=False),
    "mxint8_mx": B.MX_COMPAT["mxint8"], "mxfp4_mx": B.MX_COMPAT["mxfp4"], "bfp8_16": B.bfp(8, 16),
    "bfp4_8": B.bfp(4, 8), "dfp16": B.dynamic_fixed_point(16),
    "e4m3_ceil": B.MXFP8_E4M3.replace(scale_rule="ceil"), "e2m1_even": B.MXFP4.replace(scale_rule="even"),
    "e5m2_rceil": B.MXFP8_E5M2.replace(scale_rule="rceil"), "int8_rceil": B.MXINT8.replace(scale_rule="rceil"),
    "e4m3_nosat_elem": B.MXFP8_E4M3.replace(saturate=False, nonfinite="elementwise", flush_subnormals=True),
    "e5m2_elementwise": B.MXFP8_E5M2.replace(saturate=False, nonfinite="elementwise"),
    "e2m3_flush": B.MXFP6_E2M3.replace(flush_subnormals=True, scale_overflow="nan"),
}


def _bits(a) -> np.ndarray:
    a = np.asarray(a)
    return a.view(np.int32 if a.dtype == np.float32 else np.int64)


def _special_input(rng, shape, dtype=np.float32) -> np.ndarray:
    """Random magnitudes with all-zero, huge-outlier, subnormal and Inf/NaN blocks mixed in."""
    x = rng.normal(size=shape) * np.exp2(rng.integers(-30, 30, size=shape))
    flat = x.reshape(-1)
    n = flat.size
    flat[: min(n, 20)] = 0.0  # an all-zero block (or more)
    if n > 40:
        flat[33] = 3e38 if dtype == np.float32 else 1e300  # a single huge outlier
        flat[40:52] = rng.normal(size=12) * 1e-40  # subnormal block (float32)
    if n > 70:
        flat[60], flat[61], flat[70] = np.inf, -np.inf, np.nan
    if n > 90:
        flat[80:90] = [2.0**-126, 2.0**-127, -(2.0**-149), 6.0, -6.5, 7.0, 448.0, 464.0, 480.0, 1.0]
    return x.astype(dtype)


def _check_all(x, fmt, axis=-1, rounding=None, seed=None, use_jax=True):
    """Numba, JAX and the reference give the same values, codes and scales; decode(encode) == quantize."""
    q = B.quantize(x, fmt, axis, rounding, seed=seed)
    e = B.encode(x, fmt, axis, rounding, seed=seed)
    assert q.dtype == x.dtype and q.shape == x.shape
    d = B.decode(e, fmt, axis, dtype=x.dtype if fmt.pow2_scale else np.float32)
    np.testing.assert_array_equal(_bits(d.astype(x.dtype)), _bits(q))
    if use_jax:
        _check_jax(x, fmt, axis, rounding, seed, q, e)
    _check_reference(x, fmt, axis, rounding, seed, q, e)
    return q, e


def _check_jax(x, fmt, axis, rounding, seed, q, e):
    xj = jnp.asarray(x)
    qj = B.quantize(xj, fmt, axis, rounding, seed=seed)
    ej = B.encode(xj, fmt, axis, rounding, seed=seed)
    np.testing.assert_array_equal(_bits(np.asarray(qj)), _bits(q))
    np.testing.assert_array_equal(np.asarray(ej.elements), e.elements)
    np.testing.assert_array_equal(np.asarray(ej.scales), e.scales)
    dj = B.decode(ej, fmt, axis, dtype=x.dtype if fmt.pow2_scale else np.float32)
    np.testing.assert_array_equal(_bits(np.asarray(dj).astype(x.dtype)), _bits(q))
    if e.tensor_scale is not None:
        assert np.float32(ej.tensor_scale) == e.tensor_scale


def _check_reference(x, fmt, axis, rounding, seed, q, e):
    rv, rc, rs = quantize_array(x, fmt, axis, rounding=rounding, seed=seed)
    np.testing.assert_array_equal(rc, e.elements)
    np.testing.assert_array_equal(rs, e.scales)
    with np.errstate(over="ignore"):  # 2^128 (even rule at the top of float32) is Inf in float32
        np.testing.assert_array_equal(_bits(rv.astype(x.dtype)), _bits(q))


# ---- spec vectors (shared/specs/block-formats.md) ------------------------------------------------
MX_E4M3 = [485, 475, 400, -485, -475, -450, 2**-6, -(2**-6)]
MX_E2M1 = [7, 5, 2.5, -0.25, 0.75, 1.25, 0.1, -3.5]


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_spec_vectors(backend):
    arr = (lambda v: np.array(v, np.float32)) if backend == "numpy" else (lambda v: jnp.array(v, jnp.float32))

    def q(v, f):
        return np.asarray(B.quantize(arr(v), f)).tolist()

    mx = B.MX_COMPAT
    assert q(MX_E4M3, mx["mxfp8_e4m3"]) == [448, 448, 416, -448, -448, -448, 2**-6, -(2**-6)]
    assert q(MX_E4M3, B.MXFP8_E4M3) == [448, 448, 384, -448, -448, -448, 2**-6, -(2**-6)]
    assert q(MX_E2M1, mx["mxfp4"]) == [6, 6, 3, -0.5, 1, 1.5, 0, -4]
    even = q(MX_E2M1, B.MXFP4)
    assert even == [6, 4, 2, -0.0, 1, 1, 0, -4] and math.copysign(1, even[3]) == -1
    assert np.asarray(B.encode(arr(MX_E4M3), B.MXFP8_E4M3).scales).tolist() == [127]
    assert q([1, 0.3, 0.2, 0.125], mx["mxfp4"]) == [1, 0.25, 0.25, 0.125]
    assert np.asarray(B.encode(arr([1, 0.3, 0.2, 0.125]), B.MXFP4).scales).tolist() == [127 - 2]
    assert q([100, 1, 0.7, 0.003], mx["mxfp8_e5m2"]) == [96, 1, 0.75, 0.0029296875]
    assert np.asarray(B.encode(arr([100, 1, 0.7, 0.003]), B.MXFP8_E5M2).scales).tolist() == [127 - 9]
    for tiny in (0.0, 2.0**-140):
        e = B.encode(arr([tiny] * 4), B.MXFP4)
        assert np.asarray(e.scales).tolist() == [0] and q([tiny] * 4, B.MXFP4) == [0, 0, 0, 0]
    # NVFP4: global amax 5 -> S_enc = 537.6, s = 448, q = [0, .5, .5, 1, 1.5, 4, 6, 6]
    v = [0, 0.25, 0.5, 0.75, 1.25, 3.2, 4.5, 5.0]
    e = B.encode(arr(v), B.NVFP4)
    assert np.float32(e.tensor_scale) == np.float32(537.6)
    assert np.asarray(e.scales).tolist() == [0x7E]  # E4M3 448
    from lpemu import decode as dec

    assert dec(np.asarray(e.elements), "e2m1").tolist() == [0, 0.5, 0.5, 1, 1.5, 4, 6, 6]


def test_microxcaling_int8_and_nan_blocks():
    x = np.array([-2.0, 1.0, 0.5], np.float32)
    assert B.quantize(x, B.MXINT8).tolist() == [-2.0, 1.0, 0.5]  # OCP: 0x80 = -2.0
    assert B.quantize(x, B.MX_COMPAT["mxint8"]).tolist() == [-2.0, 1.0, 0.5]  # scale 2^1: -1 * 2
    y = np.array([-1.99, 0.0], np.float32) * 2**-1
    assert B.quantize(np.array([-1.0 - 127 / 128, 0.5], np.float32), B.MX_COMPAT["mxint8"]).tolist()[0] == -127 / 64
    assert B.quantize(np.array([-1.0 - 127 / 128, 0.5], np.float32), B.MXINT8).tolist()[0] == -2.0
    del y
    z = np.array([1.0, np.inf, 2.0, 3.0, 1.0, 1.0], np.float32)
    e = B.encode(z, B.BlockFormat("e2m1", 3))
    assert e.scales.tolist() == [255, 127 - 2 + 1]
    assert np.isnan(B.quantize(z, B.MXFP4)).all()


# ---- cross-backend agreement --------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FORMATS))
def test_backends_agree(name, rng):
    fmt = FORMATS[name]
    x = _special_input(rng, (5, 100))
    _check_all(x, fmt, -1)
    _check_all(x[:, :37], fmt, 0)  # non-multiple lengths, other axis


@pytest.mark.parametrize("shape,axis", [((3, 4, 50), 1), ((2, 70, 3), -2), ((130,), 0), ((7, 1), -1), ((0, 5), 1)])
@pytest.mark.parametrize("name", ["mxfp4", "mxint8", "nvfp4", "bfp4_8"])
def test_shapes_axes(name, shape, axis, rng):
    _check_all(_special_input(rng, shape), FORMATS[name], axis)


@pytest.mark.parametrize("rounding", ["nearest_away", "toward_zero", "up", "down", "odd", "stochastic"])
@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxint8", "nvfp4"])
def test_rounding_modes(name, rounding, rng):
    x = _special_input(rng, (3, 64))
    _check_all(x, FORMATS[name], -1, rounding, seed=12345 if rounding == "stochastic" else None)


def test_float64_container(rng):
    x = _special_input(rng, (4, 64), np.float64)
    x[0, 5] = 1e300
    x[1, :] *= 1e-300
    for name in ("mxfp8_e5m2", "mxint8_mx", "e4m3_ceil", "dfp16", "nvfp4"):
        _check_all(x, FORMATS[name], use_jax=False)  # JAX float64 needs jax_enable_x64


@settings(max_examples=12)  # each new shape or format compiles a JAX kernel
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=70),
       st.sampled_from(sorted(FORMATS)), st.sampled_from([1, 3, 16, 32]))
def test_hypothesis(values, name, k):
    fmt = FORMATS[name]
    if fmt.block_size is not None:
        fmt = fmt.replace(block_size=k)
    _check_all(np.array(values, np.float32), fmt)


def _block_midpoints(rng, fmt, rows, nb):
    """(rows, nb * k) values: block j holds 2^e_j times the element format's values, the
    midpoints between them and their float32 neighbours (ties at every boundary, the scaled
    subnormal one included), with the block's largest value present so that its scale is 2^e_j."""
    vals = np.asarray(fmt.element.values(), np.float64)
    vals = np.unique(np.abs(vals[np.isfinite(vals)]))
    mids = (vals[1:] + vals[:-1]) / 2
    pool = np.concatenate([vals, mids]).astype(np.float32)
    pool = np.concatenate([pool, np.nextafter(pool, np.float32(np.inf)), np.nextafter(pool, np.float32(0))])
    pool = pool[pool <= vals.max()]
    k = fmt.block_size
    x = rng.choice(pool, size=(rows, nb, k)) * rng.choice([-1.0, 1.0], size=(rows, nb, k))
    x[..., 0] = vals.max()
    x = x * np.exp2(rng.integers(-100, 100, size=(rows, nb, 1)))
    x[0, 1] = 0.0  # an all-zero block
    return x.reshape(rows, nb * k).astype(np.float32)


@pytest.mark.parametrize("name", ["mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "e2m3_flush",
                                  "e4m3_nosat_elem", "e5m2_elementwise"])
def test_jax_equals_numba_on_ties(name, rng):
    """Blocks full of ties at every boundary of the scaled element format (the JAX kernel's
    nearest-even fast path for the elements), with an all-zero block, a block scaled near 2^-127
    and a NaN: JAX under jit and vmap equals the Numba kernel."""
    fmt = FORMATS[name]
    x = _block_midpoints(rng, fmt, 6, 8)
    extreme = x.copy()
    extreme[2, 32:64] *= np.float32(2.0**-120)  # a block with scale near 2^-127
    nan_block = x.copy()
    nan_block[3, 5] = np.nan
    for v in (x, extreme, nan_block):
        want = _bits(B.quantize(v, fmt))
        np.testing.assert_array_equal(_bits(np.asarray(jax.jit(lambda a, f=fmt: B.quantize(a, f))(jnp.asarray(v)))),
                                      want)
        got = jax.vmap(lambda a, f=fmt: B.quantize(a, f))(jnp.asarray(v))
        np.testing.assert_array_equal(_bits(np.asarray(got)), want)


def test_jit_vmap(rng):
    x = jnp.asarray(_special_input(rng, (4, 3, 64)))
    for fmt in (B.MXFP4, B.NVFP4, B.MXINT8):
        ref = B.quantize(np.asarray(x), fmt)
        got = jax.jit(lambda v, f=fmt: B.quantize(v, f))(x)
        np.testing.assert_array_equal(_bits(np.asarray(got)), _bits(ref))
        got = jax.vmap(lambda v, f=fmt: B.quantize(v, f))(x)
        if fmt.tensor_scale:  # per-tensor scale per vmapped slice
            ref = np.stack([B.quantize(np.asarray(x[i]), fmt) for i in range(4)])
        np.testing.assert_array_equal(_bits(np.asarray(got)), _bits(ref))


# ---- peers -----------------------------------------------------------------------------------------
def test_gfloat_block_quantization(rng):
    gf = pytest.importorskip("gfloat")
    from gfloat import formats as gff

    pairs = [(B.MXFP8_E4M3, gff.format_info_mxfp8_e4m3), (B.MXFP8_E5M2, gff.format_info_mxfp8_e5m2),
             (B.MXFP6_E3M2, gff.format_info_mxfp6_e3m2), (B.MXFP6_E2M3, gff.format_info_mxfp6_e2m3),
             (B.MXFP4, gff.format_info_mxfp4_e2m1)]
    x = (rng.normal(size=(8, 32)) * np.exp2(rng.integers(-10, 10, size=(8, 1)))).astype(np.float32)
    x[0] = 0.0
    for fmt, gfmt in pairs:
        ours = B.quantize(x, fmt)
        for r in range(x.shape[0]):
            theirs = gf.quantize_block(gfmt, x[r].astype(np.float64), gf.compute_scale_amax)
            np.testing.assert_array_equal(ours[r].astype(np.float64), theirs)


# ---- bad arguments -----------------------------------------------------------------------------------
BAD_FORMATS = [
    (dict(element="e2m1", block_size=0), "block_size"),
    (dict(element="e2m1", block_size=32, scale="e8m0", scale_rule="amax"), "scale_rule"),
    (dict(element="e2m1", block_size=32, scale="e4m3", scale_rule="floor"), "scale_rule"),
    (dict(element="e2m1", block_size=32, scale_rule="bogus"), "scale_rule"),
    (dict(element="nope", block_size=32), "unknown format"),
    (dict(element="e8m0", block_size=32), "element"),
    (dict(element="int8", block_size=32, saturate=False), "saturate"),
    (dict(element="e4m3", block_size=32, symmetric=True), "symmetric"),
    (dict(element="e4m3", block_size=32, nonfinite="zero"), "nonfinite"),
    (dict(element="e4m3", block_size=32, rounding="bogus"), "rounding"),
    (dict(element="e4m3", block_size=32, tensor_scale=True), "tensor_scale"),
]


@pytest.mark.parametrize("kw,match", BAD_FORMATS, ids=[m for _, m in BAD_FORMATS])
def test_bad_formats(kw, match):
    with pytest.raises(InvalidFormatError, match=match):
        B.BlockFormat(**kw)


def test_bad_arguments():
    x = np.ones((2, 8), np.float32)
    with pytest.raises(InvalidArgumentError, match="axis"):
        B.quantize(x, B.MXFP4, axis=2)
    with pytest.raises(InvalidArgumentError, match="seed"):
        B.quantize(x, B.MXFP4, rounding="stochastic")
    with pytest.raises(InvalidArgumentError, match="seed"):
        B.quantize(x, B.MXFP4, rounding="stochastic", seed=-1)
    with pytest.raises(InvalidArgumentError, match="sr_bits"):
        B.quantize(x, B.MXFP4, sr_bits=0)
    with pytest.raises(InvalidArgumentError, match="scalar"):
        B.quantize(np.float32(1.0), B.MXFP4)
    with pytest.raises(InvalidFormatError, match="BlockFormat"):
        B.quantize(x, "mxfp5")
    with pytest.raises(UnsupportedContainerError):
        B.quantize(x.astype(np.float16), B.MXFP4)
    with pytest.raises(InvalidArgumentError, match="scales must have shape"):
        B.decode(B.BlockEncoding(np.zeros((2, 8), np.uint8), np.zeros((2, 2), np.uint8)), B.MXFP4)
    with pytest.raises(InvalidFormatError, match="mantissa_bits"):
        B.bfp(1)


# ---- storage ---------------------------------------------------------------------------------------
def test_storage_round_trips(rng):
    from lpemu.block import _storage as S

    x = _special_input(rng, (3, 45))
    e4 = B.encode(x, B.MXFP4)
    p = S.pack_fp4(e4.elements)
    assert p.shape == (3, 23)
    np.testing.assert_array_equal(S.unpack_fp4(p, 45), e4.elements)
    e6 = B.encode(x, B.MXFP6_E3M2)
    np.testing.assert_array_equal(S.unpack_fp6(S.pack_fp6(e6.elements), 45), e6.elements)
    sp = S.split_fp6(e6.elements)
    np.testing.assert_array_equal(S.join_fp6(sp), e6.elements)
    np.testing.assert_array_equal(S.unpack_fp4(sp.low4, 45), e6.elements & 0xF)
    code = np.array([0b0_011_10], np.uint8)  # E3M2 1.5
    from lpemu import decode as dec

    assert dec(code, "e3m2").tolist() == [1.5]
    assert S.split_fp6(code).high2.tolist() == [0b00_000000] and S.split_fp6(code).low4.tolist() == [0b1110_0000]
    assert S.pack_fp4(np.array([1, 2], np.uint8)).tolist() == [0x12]
    np.testing.assert_array_equal(S.scales_from_bytes(S.scale_bytes(e4.scales)), e4.scales)
    with pytest.raises(InvalidArgumentError):
        S.split_fp6(np.array([64]))
