"""Correctly rounded add/sub/mul/div/fma/sqrt: Numba == JAX == the exact oracle, bit for bit.

Small formats are checked on every operand pair; wider ones on seeded samples and hypothesis
draws; numpy's float16 arithmetic (correctly rounded to nearest-even) is the peer for FP16.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lpemu
from lpemu import formats as F
from lpemu import reference
from lpemu._formats import FloatFormat
from lpemu.testing import float_formats, rounding_modes, values_of

OPS = {"add": lpemu.add, "sub": lpemu.sub, "mul": lpemu.mul, "div": lpemu.div, "sqrt": lpemu.sqrt, "fma": lpemu.fma}
ARITY = {"add": 2, "sub": 2, "mul": 2, "div": 2, "sqrt": 1, "fma": 3}
MODES = [m.value for m in lpemu.RoundingMode]
SEED = 7
SR_BITS = 6


def bits(a: np.ndarray) -> np.ndarray:
    """Bit patterns with every NaN made one pattern (NaN signs follow the format's rule)."""
    a = np.asarray(a)
    it = np.uint32 if a.dtype == np.float32 else np.uint64
    b = a.view(it).copy()
    b[np.isnan(a)] = np.array(np.nan, a.dtype).view(it)
    return b


def oracle(op, operands, fmt, mode, overflow=None, in_fmt=None, dtype=np.float32):
    """The reference result of every element (flat operand arrays of one length)."""
    out = []
    for i, xs in enumerate(zip(*operands)):
        rbits = reference.random_bits(i, SEED, SR_BITS) if lpemu.RoundingMode(mode).is_stochastic else None
        out.append(reference.arith(op, tuple(float(x) for x in xs), fmt, mode, overflow, in_fmt=in_fmt,
                                   rbits=rbits, sr_bits=SR_BITS))
    return np.array(out, dtype)


def run(op, operands, fmt, mode, overflow=None, in_fmt=None, backend="numba"):
    kw = dict(overflow=overflow, in_fmt=in_fmt, sr_bits=SR_BITS, seed=SEED)
    if backend == "jax":
        return np.asarray(OPS[op](*[jnp.asarray(x) for x in operands], fmt, mode, **kw))
    return OPS[op](*operands, fmt, mode, **kw)


def all_pairs(fmt: FloatFormat, arity: int) -> list[np.ndarray]:
    values = np.array(fmt.values(), np.float32)
    grids = np.meshgrid(*([values] * arity), indexing="ij")
    return [g.reshape(-1) for g in grids]


# ---- exhaustive: every operand pair of small formats -----------------------------------------

SMALL = [F.E2M1, F.E3M2, F.p3109(5, 2), FloatFormat(3, 1, specials="fn", name="e3m1fn")]


#: Every mode on E2M1 and E3M2; four on the other small formats (a test costs ~0.3 s).
SMALL_CASES = [(f, m) for f in SMALL[:2] for m in MODES] + \
    [(f, m) for f in SMALL[2:] for m in ("nearest_even", "toward_zero", "odd", "stochastic_c")]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "sqrt"])
@pytest.mark.parametrize("fmt, mode", SMALL_CASES, ids=[f"{f.name}-{m}" for f, m in SMALL_CASES])
def test_every_pair_of_small_formats(fmt, op, mode):
    xs = all_pairs(fmt, ARITY[op])
    got = run(op, xs, fmt, mode)
    np.testing.assert_array_equal(bits(got), bits(oracle(op, xs, fmt, mode)))
    if mode in ("nearest_even", "down", "stochastic_c"):  # JAX: every mode in the tests below
        np.testing.assert_array_equal(bits(run(op, xs, fmt, mode, backend="jax")), bits(got))


@pytest.mark.parametrize("mode", ["nearest_even", "toward_zero", "down", "stochastic"])
def test_every_triple_fma_e2m1(mode):
    xs = all_pairs(F.E2M1, 3)
    got = run("fma", xs, F.E2M1, mode)
    np.testing.assert_array_equal(bits(got), bits(oracle("fma", xs, F.E2M1, mode)))
    np.testing.assert_array_equal(bits(run("fma", xs, F.E2M1, mode, backend="jax")), bits(got))


@pytest.mark.parametrize("op", ["add", "mul", "div"])
def test_every_pair_e4m3_to_nearest_even(op):
    """E4M3 operand pairs (2^16) against ml_dtypes: float8 arithmetic computes in float32 and
    rounds once more, which is innocuous here (24 >= 2 * 4 + 2 bits)."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    x, y = all_pairs(F.E4M3, 2)
    got = run(op, (x, y), F.E4M3, "nearest_even")
    ex, ey = x.astype(ml_dtypes.float8_e4m3fn), y.astype(ml_dtypes.float8_e4m3fn)
    with np.errstate(all="ignore"):
        want = {"add": np.add, "mul": np.multiply, "div": np.divide}[op](ex, ey).astype(np.float32)
    np.testing.assert_array_equal(bits(got), bits(want))


# ---- peers: numpy float16 is correctly rounded to nearest-even ---------------------------------

@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "sqrt"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fp16_matches_numpy_float16(op, dtype, rng):
    codes = rng.integers(0, 1 << 16, size=(2, 200_000), dtype=np.uint16)
    h = codes.view(np.float16)
    with np.errstate(all="ignore"):
        want = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op](h[0], h[1]) \
            if op != "sqrt" else np.sqrt(h[0])
    operands = [h[0].astype(dtype), h[1].astype(dtype)][:ARITY[op]]
    got = run(op, operands, F.FP16, "nearest_even")
    assert got.dtype == dtype
    np.testing.assert_array_equal(bits(got), bits(want.astype(dtype)))
    with jax.enable_x64(dtype == np.float64):
        np.testing.assert_array_equal(bits(run(op, operands, F.FP16, "nearest_even", backend="jax")), bits(got))


# ---- hypothesis: random formats, modes and values -------------------------------------------

@st.composite
def cases(draw):
    fmt = draw(float_formats(max_bits=12))
    op = draw(st.sampled_from(sorted(OPS)))
    mode = draw(rounding_modes()).value
    values = draw(st.lists(st.tuples(*[values_of(fmt)] * ARITY[op]), min_size=1, max_size=20))
    overflow = draw(st.sampled_from([None, "saturate"] if (fmt.infinities or fmt.has_nan) else [None]))
    return fmt, op, mode, overflow, [np.array(v, np.float32) for v in zip(*values)]


@given(cases())
def test_random_formats_against_oracle(case):
    fmt, op, mode, overflow, xs = case
    got = run(op, xs, fmt, mode, overflow)
    np.testing.assert_array_equal(bits(got), bits(oracle(op, xs, fmt, mode, overflow)))
    np.testing.assert_array_equal(bits(run(op, xs, fmt, mode, overflow, backend="jax")), bits(got))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("fmt", [F.FP32, F.BF16], ids=lambda f: f.name)
def test_wide_formats_against_oracle(fmt, op, mode, rng):
    """fp32-range values with every exponent spread: cancellation, subnormal and overflowing
    results; in float32 and float64 containers."""
    n = 60
    mant = rng.random((3, n)) + 1
    exps = rng.integers(-150, 127, size=(3, n))
    exps[1, : n // 3] = exps[0, : n // 3] + rng.integers(-30, 30, size=n // 3)  # close exponents
    exps = np.clip(exps, -150, 126)
    signs = rng.choice([-1.0, 1.0], size=(3, n))
    xs = [np.ldexp(signs[i] * mant[i], exps[i]).astype(np.float32) for i in range(ARITY[op])]
    xs[0][:4] = [0.0, -0.0, np.inf, 3.0]
    if ARITY[op] > 1:
        xs[1][:4] = [-0.0, -0.0, np.inf, -3.0]
    want = oracle(op, xs, fmt, mode)
    np.testing.assert_array_equal(bits(run(op, xs, fmt, mode)), bits(want))
    np.testing.assert_array_equal(bits(run(op, xs, fmt, mode, backend="jax")), bits(want))
    x64 = [x.astype(np.float64) for x in xs]
    np.testing.assert_array_equal(bits(run(op, x64, fmt, mode)), bits(want.astype(np.float64)))


def test_fp32_stochastic_against_oracle(rng):
    xs = [rng.standard_normal(200).astype(np.float32) for _ in range(2)]
    got = run("mul", xs, F.FP32, "stochastic")
    np.testing.assert_array_equal(bits(got), bits(oracle("mul", xs, F.FP32, "stochastic")))


# ---- exact edge cases --------------------------------------------------------------------------

INF, NAN = np.inf, np.nan
EDGES = [
    # op, operands, format, mode, overflow, expected
    ("add", (1.0, 2.0**-4), F.E4M3, "nearest_even", None, 1.0),  # a tie, to even
    ("add", (1.0, 3 * 2.0**-5), F.E4M3, "nearest_even", None, 1.125),
    ("add", (1.0, 2.0**-4), F.E4M3, "nearest_away", None, 1.125),
    ("add", (1.0, 2.0**-20), F.FP16, "up", None, 1.0 + 2.0**-10),  # sticky far below
    ("add", (1.0, -(2.0**-20)), F.FP16, "toward_zero", None, 1.0 - 2.0**-11),
    ("add", (1.0, -1.0), F.FP16, "nearest_even", None, 0.0),
    ("add", (1.0, -1.0), F.FP16, "down", None, -0.0),
    ("add", (-0.0, -0.0), F.FP16, "nearest_even", None, -0.0),
    ("add", (0.0, -0.0), F.FP16, "nearest_even", None, 0.0),
    ("add", (0.0, 0.0), F.FP16, "down", None, 0.0),
    ("sub", (0.0, 0.0), F.FP16, "down", None, -0.0),
    ("add", (INF, -INF), F.FP16, "nearest_even", None, NAN),
    ("add", (448.0, 32.0), F.E4M3, "nearest_even", None, NAN),  # 480 overflows: fn has no Inf
    ("add", (448.0, 16.0), F.E4M3, "nearest_even", None, 448.0),  # 464 is the tie to 448
    ("add", (448.0, 32.0), F.E4M3, "nearest_even", "saturate", 448.0),
    ("add", (57344.0, 8192.0), F.E5M2, "nearest_even", None, INF),
    ("add", (57344.0, 8192.0), F.E5M2, "toward_zero", None, 57344.0),
    ("mul", (0.0, INF), F.FP16, "nearest_even", None, NAN),
    ("mul", (-0.0, 3.0), F.FP16, "nearest_even", None, -0.0),
    ("mul", (2.0**-14, 2.0**-11), F.FP16, "nearest_even", None, 0.0),  # 2^-25: a tie, to 0
    ("mul", (2.0**-12, 2.0**-12), F.FP16, "nearest_even", None, 2.0**-24),  # smallest subnormal
    ("mul", (2.0**-13, 2.0**-12), F.FP16, "nearest_even", None, 0.0),  # half of it: tie to 0
    ("mul", (2.0**-13, 2.0**-12), F.FP16, "up", None, 2.0**-24),
    ("mul", (-(2.0**-13), 2.0**-12), F.FP16, "nearest_even", None, -0.0),
    ("div", (1.0, 0.0), F.FP16, "nearest_even", None, INF),
    ("div", (-1.0, 0.0), F.FP16, "nearest_even", None, -INF),
    ("div", (0.0, 0.0), F.FP16, "nearest_even", None, NAN),
    ("div", (1.0, INF), F.FP16, "nearest_even", None, 0.0),
    ("div", (-1.0, INF), F.FP16, "nearest_even", None, -0.0),
    ("div", (1.0, 3.0), F.BF16, "down", None, 0.33203125),
    ("div", (1.0, 0.0), F.E4M3, "nearest_even", None, NAN),
    ("div", (1.0, 0.0), F.E4M3, "nearest_even", "saturate", 448.0),
    ("sqrt", (-1.0,), F.FP16, "nearest_even", None, NAN),
    ("sqrt", (-0.0,), F.FP16, "nearest_even", None, -0.0),
    ("sqrt", (INF,), F.FP16, "nearest_even", None, INF),
    ("sqrt", (2.0,), F.FP16, "nearest_even", None, 1.4140625),
    ("sqrt", (2.0,), F.FP16, "up", None, 1.4150390625),
    ("sqrt", (2.0,), F.FP32, "nearest_even", None, float(np.sqrt(np.float32(2.0)))),
    ("sqrt", (2.0**-24,), F.FP16, "nearest_even", None, 2.0**-12),
    # fma rounds once: the product 1 - 2^-20 would round to 1 on its own
    ("fma", (1.0 + 2.0**-10, 1.0 - 2.0**-10, -1.0), F.FP16, "nearest_even", None, -(2.0**-20)),
    ("fma", (3.0, 5.0, -15.0), F.FP16, "down", None, -0.0),
    ("fma", (INF, 0.0, 1.0), F.FP16, "nearest_even", None, NAN),
    ("fma", (INF, 1.0, -INF), F.FP16, "nearest_even", None, NAN),
    ("fma", (2.0**-24, 0.5, 0.0), F.FP16, "nearest_even", None, 0.0),
    ("fma", (2.0**-24, 0.5, 0.0), F.FP16, "odd", None, 2.0**-24),
]


@pytest.mark.parametrize("op, operands, fmt, mode, overflow, want", EDGES,
                         ids=[f"{e[0]}{e[1]}-{e[2].name}-{e[3]}-{e[4]}" for e in EDGES])
@pytest.mark.parametrize("backend", ["numba", "jax"])
def test_edge_cases(op, operands, fmt, mode, overflow, want, backend):
    xs = [np.array([v], np.float32) for v in operands]
    got = run(op, xs, fmt, mode, overflow, backend=backend)
    np.testing.assert_array_equal(bits(got), bits(np.array([want], np.float32)))
    assert reference.arith(op, operands, fmt, mode, overflow) == want or np.isnan(want)


def test_mixed_formats():
    """fp8 operands, an fp16 result: the exact product of two E4M3 values needs 8 bits."""
    got = lpemu.mul(np.float32(1.125), np.float32(1.875), "fp16", in_fmt="e4m3")
    assert got == np.float32(1.125 * 1.875)
    # the operands are rounded into in_fmt first (nearest-even)
    assert lpemu.mul(np.float32(1.1), np.float32(1.0), "fp32", in_fmt="e4m3") == np.float32(1.125)


def test_broadcasting_scalars_and_dtypes():
    got = lpemu.add(np.arange(6, dtype=np.float32).reshape(2, 3), np.float32(0.5), "e4m3")
    assert got.shape == (2, 3) and got.dtype == np.float32
    assert got.tolist() == [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]
    assert lpemu.add(1, 2, "fp16") == 3.0 and lpemu.add(1, 2, "fp16").dtype == np.float64
    assert lpemu.mul(np.float32(3), np.float64(2), "fp16").dtype == np.float64


def test_neg_and_abs():
    x = np.array([0.0, -0.0, 1.0, -0.3, np.inf], np.float32)
    assert bits(lpemu.neg(x, "fp16")).tolist() == bits(np.array([-0.0, 0.0, -1.0, 0.300048828125, -np.inf],
                                                                   np.float32)).tolist()
    assert lpemu.abs(x, "e4m3").tolist()[:4] == [0.0, 0.0, 1.0, 0.3125]
    assert np.isnan(lpemu.neg(np.float32(1.0), F.p3109(8, 3, signed=False)))
    assert np.asarray(lpemu.neg(jnp.asarray([1.0, 0.0]), "e4m3fnuz")).tolist() == [-1.0, 0.0]


# ---- JAX transformations ---------------------------------------------------------------------

def test_jax_jit_and_vmap(rng):
    x = jnp.asarray(rng.standard_normal((4, 16)).astype(np.float32))
    y = jnp.asarray(rng.standard_normal((4, 16)).astype(np.float32))
    eager = lpemu.mul(np.asarray(x), np.asarray(y), "bf16", "stochastic", seed=3)
    jitted = jax.jit(lambda a, b: lpemu.mul(a, b, "bf16", "stochastic", seed=3))(x, y)
    np.testing.assert_array_equal(bits(np.asarray(jitted)), bits(eager))
    rows = jax.vmap(lambda a, b: lpemu.div(a, b, "e5m2", "up"))(x, y)
    np.testing.assert_array_equal(bits(np.asarray(rows)), bits(lpemu.div(np.asarray(x), np.asarray(y), "e5m2", "up")))


def test_jax_float32_subnormals_survive():
    """XLA on CPU flushes subnormal floats; the kernel widens and narrows float32 bits exactly."""
    x = jnp.asarray(np.array([1e-45, 3e-39, -1e-40], np.float32))
    got = np.asarray(lpemu.add(x, jnp.zeros(3, jnp.float32), "fp32"))
    np.testing.assert_array_equal(bits(got), bits(np.asarray(x)))
    got = np.asarray(lpemu.mul(x, jnp.float32(2.0), "fp32"))
    np.testing.assert_array_equal(bits(got), bits(np.asarray(x) * np.float32(2)))


# ---- bad arguments -----------------------------------------------------------------------------

BAD = [
    (lambda: lpemu.add(1.0, 2.0, "int8"), lpemu.InvalidFormatError, "float format"),
    (lambda: lpemu.add(1.0, 2.0, "fp32", in_fmt="int8"), lpemu.InvalidFormatError, "in_fmt"),
    (lambda: lpemu.add(1.0, 2.0, "fp64"), lpemu.InvalidFormatError, "reads 55 significant bits"),
    (lambda: lpemu.mul(1.0, 2.0, "fp32", "stochastic", sr_bits=28, seed=1), lpemu.InvalidFormatError,
     "lower sr_bits to at most 27"),
    (lambda: lpemu.fma(1.0, 2.0, 3.0, "fp16", in_fmt=FloatFormat(8, 30)), lpemu.InvalidFormatError,
     "precision must be at most 26"),
    (lambda: lpemu.mul(1.0, 2.0, FloatFormat(10, 20)), lpemu.InvalidFormatError, r"within \+-300"),
    (lambda: lpemu.add(np.float32(1), np.float32(2), FloatFormat(9, 3)), lpemu.UnsupportedContainerError,
     "float32"),
    (lambda: lpemu.add(1.0, 2.0, "fp16", "sideways"), lpemu.InvalidArgumentError, "rounding"),
    (lambda: lpemu.add(1.0, 2.0, "fp16", "stochastic"), lpemu.InvalidArgumentError, "seed"),
    (lambda: lpemu.add(1.0, 2.0, "fp16", overflow="wrap"), lpemu.InvalidArgumentError, "wrap"),
    (lambda: lpemu.add(np.ones(3), np.ones(4), "fp16"), ValueError, "broadcast"),
]


@pytest.mark.parametrize("call, error, match", BAD, ids=[b[2].replace('\\', '') for b in BAD])
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()

