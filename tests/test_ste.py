"""Straight-through gradients: ``lpemu.ste``, ``quantize(..., ste=True)``, the policy's operations
and ``lpemu.emulate``; quantization-aware training of a small model in emulated FP8 and INT8."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu.jax import POLICIES, Policy, emulate, ste


def test_ste_values_of_fn_derivatives_of_like():
    f = ste(lambda x: lpemu.quantize(jnp.exp(x), "e4m3"), like=jnp.exp)
    x = jnp.float32(1.1)
    assert float(f(x)) == float(lpemu.quantize(jnp.exp(x), "e4m3")) == 3.0
    assert float(jax.grad(f)(x)) == float(jnp.exp(x))
    # forward mode works too (custom_jvp), and so do second derivatives
    assert float(jax.jvp(f, (x,), (jnp.float32(2.0),))[1]) == float(2 * jnp.exp(x))
    assert float(jax.grad(jax.grad(f))(x)) == float(jnp.exp(x))


def test_ste_defaults_to_the_identity_and_takes_several_arguments():
    f = ste(lambda x, y: (lpemu.quantize(x, "int8"), lpemu.quantize(y, "int8")))
    gx, gy = jax.grad(lambda x, y: f(x, y)[0] * 3 + f(x, y)[1], argnums=(0, 1))(jnp.float32(2.4), jnp.float32(0.7))
    assert (float(gx), float(gy)) == (3.0, 1.0)
    with pytest.raises(lpemu.InvalidArgumentError, match="fn must be callable"):
        ste(3)


def test_quantize_ste_flag():
    x = jnp.array([0.3, 2.0, 500.0], jnp.float32)
    loss = lambda v, flag: jnp.sum(lpemu.quantize(v, "e4m3", overflow="saturate", ste=flag) * v)  # noqa: E731
    q = np.asarray(lpemu.quantize(x, "e4m3", overflow="saturate"))
    grads = jax.jit(lambda v: (jax.grad(loss)(v, False), jax.grad(loss)(v, True)))(x)
    np.testing.assert_array_equal(grads[0], q)  # quantize alone: derivative 0
    np.testing.assert_array_equal(grads[1], q + x)
    # under jit and vmap, and the same values as without the flag
    g = jax.jit(jax.vmap(jax.grad(lambda v: lpemu.quantize(v, "bf16", ste=True) ** 2)))(x)
    np.testing.assert_array_equal(g, 2 * np.asarray(lpemu.quantize(x, "bf16")))
    xn = np.asarray(x)
    np.testing.assert_array_equal(lpemu.quantize(xn, "bf16", ste=True), lpemu.quantize(xn, "bf16"))


def test_policy_operations_have_straight_through_gradients(rng):
    p = Policy(format="bf16", matmul_format="e4m3", accumulator="fp32")
    a = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(4, 2)), jnp.float32)

    @jax.jit
    def grads(a, b):
        return (jax.grad(lambda a, b: jnp.sum(p.matmul(a, b)), argnums=(0, 1))(a, b),
                jax.grad(lambda x: p.binary("mul", x, 3.0))(b[0, 0]), jax.grad(lambda x: p.apply(jnp.tanh, x))(b[0, 0]),
                jax.grad(lambda x: p.sum(x))(a))

    (ga, gb), gmul, gtanh, gsum = grads(a, b)
    wa, wb = jax.grad(lambda a, b: jnp.sum(a @ b), argnums=(0, 1))(a, b)
    np.testing.assert_array_equal(ga, wa)
    np.testing.assert_array_equal(gb, wb)
    np.testing.assert_array_equal(gmul, 3.0)
    np.testing.assert_allclose(gtanh, jax.grad(jnp.tanh)(b[0, 0]), rtol=1e-6)  # XLA may fuse differently
    np.testing.assert_array_equal(gsum, np.ones((3, 4), np.float32))


def test_grad_of_emulate_is_the_straight_through_gradient(rng):
    """jax.grad(emulate(f, p)) equals the gradient of the same computation written with the
    policy's operations, operands rounded first (as emulate rounds them)."""
    x = jnp.asarray(rng.normal(size=(2, 5)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    p = POLICIES["fp8_e4m3"]
    f = lambda w, x: jnp.sum(jnp.tanh(x @ w) * 0.5)  # noqa: E731

    def hand(w, x):
        h = p.apply(jnp.tanh, p.matmul(x, w))
        return p.sum(p.binary("mul", h, p.round_operand(jnp.float32(0.5))))

    got = jax.jit(jax.grad(emulate(f, p)))(w, x)
    np.testing.assert_array_equal(got, jax.jit(jax.grad(hand))(w, x))
    assert not np.array_equal(got, jax.grad(f)(w, x))  # the emulated values enter the derivative
    np.testing.assert_array_equal(jax.grad(emulate(f, POLICIES["fp32"]))(w, x), jax.grad(f)(w, x))


def _digits_like(rng, n=192):
    """A small separable 3-class problem: noisy prototypes in 16 dimensions."""
    protos = rng.normal(size=(3, 16)).astype(np.float32)
    y = rng.integers(0, 3, n)
    x = protos[y] + 0.8 * rng.normal(size=(n, 16)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


@pytest.mark.parametrize("policy", ["fp8_e4m3", "int8"])
def test_quantization_aware_training_improves_the_loss(policy, rng):
    optax = pytest.importorskip("optax")
    x, y = _digits_like(rng)
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"w1": jax.random.normal(k1, (16, 32)) * 0.25, "b1": jnp.zeros(32),
              "w2": jax.random.normal(k2, (32, 3)) * 0.25, "b2": jnp.zeros(3)}

    def logits(p, x):
        return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def loss(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(logits(p, x), y).mean()

    emulated_loss = emulate(loss, Policy.preset(policy))
    opt = optax.adam(0.03)

    @jax.jit
    def step(p, s):
        value, g = jax.value_and_grad(emulated_loss)(p, x, y)
        updates, s = opt.update(g, s, p)
        return optax.apply_updates(p, updates), s, value

    state = opt.init(params)
    first = None
    for _ in range(40):
        params, state, value = step(params, state)
        first = value if first is None else first
    final, predicted = jax.jit(lambda p: (emulated_loss(p, x, y), emulate(logits, Policy.preset(policy))(p, x)))(params)
    assert np.isfinite(final) and final < 0.3 * float(first)
    assert float(jnp.mean(jnp.argmax(predicted, -1) == y)) > 0.9
