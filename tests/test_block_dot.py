"""Scale-factored MX dot products (matmul(..., block_dot="scaled")): Numba, JAX and the reference."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu import Blocked, Exact, Pairwise, Sequential, tensor_core
from lpemu.block import MXFP4, MXFP8_E4M3, MXINT8, NVFP4, bfp
from lpemu.reference import scaled_block_dot

ACCUMULATORS = {
    "seq-fp32": Sequential("fp32"),
    "exact-bf16": Exact("bf16"),
    "pairwise-fp16": Pairwise("fp16"),
    "blocked-bf16-fp16up": Blocked(32, Sequential("bf16"), Sequential("fp16", "up")),
    "seq-bf16-sr": Sequential("bf16", "stochastic"),
}


def _operands(rng, m=3, k=70, n=2, spread=20):
    """Rows whose blocks have very different scales (K=70: the last block is short)."""
    a = rng.normal(size=(m, k)) * 2.0 ** rng.integers(-spread, spread, size=(m, k))
    b = rng.normal(size=(k, n))
    return a.astype(np.float32), b.astype(np.float32)


def _oracle(a, b, fmt, acc, c=None, seed=None):
    m, n = a.shape[0], b.shape[1]
    return np.array([[scaled_block_dot(a[i], b[:, j], fmt, fmt, 0.0 if c is None else float(c[i, j]),
                                       accumulator=acc, index=i * n + j, seed=seed) for j in range(n)]
                     for i in range(m)])


@pytest.mark.parametrize("fmt", [MXFP8_E4M3, MXFP4, MXINT8, bfp(8, 16)], ids=lambda f: f.name)
@pytest.mark.parametrize("acc", ACCUMULATORS.values(), ids=ACCUMULATORS.keys())
def test_numba_and_jax_equal_the_reference(fmt, acc, rng):
    a, b = _operands(rng)
    if fmt.block_size != 32 and isinstance(acc, Blocked):
        acc = Blocked(fmt.block_size, acc.inner, acc.outer)
    expected = _oracle(a, b, fmt, acc, seed=5).astype(np.float32)
    got = lpemu.matmul(a, b, in_fmt=fmt, block_dot="scaled", accumulator=acc, seed=5)
    got_jax = jax.jit(lambda x, y: lpemu.matmul(x, y, in_fmt=fmt, block_dot="scaled", accumulator=acc, seed=5))(
        jnp.asarray(a), jnp.asarray(b))
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))
    np.testing.assert_array_equal(np.asarray(got_jax).view(np.uint32), expected.view(np.uint32))


def test_tensor_core_inner_and_addend(rng):
    """A tensor core sums the E4M3 element products of each block (Blackwell-style MX GEMM)."""
    a, b = _operands(rng, m=2, k=64, n=3)
    c = rng.normal(size=(2, 3)).astype(np.float32)
    tc = tensor_core("H100", "e4m3")
    expected = _oracle(a, b, MXFP8_E4M3, tc, c=c).astype(np.float32)
    got = lpemu.matmul(a, b, c, in_fmt=MXFP8_E4M3, block_dot="scaled", accumulator=tc)
    np.testing.assert_array_equal(got.view(np.uint32), expected.view(np.uint32))


def test_exact_scaling_equals_dequantize_when_nothing_clips(rng):
    a, b = _operands(rng, spread=4)
    scaled = lpemu.matmul(a, b, in_fmt=MXFP8_E4M3, block_dot="scaled", accumulator=Exact("fp32"))
    dequantized = lpemu.matmul(a, b, in_fmt=MXFP8_E4M3, accumulator=Exact("fp32"))
    np.testing.assert_array_equal(scaled, dequantized)


def test_extreme_scales_and_nan_blocks():
    """Block sums scaled by 2^-250 and below vanish (and round up to the smallest subnormal in
    mode 'up', once per block); a block with a NaN makes its dot products NaN."""
    a = np.full((1, 64), 2.0**-120, np.float32)
    b = np.full((64, 1), 2.0**-127, np.float32)
    for acc, want in ((Sequential("fp32"), 0.0), (Sequential("fp32", "up"), 2.0**-148)):
        got = lpemu.matmul(a, b, in_fmt=MXFP8_E4M3, block_dot="scaled", accumulator=acc)
        assert got[0, 0] == np.float32(want)
        assert _oracle(a, b, MXFP8_E4M3, acc)[0, 0] == want
    a[0, 40] = np.nan
    assert np.isnan(lpemu.matmul(a, b, in_fmt=MXFP8_E4M3, block_dot="scaled")[0, 0])


@pytest.mark.parametrize("kwargs, match", [
    ({"in_fmt": NVFP4}, "power-of-two"),
    ({"in_fmt": "e4m3"}, "block formats for a and b"),
    ({"in_fmt": MXFP4, "b_fmt": bfp(8, 16)}, "one block size"),
    ({"in_fmt": MXFP4, "accumulator": Blocked(16)}, "block=16"),
    ({"in_fmt": MXFP4, "accumulator": Sequential("fp64")}, "outer accumulator format"),
    ({"in_fmt": MXFP4, "block_dot": "fused"}, "block_dot must be"),
])
def test_bad_arguments(kwargs, match):
    a = np.ones((2, 32), np.float32)
    kwargs = {"block_dot": "scaled", **kwargs}
    with pytest.raises(lpemu.LpemuError, match=match):
        lpemu.matmul(a, a.T, **kwargs)
