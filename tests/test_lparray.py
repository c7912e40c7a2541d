"""LPArray, the tensor wrapper: operators, methods, policies and JAX transformations.

Every result is compared bit for bit with the same computation written with lpemu's primitives
(lpemu.quantize, add, sub, mul, div, matmul), not with the Policy methods the wrapper runs on.
"""

from __future__ import annotations

import operator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lpemu
import lpemu.numpy as lnp
from lpemu import Sequential
from lpemu.jax import LPArray, Policy, use_policy

HIGHEST = jax.lax.Precision.HIGHEST


def bits(x):
    """The float32 bit patterns of an LPArray's or array's values (bools and ints as they are)."""
    a = np.asarray(x.value if isinstance(x, LPArray) else x)
    return a.view(np.uint32) if a.dtype == np.float32 else a


def assert_same(actual, expected):
    assert isinstance(actual, LPArray), type(actual)
    assert actual.shape == np.shape(expected)
    np.testing.assert_array_equal(bits(actual), bits(expected))


def q(x, fmt="bf16", rounding="nearest_even"):
    return lpemu.quantize(jnp.asarray(x, jnp.float32), fmt, rounding)


@pytest.fixture
def ab(rng):
    """Two float32 operands with ties, zeros, a huge value, a tiny one, Inf and NaN among normal values."""
    a = (rng.standard_normal(16) * 3).astype(np.float32)
    b = (rng.standard_normal(16) * 3).astype(np.float32)
    a[:6] = [0.0, -0.0, 1.00390625, 7e4, 1e-7, np.inf]
    b[:6] = [-0.0, -0.0, 2.0**-9, 7e4, -1e-7, np.nan]
    return jnp.asarray(a), jnp.asarray(b)


# -- arithmetic ---------------------------------------------------------------------------------

OPERATORS = {"+": (operator.add, lpemu.add), "-": (operator.sub, lpemu.sub),
             "*": (operator.mul, lpemu.mul), "/": (operator.truediv, lpemu.div)}
SETTINGS = [("bf16", "nearest_even"), ("e4m3", "toward_zero"), ("fp16", "up")]


@pytest.mark.parametrize("fmt,rounding", SETTINGS, ids=[f"{f}-{r}" for f, r in SETTINGS])
@pytest.mark.parametrize("symbol", OPERATORS)
def test_arithmetic_operators_are_correctly_rounded_once(symbol, fmt, rounding, ab):
    op, primitive = OPERATORS[symbol]
    a, b = ab
    p = Policy(format=fmt, rounding=rounding)
    expected = primitive(q(a, fmt), q(b, fmt), fmt, rounding)
    assert_same(op(LPArray(a, p), LPArray(b, p)), expected)
    # a plain operand, on either side, takes the LPArray's policy (a numpy array defers to it)
    assert_same(op(LPArray(a, p), b), expected)
    assert_same(op(np.asarray(a), LPArray(b, p)), expected)


def test_unary_operators_power_and_scalars(ab):
    a, _ = ab
    p = Policy(format="e4m3", rounding="up")
    x = LPArray(a, p)
    qa = q(a, "e4m3")
    assert_same(-x, lpemu.neg(qa, "e4m3"))
    assert_same(abs(x), lpemu.abs(qa, "e4m3"))
    assert_same(x ** 3, q(jnp.power(qa, 3), "e4m3", "up"))  # float32, then rounded once
    assert_same(2.0 ** x, q(jnp.power(2.0, qa), "e4m3", "up"))
    assert_same(1 - x, lpemu.sub(1.0, qa, "e4m3", "up"))
    assert_same(x // 0.75, q(jnp.floor_divide(qa, 0.75), "e4m3", "up"))
    assert_same(x % 0.75, q(jnp.remainder(qa, 0.75), "e4m3", "up"))


def test_constructor_rounds_with_nearest_even_whatever_the_policy_rounding():
    v = jnp.array([1.00390625, 1.01171875, -1.00390625], jnp.float32)  # ties and a value above one
    for rounding in ("nearest_even", "up", "toward_zero"):
        assert_same(LPArray(v, Policy(format="bf16", rounding=rounding)), q(v, "bf16"))


def test_constructor_keeps_or_converts_an_lparray():
    x = LPArray(jnp.array([1.1, 300.0]), "bf16")
    same = LPArray(x, Policy(format="bf16"))
    assert same.value is x.value
    converted = LPArray(x, "e4m3")
    assert converted.policy == Policy(format="e4m3")
    assert_same(converted, q(q(jnp.array([1.1, 300.0])), "e4m3"))


# -- products and reductions --------------------------------------------------------------------

@pytest.fixture
def mats(rng):
    a = q(rng.standard_normal((2, 4, 16)).astype(np.float32))  # values of bf16: no double rounding
    w = q(rng.standard_normal((2, 16, 3)).astype(np.float32))
    return a, w


def ref_matmul(a, w, accumulator):
    """Policy(format="bf16", matmul_format="e4m3", accumulator=...)'s matmul with primitives."""
    if accumulator is None:
        return q(jnp.matmul(q(a, "e4m3"), q(w, "e4m3"), precision=HIGHEST))
    return q(lpemu.matmul(a, w, in_fmt="e4m3", accumulator=accumulator))


@pytest.mark.parametrize("accumulator", [None, Sequential("bf16")], ids=["xla", "sequential-bf16"])
def test_matmul_operator_runs_the_accumulator_model(accumulator, mats):
    a, w = mats
    p = Policy(format="bf16", matmul_format="e4m3", accumulator=accumulator)
    x = LPArray(a, p)
    assert_same(x[0] @ w[0], ref_matmul(a[0], w[0], accumulator))
    assert_same(x[0, 0] @ w[0], ref_matmul(a[0, :1], w[0], accumulator)[0])  # 1-D @ 2-D
    # batched: a's leading axes are rows of one product; two batched operands pair up
    assert_same(x @ w[1], jnp.stack([ref_matmul(a[i], w[1], accumulator) for i in range(2)]))
    assert_same(x @ w, jnp.stack([ref_matmul(a[i], w[i], accumulator) for i in range(2)]))
    assert_same(np.asarray(a[1]) @ LPArray(w[1], p), ref_matmul(a[1], w[1], accumulator))  # reflected


def ref_sequential_sum(rows, fmt="bf16"):
    """Row sums added left to right, each addition rounded into fmt (lpemu.add)."""
    total = jnp.zeros(rows.shape[0], jnp.float32)
    for k in range(rows.shape[1]):
        total = lpemu.add(total, rows[:, k], fmt)
    return total


def test_sum_mean_var_use_the_reduce_accumulator(rng):
    a = q(rng.uniform(0.5, 4.0, (4, 6)).astype(np.float32))
    x = LPArray(a, Policy(format="bf16", reduce_accumulator=Sequential("bf16")))
    sums = ref_sequential_sum(a)
    assert_same(x.sum(axis=1), sums)
    assert_same(x.sum(axis=-1, keepdims=True), sums[:, None])
    mean = lpemu.div(sums, 6.0, "bf16")
    assert_same(x.mean(axis=1), mean)
    centered = lpemu.sub(a, mean[:, None], "bf16")
    var = lpemu.div(ref_sequential_sum(lpemu.mul(centered, centered, "bf16")), 5.0, "bf16")
    assert_same(x.var(axis=1, ddof=1), var)
    assert_same(x.std(axis=1, ddof=1), lpemu.sqrt(var, "bf16"))
    assert_same(x.max(axis=0), a.max(axis=0))
    assert_same(x.min(), a.min())


# -- structure, comparisons, conversions ------------------------------------------------------

def test_indexing_comparisons_and_shapes_pass_values_through(rng):
    a = q(rng.standard_normal((3, 4)).astype(np.float32))
    x = LPArray(a, "bf16")
    assert_same(x[1:, ::2], a[1:, ::2])
    assert_same(x[jnp.array([2, 0])], a[jnp.array([2, 0])])
    assert_same(x.T, a.T)
    assert_same(x.reshape(2, 6), a.reshape(2, 6))
    assert_same(x > 0, a > 0)
    assert_same(x == x[0], a == a[0])
    assert_same(x <= 0.1, a <= q(0.1))  # a plain operand is rounded into the format first
    assert x.shape == (3, 4) and x.ndim == 2 and x.size == 12 and x.dtype == jnp.float32 and len(x) == 3
    assert [row.shape for row in x] == [(4,)] * 3


def test_conversions_give_the_raw_array():
    x = LPArray(jnp.array([1.1, -2.0]), "bf16")
    raw = q(jnp.array([1.1, -2.0]))
    np.testing.assert_array_equal(np.asarray(x), raw)
    np.testing.assert_array_equal(jnp.asarray(x), raw)
    np.testing.assert_array_equal(jax.jit(jnp.asarray)(x), raw)
    assert float(x[0]) == 1.1015625 and int(x[1]) == -2 and bool(x[1] < 0)
    assert repr(x[1]) == "LPArray(Array(-2., dtype=float32), format=bfloat16)"


def test_a_jax_array_on_the_left_sees_the_raw_array():
    # JAX's operators convert the LPArray through __jax_array__ (documented): unrounded, plain
    x = LPArray(jnp.array([1.0, 2.0]), "bf16")
    out = jnp.array([0.01, 0.01]) + x
    assert not isinstance(out, LPArray)
    np.testing.assert_array_equal(out, jnp.array([1.01, 2.01], jnp.float32))
    assert_same(x + jnp.array([0.01, 0.01]), jnp.array([1.0078125, 2.015625]))


def test_policies_must_agree():
    x, y = LPArray(jnp.ones(2), "bf16"), LPArray(jnp.ones(2), "e4m3")
    with pytest.raises(lpemu.InvalidArgumentError, match=r"LPArray operands carry different policies "
                                                         r"\(format='bfloat16' vs 'float8_e4m3fn'\)"):
        x + y
    with pytest.raises(lpemu.InvalidArgumentError, match="policy= carry different policies"):
        lnp.add(x, 1.0, policy="fp16")
    with use_policy(Policy(format="fp16")), pytest.raises(lpemu.InvalidArgumentError, match="active policy"):
        x * 2
    with use_policy(Policy(format="bf16")):
        assert_same(x * 2, jnp.full(2, 2.0))


@pytest.mark.parametrize("policy", [None, 3, True, "e9m9", [Policy()]], ids=["None", "int", "bool", "unknown-format", "list"])
def test_bad_policies_are_named(policy):
    with pytest.raises(lpemu.InvalidArgumentError, match="LPArray: policy must be a lpemu.jax.Policy or a format"):
        LPArray(jnp.ones(2), policy)


# -- JAX transformations ------------------------------------------------------------------------

P = Policy(format="bf16", matmul_format="e4m3")


def layer(x, w, b):
    """A dense layer written for arrays, here run on LPArrays."""
    return lnp.tanh(x @ w + b).mean(axis=-1)


@pytest.fixture
def model_data(rng):
    x = LPArray(rng.standard_normal((3, 8)).astype(np.float32), P)
    w = rng.standard_normal((8, 4)).astype(np.float32) / 3
    b = rng.standard_normal(4).astype(np.float32)
    return x, w, b


def test_jit_and_vmap_equal_eager(model_data):
    x, w, b = model_data
    eager = layer(x, w, b)
    t = q(jnp.tanh(lpemu.add(ref_matmul(x.value, w, None), b, "bf16")))
    assert_same(eager, lpemu.div(q(jnp.sum(t, -1)), 4.0, "bf16"))  # mean: the float32 sum rounded, / 4
    assert_same(jax.jit(layer)(x, w, b), eager.value)
    assert_same(jax.jit(jax.vmap(layer, in_axes=(0, None, None)))(x, w, b), eager.value)  # one compile


def test_grad_is_straight_through(model_data):
    x, w, b = model_data

    def loss(v):
        return lnp.tanh(LPArray(v, P)).sum().value

    v = x.value + 0.01  # off the bf16 grid: the constructor rounds
    # every rounding passes the gradient through: tanh's derivative at the rounded operand
    np.testing.assert_array_equal(jax.jit(jax.grad(loss))(v), jax.jit(jax.grad(lambda u: jnp.tanh(u).sum()))(q(v)))
    g = jax.jit(jax.grad(lambda a: (a * 3.0).sum().value))(x)
    assert isinstance(g, LPArray) and g.policy == P
    np.testing.assert_array_equal(g.value, jnp.full(x.shape, 3.0))


def test_scan_carries_an_lparray():
    xs = jnp.linspace(0.1, 1.7, 9, dtype=jnp.float32)

    def step(total, v):
        total = total + v
        return total, total * 2

    total, doubled = jax.lax.scan(step, LPArray(0.0, "bf16"), LPArray(xs, "bf16"))
    expected, running = jnp.float32(0), []
    for v in q(xs):
        expected = lpemu.add(expected, v, "bf16")
        running.append(lpemu.mul(expected, 2.0, "bf16"))
    assert_same(total, expected)
    assert_same(doubled, jnp.stack(running))


def test_pytree_holds_the_policy_as_static_data():
    x = LPArray(jnp.array([1.0, 2.0]), "bf16")
    leaves, tree = jax.tree.flatten(x)
    assert len(leaves) == 1 and leaves[0] is x.value
    rebuilt = jax.tree.unflatten(tree, [jnp.array([3.1, 4.0])])
    assert rebuilt.policy == x.policy and float(rebuilt[0]) == np.float32(3.1)  # as given: not rounded
    f = jax.jit(lambda a: a + 0.01)
    assert float(f(x)[0]) == 1.0078125 and float(f(LPArray(x.value, "fp16"))[0]) == 1.009765625  # one trace each


@settings(max_examples=25)  # each example runs eagerly; the operators' fixed cases cover more
@given(hnp.arrays(np.float32, 6, elements=st.floats(-1e4, 1e4, width=32)),
       hnp.arrays(np.float32, 6, elements=st.floats(-1e4, 1e4, width=32)),
       st.sampled_from(["e4m3", "e5m2", "bf16"]))
def test_property_sum_and_product_match_the_primitives(a, b, fmt):
    x, y = LPArray(a, fmt), LPArray(jnp.asarray(b), fmt)
    assert_same(x + y, lpemu.add(q(a, fmt), q(b, fmt), fmt))
    assert_same(x * y, lpemu.mul(q(a, fmt), q(b, fmt), fmt))
