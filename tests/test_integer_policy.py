"""The integer-only emulation policy (lpemu.jax.IntegerMatmul, preset int8_dyadic): dense and
convolutional layers under lpemu.emulate equal the same layers written by hand with
lpemu.integer / lpemu.dyadic (Numba kernels), bit for bit."""

import equinox as eqx
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lpemu
from lpemu import dyadic, integer
from lpemu.errors import InvalidArgumentError
from lpemu.jax import POLICIES, IntegerMatmul, Policy, emulate

F32 = np.float32


def _scale(amax):
    s = (np.asarray(amax, F32) / F32(127)).astype(F32)
    return np.where(s > 0, s, F32(1)).astype(F32)


def _q8(v, s):
    return np.clip(np.rint(v / s), -127, 127).astype(np.int8)


def hand_dense(x, w, b=None, x_scale=None, out_scale=None):
    """IntegerMatmul's steps with numpy scales and the Numba integer kernels: x (R, K), w (K, C)."""
    x, w = np.asarray(x, F32), np.asarray(w, F32)
    s_x = F32(x_scale) if x_scale is not None else _scale(np.abs(x).max())
    s_w = _scale(np.abs(w).max(axis=0))
    s_acc = (s_x * s_w).astype(F32)
    b32 = None if b is None else np.rint(np.asarray(b, F32) / s_acc).astype(np.int32)
    acc = integer.int_matmul(_q8(x, s_x), _q8(w, s_w), bias=b32)
    s_y = F32(out_scale) if out_scale is not None else _scale(np.max(np.abs(acc.astype(F32)) * s_acc))
    m, s = dyadic.quantize_multiplier((s_acc / s_y).astype(F32))
    return dyadic.requantize(acc, m, s).astype(F32) * s_y


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Dense(16, name="fc1")(x))
        return nn.Dense(4, name="fc2")(x)


@pytest.fixture(scope="module")
def mlp():
    x = jax.random.normal(jax.random.PRNGKey(2), (6, 8))
    params = MLP().init(jax.random.PRNGKey(0), x)
    params = jax.tree.map(lambda v: v + 0.05, params)  # non-zero biases
    return params, x


def test_flax_mlp_equals_the_hand_written_pipeline(mlp):
    params, x = mlp
    p = params["params"]
    h = np.maximum(hand_dense(x, p["fc1"]["kernel"], p["fc1"]["bias"]), 0)
    want = hand_dense(h, p["fc2"]["kernel"], p["fc2"]["bias"])
    f = emulate(MLP().apply, "int8_dyadic")
    np.testing.assert_array_equal(np.asarray(f(params, x)), want)
    np.testing.assert_array_equal(np.asarray(jax.jit(f)(params, x)), want)
    # the bias is part of the integer layer: adding it in float after requantization differs
    unfused = np.maximum(hand_dense(x, p["fc1"]["kernel"]) + np.asarray(p["fc1"]["bias"]), 0)
    assert not np.array_equal(unfused, np.maximum(hand_dense(x, p["fc1"]["kernel"], p["fc1"]["bias"]), 0))


def test_integer_mlp_is_close_to_float(mlp):
    params, x = mlp
    ref = np.asarray(MLP().apply(params, x))
    got = np.asarray(jax.jit(emulate(MLP().apply, "integer"))(params, x))
    assert 0 < np.abs(got - ref).max() < 0.03 * np.abs(ref).max()


def test_static_scales_chain_the_integers(mlp):
    """With calibrated scales (x_scale of fc2 = out_scale of fc1) the layers pass integers on:
    the same as int_dense after int_dense, with ReLU on the integers."""
    params, x = mlp
    p = params["params"]
    s0, s1, s2 = 0.02, 0.015, 0.03
    rules = {"*/fc1": Policy(integer=IntegerMatmul(x_scale=s0, out_scale=s1)),
             "*/fc2": Policy(integer=IntegerMatmul(x_scale=s1, out_scale=s2))}
    got = np.asarray(jax.jit(emulate(MLP().apply, Policy(integer=IntegerMatmul(), rules=rules)))(params, x))
    h = _q8(np.asarray(x, F32), F32(s0))
    for name, s_in, s_out in (("fc1", s0, s1), ("fc2", s1, s2)):
        w = np.asarray(p[name]["kernel"], F32)
        s_w = _scale(np.abs(w).max(axis=0))
        s_acc = (F32(s_in) * s_w).astype(F32)
        m, s = dyadic.quantize_multiplier((s_acc / F32(s_out)).astype(F32))
        bias = np.rint(np.asarray(p[name]["bias"], F32) / s_acc).astype(np.int32)
        h = integer.int_dense(h, _q8(w, s_w), bias, m, s)
        if name == "fc1":
            h = np.maximum(h, 0).astype(np.int8)
    np.testing.assert_array_equal(got, h.astype(F32) * F32(s2))


def test_convolution_equals_int_conv2d():
    class Conv(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Conv(3, (3, 3), padding="VALID")(x)

    x = jax.random.normal(jax.random.PRNGKey(3), (2, 6, 6, 2))
    params = Conv().init(jax.random.PRNGKey(0), x)
    k = np.asarray(params["params"]["Conv_0"]["kernel"], F32)
    b = np.asarray(params["params"]["Conv_0"]["bias"], F32) + F32(0.1)
    params = {"params": {"Conv_0": {"kernel": k, "bias": b}}}
    xv = np.asarray(x, F32)
    s_x, s_w = _scale(np.abs(xv).max()), _scale(np.abs(k).max(axis=(0, 1, 2)))
    s_acc = (s_x * s_w).astype(F32)
    acc = integer.int_conv2d(_q8(xv, s_x), _q8(k, s_w), bias=np.rint(b / s_acc).astype(np.int32))
    s_y = _scale(np.max(np.abs(acc.astype(F32)) * s_acc))
    m, s = dyadic.quantize_multiplier((s_acc / s_y).astype(F32))
    want = dyadic.requantize(acc, m, s).astype(F32) * s_y
    got = jax.jit(emulate(Conv().apply, "int8_dyadic"))(params, x)
    np.testing.assert_array_equal(np.asarray(got), want)


def test_equinox_linear_with_weights_first():
    lin = eqx.nn.Linear(8, 4, key=jax.random.PRNGKey(1))
    x = jax.random.normal(jax.random.PRNGKey(2), (8,))
    got = emulate(lin, Policy(integer=IntegerMatmul(weight_operand=0)))(x)
    # W @ x with per-row weight scales is x^T @ W^T with per-column ones
    want = hand_dense(np.asarray(x)[None], np.asarray(lin.weight).T, np.asarray(lin.bias))[0]
    np.testing.assert_array_equal(np.asarray(got), want)


def test_per_tensor_weights_and_batched_products():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 5, 16)).astype(F32)
    b = rng.normal(size=(3, 16, 4)).astype(F32)
    p = Policy(integer=IntegerMatmul(per_channel=False))
    got = np.asarray(jax.jit(emulate(lambda a, b: jnp.einsum("bmk,bkn->bmn", a, b), p))(a, b))
    # one activation scale for the whole tensor, one weight scale; requantized per batch element
    s_x, s_w = _scale(np.abs(a).max()), _scale(np.abs(b).max())
    s_acc = (s_x * s_w).astype(F32)
    accs = [integer.int_matmul(_q8(a[i], s_x), _q8(b[i], s_w)) for i in range(3)]
    s_y = _scale(max(np.abs(acc.astype(F32)).max() for acc in accs) * s_acc)
    m, s = dyadic.quantize_multiplier(F32(s_acc / s_y))
    want = np.stack([dyadic.requantize(acc, m, s).astype(F32) * s_y for acc in accs])
    np.testing.assert_array_equal(got, want)


def test_gradients_are_straight_through(mlp):
    params, x = mlp
    f = emulate(lambda w, b, x: jnp.sum(x @ w + b), "int8_dyadic")
    w, b = params["params"]["fc1"]["kernel"], params["params"]["fc1"]["bias"]
    gw, gb = jax.grad(f, argnums=(0, 1))(w, b, x)
    np.testing.assert_array_equal(np.asarray(gw), np.broadcast_to(np.asarray(x).sum(0)[:, None], w.shape))
    np.testing.assert_array_equal(np.asarray(gb), np.full(b.shape, x.shape[0], F32))


def test_non_finite_operands_give_nan():
    x = jnp.array([[1.0, jnp.inf]])
    out = POLICIES["int8_dyadic"].matmul(x, jnp.ones((2, 3)))
    assert np.isnan(np.asarray(out)).all()


def test_zero_operands_give_zero():
    out = POLICIES["int8_dyadic"].matmul(jnp.zeros((2, 4)), jnp.zeros((4, 3)))
    np.testing.assert_array_equal(np.asarray(out), np.zeros((2, 3), F32))


_TRACED = {r: jax.jit(lambda d, r=r: dyadic.quantize_multiplier(d, r)) for r in ("double", "single", "hawq")}


@given(st.integers(0, 0x7F7FFFFF))
def test_quantize_multiplier_traced_equals_concrete(bits):
    v = np.array([bits], np.uint32).view(F32)
    for rounding, traced in _TRACED.items():  # compiled once, for shape (1,)
        m, s = traced(jnp.asarray(v))
        assert (int(m[0]), int(s[0])) == dyadic.quantize_multiplier(float(v[0]), rounding)


def test_quantize_multiplier_traced_float64_edges():
    v = np.array([0.0, 5e-324, 2.0**-1074 * 3, 1 - 2.0**-53, (2**31 - 0.5) / 2**31, 2.0**-32, 2.0**-33, 2.0**40])
    with jax.enable_x64(True):
        for rounding in ("double", "single", "hawq"):
            m, s = jax.jit(lambda d: dyadic.quantize_multiplier(d, rounding))(jnp.asarray(v))
            want_m, want_s = dyadic.quantize_multiplier(v, rounding)
            np.testing.assert_array_equal(np.asarray(m), want_m)
            np.testing.assert_array_equal(np.asarray(s), want_s)


@pytest.mark.parametrize("kwargs, field", [
    ({"bits": 9}, "bits"), ({"bits": 1}, "bits"), ({"out_bits": 17}, "out_bits"),
    ({"weight_operand": 2}, "weight_operand"), ({"per_channel": 1}, "per_channel"),
    ({"x_scale": 0.0}, "x_scale"), ({"out_scale": float("inf")}, "out_scale"), ({"x_scale": "1"}, "x_scale"),
    ({"rounding": "even"}, "rounding"), ({"overflow": "raise"}, "overflow"),
])
def test_bad_fields(kwargs, field):
    with pytest.raises(InvalidArgumentError, match=field):
        IntegerMatmul(**kwargs)


def test_bad_policy_and_bias():
    with pytest.raises(InvalidArgumentError, match="integer"):
        Policy(integer="int8")
    p = POLICIES["int8_dyadic"]
    dn = (((1,), (0,)), ((), ()))
    with pytest.raises(InvalidArgumentError, match="bias must be a vector of the 3 output channels"):
        p.dot_general(jnp.ones((2, 4)), jnp.ones((4, 3)), dn, bias=jnp.ones(4))
    with pytest.raises(InvalidArgumentError, match="exactly one free dimension"):
        p.dot_general(jnp.ones((4,)), jnp.ones((4,)), (((0,), (0,)), ((), ())), bias=jnp.ones(1))


def test_preset_names():
    assert Policy.preset("integer") is POLICIES["int8_dyadic"]
    assert lpemu.jax.IntegerMatmul is IntegerMatmul
