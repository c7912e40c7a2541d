"""Proof on real models: Flax (Linen and NNX) MLPs and an Equinox transformer block under
``lpemu.emulate`` equal, bit for bit, the same computation written by hand with lpemu's public
functions (``lpemu.add``, ``lpemu.matmul``, ``lpemu.quantize``...); the all-float32 policies
return exactly the original outputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu.jax import POLICIES, Policy

eqx = pytest.importorskip("equinox")
linen = pytest.importorskip("flax.linen")
nnx = pytest.importorskip("flax.nnx")

#: FP8 E4M3 matmul operands (saturating) with sequential fp32 accumulation, sums sequential in
#: fp32, everything else in bf16.
FP8 = Policy(format="bf16", overflow="saturate", matmul_format="e4m3", accumulator="fp32", reduce_accumulator="fp32")


class Hand:
    """The FP8 policy's arithmetic written out with lpemu's public functions on numpy arrays
    (the Numba kernels: an independent backend); transcendental functions run in XLA's
    float32, as the policy computes them."""

    fmt, kw = "bf16", {"overflow": "saturate"}

    def q(self, x):
        return lpemu.quantize(np.asarray(x, np.float32), self.fmt, **self.kw)

    def add(self, x, y):
        return lpemu.add(np.float32(x), np.float32(y), self.fmt, **self.kw)

    def sub(self, x, y):
        return lpemu.sub(np.float32(x), np.float32(y), self.fmt, **self.kw)

    def mul(self, x, y):
        return lpemu.mul(np.float32(x), np.float32(y), self.fmt, **self.kw)

    def div(self, x, y):
        return lpemu.div(np.float32(x), np.float32(y), self.fmt, **self.kw)

    def f32(self, fn, *xs):
        """A transcendental (or exact) function: float32 on bf16 operands, rounded once."""
        return self.q(fn(*(jnp.asarray(self.q(x)) for x in xs)))

    def mm(self, a, b):
        """a @ b: E4M3 operands, sequential fp32 sum of exact products, rounded into bf16."""
        a8, b8 = (lpemu.quantize(np.asarray(v, np.float32), "e4m3", overflow="saturate") for v in (a, b))
        return self.q(lpemu.matmul(a8, b8, in_fmt="e4m3", inputs="assume", accumulator="fp32"))

    def rowsum(self, x):
        """The sum over the last axis: sequential fp32 of bf16 values, rounded into bf16."""
        x = self.q(x)
        rows = x.reshape(-1, x.shape[-1])
        ones = np.ones(x.shape[-1], np.float32)
        s = lpemu.matmul(rows, ones, in_fmt=self.fmt, inputs="assume", accumulator="fp32")
        return self.q(s.reshape(x.shape[:-1]))

    def dense(self, x, w, b):
        return self.add(self.mm(x, w), b)

    def relu(self, x):
        return self.f32(lambda v: jnp.maximum(v, 0.0), x)


def bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


def assert_same_bits(a, b):
    np.testing.assert_array_equal(bits(a), bits(b))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    return jnp.asarray(rng.normal(size=(5, 12)), jnp.float32)


# -- Flax ------------------------------------------------------------------------------------------
class LinenMLP(linen.Module):
    @linen.compact
    def __call__(self, x):
        x = linen.relu(linen.Dense(16, name="fc1")(x))
        x = linen.relu(linen.Dense(16, name="fc2")(x))
        return linen.Dense(3, name="out")(x)


class NnxMLP(nnx.Module):
    def __init__(self, rngs):
        self.fc1, self.fc2 = nnx.Linear(12, 16, rngs=rngs), nnx.Linear(16, 16, rngs=rngs)
        self.out = nnx.Linear(16, 3, rngs=rngs)

    def __call__(self, x):
        return self.out(nnx.relu(self.fc2(nnx.relu(self.fc1(x)))))


def _hand_mlp(layers, x):
    h = Hand()
    for i, (w, b) in enumerate(layers):
        x = h.dense(x, w, b)
        if i < len(layers) - 1:
            x = h.relu(x)
    return x


def test_linen_mlp_fp8_bit_for_bit(data):
    model = LinenMLP()
    params = model.init(jax.random.key(0), data)
    got = jax.jit(lpemu.emulate(model.apply, FP8))(params, data)
    p = params["params"]
    want = _hand_mlp([(p[n]["kernel"], p[n]["bias"]) for n in ("fc1", "fc2", "out")], data)
    assert_same_bits(got, want)
    assert not np.array_equal(bits(got), bits(model.apply(params, data)))


def test_linen_module_paths_pick_policies(data):
    """A rule on the Linen path "LinenMLP/out" exempts the last layer: it runs in float32."""
    model = LinenMLP()
    params = model.init(jax.random.key(0), data)
    policy = FP8.replace(rules={"LinenMLP/out": None})
    got = jax.jit(lpemu.emulate(model.apply, policy))(params, data)
    p = params["params"]
    h = Hand()
    x = h.relu(h.dense(data, p["fc1"]["kernel"], p["fc1"]["bias"]))
    x = h.relu(h.dense(x, p["fc2"]["kernel"], p["fc2"]["bias"]))
    want = jnp.asarray(x) @ p["out"]["kernel"] + p["out"]["bias"]
    assert_same_bits(got, want)


def test_nnx_mlp_fp8_bit_for_bit(data):
    model = NnxMLP(nnx.Rngs(1))
    got = jax.jit(lpemu.emulate(lambda m, x: m(x), FP8))(model, data)
    want = _hand_mlp([(layer.kernel[...], layer.bias[...]) for layer in (model.fc1, model.fc2, model.out)], data)
    assert_same_bits(got, want)


# -- Equinox transformer block ---------------------------------------------------------------------
D, T, H = 16, 6, 2


class Block(eqx.Module):
    """A pre-norm transformer block: LayerNorm, multi-head attention, LayerNorm, GELU MLP."""

    ln1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    ln2: eqx.nn.LayerNorm
    up: eqx.nn.Linear
    down: eqx.nn.Linear

    def __init__(self, key):
        k = jax.random.split(key, 3)
        self.ln1, self.ln2 = eqx.nn.LayerNorm(D), eqx.nn.LayerNorm(D)
        self.attn = eqx.nn.MultiheadAttention(H, D, key=k[0])
        self.up, self.down = eqx.nn.Linear(D, 2 * D, key=k[1]), eqx.nn.Linear(2 * D, D, key=k[2])

    def __call__(self, x):
        h = jax.vmap(self.ln1)(x)
        x = x + self.attn(h, h, h)
        h = jax.vmap(self.ln2)(x)
        return x + jax.vmap(self.down)(jax.nn.gelu(jax.vmap(self.up)(h)))


def _hand_layer_norm(h: Hand, ln, x):
    """eqx.nn.LayerNorm, as its jaxpr computes it (jnp.mean, jnp.var, max, rsqrt...)."""
    mean = h.div(h.rowsum(x), 16.0)[:, None]
    centred = h.sub(x, mean)
    var = h.div(h.rowsum(h.mul(centred, centred)), h.sub(16.0, 0.0))[:, None]
    inv = h.f32(jax.lax.rsqrt, h.add(h.f32(lambda v: jnp.maximum(0.0, v), var), ln.eps))
    return h.add(h.mul(ln.weight, h.mul(h.sub(x, mean), inv)), ln.bias)


def _hand_block(block: Block, x):
    h = Hand()
    a = block.attn
    y = _hand_layer_norm(h, block.ln1, x)
    heads = [h.mm(y, p.weight.T).reshape(T, H, D // H) for p in (a.query_proj, a.key_proj, a.value_proj)]
    q = h.div(heads[0], np.float32(np.sqrt(D // H)))
    outs = []
    for i in range(H):
        logits = h.mm(q[:, i], heads[1][:, i].T)
        top = h.f32(lambda v: jnp.max(v, axis=-1, keepdims=True), logits)
        e = h.f32(jnp.exp, h.sub(logits, top))
        outs.append(h.mm(h.div(e, h.rowsum(e)[:, None]), heads[2][:, i]))
    x = h.add(x, h.mm(np.concatenate(outs, axis=1), a.output_proj.weight.T))
    y = _hand_layer_norm(h, block.ln2, x)
    u = h.dense(y, block.up.weight.T, block.up.bias)
    c = h.mul(0.044715, h.f32(lambda v: jax.lax.integer_pow(v, 3), u))
    t = h.f32(jnp.tanh, h.mul(np.float32(np.sqrt(2 / np.pi)), h.add(u, c)))
    g = h.mul(u, h.mul(0.5, h.add(1.0, t)))
    return h.add(x, h.dense(g, block.down.weight.T, block.down.bias))


@pytest.fixture(scope="module")
def block():
    return Block(jax.random.key(2)), jnp.asarray(np.random.default_rng(3).normal(size=(T, D)), jnp.float32)


def test_equinox_transformer_block_fp8_bit_for_bit(block):
    model, x = block
    got = eqx.filter_jit(lpemu.emulate(lambda m, v: m(v), FP8))(model, x)
    assert_same_bits(got, _hand_block(model, x))


def test_all_fp32_policy_returns_the_original_outputs(block, data):
    """The "fp32" preset emulates nothing: the interpreter reruns the model's own primitives."""
    model, x = block
    policy = POLICIES["fp32"]
    plain = eqx.filter_jit(lambda m, v: m(v))
    assert_same_bits(eqx.filter_jit(lpemu.emulate(lambda m, v: m(v), policy))(model, x), plain(model, x))
    linen_model = LinenMLP()
    params = linen_model.init(jax.random.key(0), data)
    assert_same_bits(jax.jit(lpemu.emulate(linen_model.apply, policy))(params, data),
                     jax.jit(linen_model.apply)(params, data))
