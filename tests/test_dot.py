"""Dot products and matmul with accumulator models: Numba == JAX == the exact oracle, bit for bit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu import Blocked, Exact, Pairwise, Sequential
from lpemu import formats as F

from lpemu import reference

SEED = 11
SR_BITS = 5


def bits(a) -> np.ndarray:
    a = np.asarray(a)
    b = a.view(np.uint32 if a.dtype == np.float32 else np.uint64).copy()
    b[np.isnan(a)] = np.array(np.nan, a.dtype).view(b.dtype)
    return b


def operands(rng, m, k, n, fmt, spread=8):
    """Random values of ``fmt`` with exponents spread over ``spread`` binades, both signs."""
    def one(shape):
        v = rng.standard_normal(shape) * np.exp2(rng.integers(-spread, spread, size=shape))
        return lpemu.quantize(v.astype(np.float32), fmt, overflow="saturate")
    return one((m, k)), one((k, n))


def oracle(a, b, c, acc, **kw):
    m, n = a.shape[0], b.shape[1]
    out = np.empty((m, n), np.float32)
    for i in range(m):
        for j in range(n):
            cij = 0.0 if c is None else float(c[i, j])
            out[i, j] = reference.dot([float(v) for v in a[i]], [float(v) for v in b[:, j]], cij, accumulator=acc,
                                      index=i * n + j, seed=kw.get("seed"), sr_bits=SR_BITS,
                                      product=kw.get("product", "exact"))
    return out


MODELS = [
    Sequential("fp32"), Sequential("bf16"), Sequential("fp16", "toward_zero"), Sequential("bf16", "stochastic"),
    Sequential("e5m2", "nearest_even", "saturate"), Pairwise("fp16"), Pairwise("bf16", "stochastic_c"),
    Pairwise("fp32", "up"), Blocked(4, Sequential("fp16")), Blocked(3, Pairwise("bf16"), Sequential("fp32", "down")),
]


@pytest.mark.parametrize("acc", MODELS, ids=repr)
@pytest.mark.parametrize("in_fmt", [F.E4M3, F.BF16], ids=lambda f: f.name)
def test_models_against_oracle(acc, in_fmt, rng):
    a, b = operands(rng, 3, 11, 4, in_fmt)
    c = lpemu.quantize(rng.standard_normal((3, 4)).astype(np.float32), "fp16")
    got = lpemu.matmul(a, b, c, in_fmt=in_fmt, accumulator=acc, sr_bits=SR_BITS, seed=SEED)
    want = oracle(a, b, lpemu.quantize(c, acc.outer.fmt if isinstance(acc, Blocked) else acc.fmt), acc, seed=SEED)
    np.testing.assert_array_equal(bits(got), bits(want))
    jgot = lpemu.matmul(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), in_fmt=in_fmt, accumulator=acc,
                        sr_bits=SR_BITS, seed=SEED)
    np.testing.assert_array_equal(bits(jgot), bits(got))


@pytest.mark.parametrize("acc", [Sequential("fp16"), Pairwise("fp16")], ids=repr)
def test_rounded_products(acc, rng):
    a, b = operands(rng, 2, 9, 3, F.FP16, spread=3)
    got = lpemu.matmul(a, b, in_fmt="fp16", product="bf16", accumulator=acc)
    np.testing.assert_array_equal(bits(got), bits(oracle(a, b, None, acc, product=F.BF16)))
    jgot = lpemu.matmul(jnp.asarray(a), jnp.asarray(b), in_fmt="fp16", product="bf16", accumulator=acc)
    np.testing.assert_array_equal(bits(jgot), bits(got))


def test_sequential_fp32_is_a_chain_of_fmas(rng):
    """Sequential fp32 accumulation with exact products is fma after fma (one rounding per step)."""
    a, b = operands(rng, 1, 50, 1, F.BF16)
    acc = np.float32(0)
    for k in range(50):
        acc = lpemu.fma(a[0, k], b[k, 0], acc, "fp32")
    assert bits(lpemu.matmul(a, b, in_fmt="bf16"))[0, 0] == bits(np.array(acc))


def test_sequential_and_pairwise_differ_as_expected():
    """Summing 4096 products bf16(0.1)^2: the sequential bf16 sum stagnates at 4, the tree keeps
    going, fp32 accumulation stays within the n*u error bound."""
    x = np.full(4096, 0.1, np.float32)
    v = float(lpemu.quantize(np.float32(0.1), "bf16"))
    assert float(lpemu.dot(x, x, in_fmt="bf16", accumulator=Sequential("bf16"))) == 4.0
    assert float(lpemu.dot(x, x, in_fmt="bf16", accumulator=Pairwise("bf16"))) == 41.0
    fp32 = float(lpemu.dot(x, x, in_fmt="bf16", accumulator=Sequential("fp32")))
    assert fp32 != 4096 * v * v and abs(fp32 - 4096 * v * v) <= 4096 * 2.0**-24 * 4096 * v * v  # n u bound


def test_blocked_promotion_beats_low_precision_accumulation(rng):
    x = np.abs(rng.standard_normal(2048)).astype(np.float32)
    exact = float(np.dot(lpemu.quantize(x, "e4m3").astype(np.float64), lpemu.quantize(x, "e4m3")))
    low = float(lpemu.dot(x, x, in_fmt="e4m3", accumulator=Sequential("bf16")))
    promoted = float(lpemu.dot(x, x, in_fmt="e4m3", accumulator=Blocked(128, Sequential("bf16"))))
    assert abs(promoted - exact) < abs(low - exact) / 10


def test_vector_and_shapes():
    x = np.arange(1, 5, dtype=np.float32)
    assert lpemu.dot(x, x).shape == () and float(lpemu.dot(x, x)) == 30.0
    assert lpemu.matmul(x, np.ones((4, 3), np.float32)).shape == (3,)
    assert lpemu.matmul(np.ones((2, 4), np.float32), x).shape == (2,)
    assert lpemu.matmul(np.ones((2, 4)), np.ones((4, 2)), in_fmt="fp16").dtype == np.float64


def test_jax_jit_and_vmap(rng):
    a, b = operands(rng, 4, 8, 3, F.E4M3)
    f = jax.jit(lambda a, b: lpemu.matmul(a, b, in_fmt="e4m3", accumulator=Sequential("fp16", "stochastic"),
                                          seed=5))
    want = lpemu.matmul(a, b, in_fmt="e4m3", accumulator=Sequential("fp16", "stochastic"), seed=5)
    np.testing.assert_array_equal(bits(f(jnp.asarray(a), jnp.asarray(b))), bits(want))
    rows = jax.vmap(lambda r: lpemu.matmul(r, jnp.asarray(b), in_fmt="e4m3", accumulator=Pairwise("fp16")))(
        jnp.asarray(a))
    np.testing.assert_array_equal(bits(rows), bits(lpemu.matmul(a, b, in_fmt="e4m3", accumulator=Pairwise("fp16"))))


BAD = [
    (lambda: lpemu.matmul(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32)), "inner dimensions"),
    (lambda: lpemu.matmul(np.ones((2, 3, 4), np.float32), np.ones((4, 2), np.float32)), "1-D or 2-D"),
    (lambda: lpemu.matmul(np.ones((2, 3)), np.ones((3, 2))), "need in_fmt"),
    (lambda: lpemu.matmul(np.ones(3, np.int32), np.ones(3, np.float32)), "float32 or float64"),
    (lambda: lpemu.matmul(np.ones(3), np.ones(3), in_fmt="fp64"), "exponents"),
    (lambda: lpemu.matmul(np.ones(3, np.float32), np.ones(3, np.float32), accumulator=42), "accumulator must be"),
    (lambda: lpemu.matmul(np.ones(3, np.float32), np.ones(3, np.float32), product="sideways"), "product must be"),
    (lambda: lpemu.matmul(np.ones(3, np.float32), np.ones(3, np.float32), inputs="maybe"), "inputs must be"),
    (lambda: lpemu.matmul(np.ones(3, np.float32), np.ones(3, np.float32), accumulator=Sequential("bf16", "stochastic")),
     "seed"),
    (lambda: Blocked(0), "block must be an integer >= 1"),
    (lambda: Blocked(4, inner="fp16"), "inner must be"),
    (lambda: Sequential("int8"), "float format"),
    (lambda: lpemu.dot(np.ones((2, 2), np.float32), np.ones(2, np.float32)), "1-D"),
]


@pytest.mark.parametrize("call, match", BAD, ids=[b[1] for b in BAD])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("form", ["lmul", "lmul_formula"])
@pytest.mark.parametrize("acc", [Sequential("fp32"), Pairwise("bf16")], ids=repr)
def test_lmul_products(form, acc, rng):
    """L-Mul product model: each product is lpemu.lmul.multiply's, then summed by the model."""
    a, b = operands(rng, 2, 7, 3, F.BF16, spread=2)
    got = lpemu.matmul(a, b, in_fmt="bf16", product=form, accumulator=acc)
    prods = lpemu.lmul.multiply(a[:, :, None], b[None, :, :], "bf16", form=form.replace("lmul_", "").replace(
        "lmul", "bits"))
    want = np.empty((2, 3), np.float32)
    for i in range(2):
        for j in range(3):
            want[i, j] = reference.dot([float(p) for p in prods[i, :, j]], [1.0] * 7, accumulator=acc, index=i * 3 + j)
    np.testing.assert_array_equal(bits(got), bits(want))
    jgot = lpemu.matmul(jnp.asarray(a), jnp.asarray(b), in_fmt="bf16", product=form, accumulator=acc)
    np.testing.assert_array_equal(bits(jgot), bits(got))


EXACT_MODELS = [Exact("fp32"), Exact("bf16", "stochastic"), Exact("fp16", "down"), Exact("e5m2", "toward_zero")]


@pytest.mark.parametrize("acc", EXACT_MODELS, ids=repr)
@pytest.mark.parametrize("in_fmt", [F.E4M3, F.BF16, F.FP32], ids=lambda f: f.name)
def test_exact_against_oracle(acc, in_fmt, rng):
    a, b = operands(rng, 3, 13, 4, in_fmt, spread=20)
    a[0, :2] = [1e30, -1e30] if in_fmt is not F.E4M3 else [448.0, -448.0]  # cancellation
    b[:2, 0] = [1.0, 1.0]
    a = lpemu.quantize(a, in_fmt)
    c = lpemu.quantize(rng.standard_normal((3, 4)).astype(np.float32), "fp16")
    got = lpemu.matmul(a, b, c, in_fmt=in_fmt, accumulator=acc, sr_bits=SR_BITS, seed=SEED)
    want = oracle(a, b, lpemu.quantize(c, acc.fmt), acc, seed=SEED)
    np.testing.assert_array_equal(bits(got), bits(want))
    jgot = lpemu.matmul(jnp.asarray(a), jnp.asarray(b), jnp.asarray(c), in_fmt=in_fmt, accumulator=acc,
                        sr_bits=SR_BITS, seed=SEED)
    np.testing.assert_array_equal(bits(jgot), bits(got))


def test_exact_specials():
    a = np.array([[np.inf, 1.0], [np.inf, 1.0], [np.nan, 1.0], [0.0, -0.0]], np.float32)
    b = np.array([[1.0, -1.0], [1.0, 1.0]], np.float32)
    got = lpemu.matmul(a, b, in_fmt="fp16", accumulator=Exact("fp16"))
    assert got[0, 0] == np.inf and got[0, 1] == -np.inf and np.isnan(got[2]).all()
    assert np.signbit(got[3, 1]) == np.False_ and got[3, 0] == 0
    down = lpemu.matmul(np.array([[1.0, -1.0]], np.float32), np.ones((2, 1), np.float32), accumulator=Exact("fp16", "down"))
    assert np.signbit(down[0, 0])


@pytest.mark.parametrize("acc", [Sequential("bf16", "stochastic"),
                                 pytest.param(Pairwise("fp16", "toward_zero"), marks=pytest.mark.slow)], ids=repr)
def test_specialised_kernels_equal_generic(acc, rng):
    """The kernels compiled for their flags (large problems) give the generic kernels' bits.

    Each specialised build compiles for ~30 s; the pairwise one runs with ``-m slow``."""
    from lpemu._container import float_params
    from lpemu.kernels.numba import dot as nbk
    from lpemu.kernels.params import flags_of
    from lpemu.lmul import kernel_params

    a, b = operands(rng, 5, 9, 6, F.E4M3)
    pacc = float_params(acc.fmt, np.dtype(np.float64), acc.rounding, None, SR_BITS)
    lp = kernel_params(F.E4M3)
    args = (np.zeros((5, 6)), pacc, flags_of(pacc), lp, pacc, flags_of(pacc), SEED, 0, 0)
    outs = []
    for spec in (None, (0, tuple(flags_of(pacc)), tuple(flags_of(pacc)))):
        out = np.empty((5, 6))
        kernel = nbk.kernels(spec)[0 if isinstance(acc, Sequential) else 1]
        kernel(a.astype(np.float64), b.astype(np.float64), args[0], out, 0, *args[1:])
        outs.append(out)
    np.testing.assert_array_equal(bits(outs[0]), bits(outs[1]))
    np.testing.assert_array_equal(bits(outs[0].astype(np.float32)),
                                  bits(lpemu.matmul(a, b, in_fmt="e4m3", accumulator=acc, sr_bits=SR_BITS, seed=SEED)))


@pytest.mark.parametrize("fmt", ["mxfp8_e4m3", "mxfp4", "nvfp4"])
def test_block_format_operands(fmt, rng):
    """Block formats quantize along K (a's rows, b's columns), then the dequantized values multiply."""
    a = rng.standard_normal((3, 64)).astype(np.float32)
    b = rng.standard_normal((64, 5)).astype(np.float32)
    qa, qb = lpemu.block.quantize(a, fmt, axis=-1), lpemu.block.quantize(b, fmt, axis=0)
    for acc in (Exact("fp32"), Sequential("bf16")):
        got = lpemu.matmul(a, b, in_fmt=fmt, accumulator=acc)
        np.testing.assert_array_equal(bits(got), bits(lpemu.matmul(qa, qb, accumulator=acc)))
        jgot = lpemu.matmul(jnp.asarray(a), jnp.asarray(b), in_fmt=fmt, accumulator=acc)
        np.testing.assert_array_equal(bits(jgot), bits(got))
    exact = qa.astype(np.float64) @ qb
    np.testing.assert_array_equal(bits(lpemu.matmul(a, b, in_fmt=fmt, accumulator=Exact("fp32"))),
                                  bits(exact.astype(np.float32)))
