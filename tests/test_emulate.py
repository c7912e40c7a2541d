"""``lpemu.emulate`` and the policy it applies: every rule against lpemu's own functions, bit for bit.

The hardware fast paths of :class:`lpemu.jax.Policy` (innocuous double rounding, sequential fp32
accumulation) are checked against lpemu's kernels; each kind of rule, the control-flow rules,
names, kinds, jit/vmap/eager agreement and the argument errors against hand-written lpemu code.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lpemu
from lpemu import Exact, Sequential
from lpemu import block as B
from lpemu import formats as F
from lpemu.jax import KINDS, POLICIES, RULES, Policy, UnsupportedPrimitiveError, emulate
from lpemu.jax._hardware import SCALED, arith_container, extent, fp32_is_exact


def bits(a) -> np.ndarray:
    return np.asarray(a, np.float32).view(np.uint32)


def assert_same_bits(a, b):
    np.testing.assert_array_equal(bits(a), bits(b))


def format_values(fmt) -> np.ndarray:
    """Every value of a small format, with NaN and +-Inf inputs (however the format rounds them)."""
    v = np.asarray(F.lookup(fmt).values(), np.float32)
    return np.concatenate([v[~np.isnan(v)], np.float32([np.nan, np.inf, -np.inf])]).astype(np.float32)


def edge_heavy(rng, n, fmt):
    """float32 samples over the whole exponent range, subnormals, specials, near-cancellations."""
    f = F.lookup(fmt)
    x = (rng.choice([-1, 1], n) * (1 + rng.random(n)) * np.exp2(rng.integers(-150, 128, n))).astype(np.float32)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 2.0**-126, 3.4e38, f.max, -f.max, f.min_subnormal]
    x[:len(special)] = special
    return x


# -- the hardware fast paths ----------------------------------------------------------------------
SMALL = ["e4m3", "e5m2", "e2m1", "e3m2", "e4m3fnuz"]


@pytest.mark.parametrize("fmt", SMALL)
def test_hardware_arithmetic_every_pair_of_small_formats(fmt):
    v = format_values(fmt)
    x, y = (a.ravel() for a in np.meshgrid(v, v))
    p = Policy(format=fmt)
    for op in ("add", "sub", "mul", "div"):
        assert arith_container(op, p.format, p.rounding, np.float32) == np.float32
        got = jax.jit(lambda a, b, op=op: p.binary(op, a, b))(jnp.asarray(x), jnp.asarray(y))
        assert_same_bits(got, getattr(lpemu, op)(x, y, fmt))
    assert_same_bits(jax.jit(lambda a: p.unary("sqrt", a))(jnp.asarray(v)), lpemu.sqrt(v, fmt))


@pytest.mark.parametrize("fmt, container", [("bf16", SCALED), ("fp16", np.float32), ("tf32", SCALED),
                                            ("fp32", np.float64)])
@pytest.mark.parametrize("overflow", [None, "saturate"])
def test_hardware_arithmetic_wide_formats(fmt, container, overflow, rng):
    f = F.lookup(fmt)
    x, y = edge_heavy(rng, 20000, fmt), edge_heavy(rng, 20000, fmt)
    y[10000:15000] = -x[10000:15000] * np.float32(1 + 2.0**-7)  # cancellations
    # ties and near-ties: x of the format plus half its ulp, and a hair more or less
    x[15000:] = lpemu.quantize(x[15000:], fmt, overflow="saturate")
    half_ulp = np.exp2(np.floor(np.log2(np.abs(x[15000:]) + 1e-38)) - f.man_bits - 1)
    y[15000:] = (half_ulp * rng.choice([1.0, -1.0, 1 + 2.0**-10, 1 - 2.0**-10], 5000)).astype(np.float32)
    p = Policy(format=fmt, overflow=overflow)
    for op in ("add", "sub", "mul", "div"):
        assert arith_container(op, p.format, p.rounding, np.float32) == container
        got = jax.jit(lambda a, b, op=op: p.binary(op, a, b))(jnp.asarray(x), jnp.asarray(y))
        assert_same_bits(got, getattr(lpemu, op)(x, y, fmt, overflow=overflow))
    got = jax.jit(lambda a: p.unary("sqrt", a))(jnp.asarray(np.abs(x)))
    assert_same_bits(got, lpemu.sqrt(np.abs(x), fmt, overflow=overflow))


@pytest.mark.parametrize("fmt", ["bf16", "tf32"])
def test_rescaled_float32_arithmetic_over_all_codes(fmt, rng):
    """The SCALED path (bf16, tf32: float32 range, subnormals included) on 200,000 random pairs
    of codes of the format (every exponent equally likely), and with scalar operands."""
    f = F.lookup(fmt)
    codes = rng.integers(0, 1 << f.bits, size=(2, 200000), dtype=np.uint32)
    x, y = (lpemu.decode(c, fmt).astype(np.float32) for c in codes)
    p = Policy(format=fmt)
    for op in ("add", "sub", "mul", "div"):
        assert arith_container(op, p.format, p.rounding, np.float32) == SCALED
        got = jax.jit(lambda a, b, op=op: p.binary(op, a, b))(jnp.asarray(x), jnp.asarray(y))
        assert_same_bits(got, getattr(lpemu, op)(x, y, fmt))
        for c in (np.float32(3.0), np.float32(2.0**-130), np.float32(-1.5e38)):
            got = jax.jit(lambda a, op=op, c=c: p.binary(op, a, c))(jnp.asarray(x))
            assert_same_bits(got, getattr(lpemu, op)(x, np.full_like(x, c), fmt))


def test_division_by_a_broadcast_constant_is_correctly_rounded():
    """XLA on CPU divides by a broadcast or constant divisor through its reciprocal; the policy
    must not let it (every fp16 numerator, a few divisors, both ways round)."""
    x = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)
    x = x[np.isfinite(x)]
    p = Policy(format="fp16")
    for c in (np.float32(3.0), np.float32(2.828125), np.float32(0.0999755859375), np.float32(11.0)):
        assert_same_bits(jax.jit(lambda v: p.binary("div", v, c))(x), lpemu.div(x, c, "fp16"))
        assert_same_bits(jax.jit(lambda v: p.binary("div", c, v))(x), lpemu.div(c, x, "fp16"))


def test_fast_path_conditions():
    assert arith_container("add", F.FP64, "nearest_even", np.float32) is None  # 53 bits: no room
    assert arith_container("add", F.BF16, "toward_zero", np.float32) is None  # directed modes: kernels
    assert arith_container("mul", F.BF16, "nearest_even", np.float64) is None  # float64 containers: kernels
    assert arith_container("mul", F.BF16, "nearest_even", np.float32) == SCALED  # bf16 subnormals
    assert arith_container("sqrt", F.BF16, "nearest_even", np.float32) == np.float64
    assert fp32_is_exact(extent(F.E4M3), extent(F.E4M3)) and fp32_is_exact(extent(F.FP16), extent(F.E5M2))
    assert not fp32_is_exact(extent(F.BF16), extent(F.BF16))  # products can be float32 subnormals
    assert not fp32_is_exact(extent(F.TF32), extent(F.FP16))  # 11 + 11 bits fit, but tf32's range does not


def test_directed_rounding_uses_the_kernels(rng):
    x, y = (jnp.asarray(rng.normal(size=500), jnp.float32) for _ in range(2))
    p = Policy(format="bf16", rounding="toward_zero")
    assert_same_bits(jax.jit(lambda a, b: p.binary("add", a, b))(x, y), lpemu.add(x, y, "bf16", "toward_zero"))


@pytest.mark.parametrize("fmt", ["e4m3", "e5m2", "fp16"])
def test_sequential_fp32_fast_path_matches_the_kernel(fmt, rng):
    a = (rng.normal(size=(7, 33)) * np.exp2(rng.integers(-6, 6, (7, 33)))).astype(np.float32)
    b = (rng.normal(size=(33, 5)) * np.exp2(rng.integers(-6, 6, (33, 5)))).astype(np.float32)
    a[0, :3] = [np.nan, np.inf, -np.inf] if fmt != "e4m3" else [np.nan, 448.0, -448.0]
    a[1, 0], b[0, 1] = F.lookup(fmt).max, F.lookup(fmt).max  # the largest product
    p = Policy(matmul_format=fmt, accumulator="fp32")
    assert p._hardware_fp32(p.accumulator, *p._operand_formats())
    got = jax.jit(p.matmul)(a, b)
    want = lpemu.matmul(jnp.asarray(a), jnp.asarray(b), in_fmt=fmt, accumulator="fp32")  # JAX's exact kernel
    assert_same_bits(got, want)


# -- rules: elementwise, reductions, products --------------------------------------------------------
P16 = Policy(format="fp16", overflow="saturate")


def test_elementwise_rules_equal_lpemu_functions(rng):
    """Arith correctly rounded, transcendental in float32 rounded once, exact ops, reductions."""
    x = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)
    y = jnp.asarray(rng.uniform(0.5, 2.0, size=(4, 6)), jnp.float32)

    def f(x, y):
        a = jnp.sqrt(y) / (x * x + 1.7) - jnp.abs(-x)
        b = jnp.maximum(jnp.exp(x), jnp.floor(y)) ** 3
        return a, jnp.tanh(b).sum(axis=1), jnp.max(a, axis=0)

    k = {"fmt": "fp16", "overflow": "saturate"}

    def q(v):
        return lpemu.quantize(np.asarray(v, np.float32), **k)

    def f32(fn, *vs):
        return q(fn(*(jnp.asarray(q(v)) for v in vs)))

    xn, yn = np.asarray(x), np.asarray(y)
    sq = lpemu.mul(xn, xn, **k)
    quotient = lpemu.div(lpemu.sqrt(yn, **k), lpemu.add(sq, np.float32(1.7), **k), **k)
    a = lpemu.sub(quotient, lpemu.abs(lpemu.neg(xn, "fp16"), "fp16"), **k)
    b = f32(lambda v: jax.lax.integer_pow(v, 3), f32(jnp.maximum, f32(jnp.exp, xn), f32(jnp.floor, yn)))
    t = f32(jnp.tanh, b)
    want = (a, f32(lambda v: jnp.sum(v, axis=1), t), f32(lambda v: jnp.max(v, axis=0), a))
    for got_i, want_i in zip(jax.jit(emulate(f, P16))(x, y), want):
        assert_same_bits(got_i, want_i)


def _loop_matmul(a3, b3, **kw):
    return np.stack([np.asarray(lpemu.matmul(a, b, **kw)) for a, b in zip(a3, b3)])


@pytest.mark.parametrize("acc", [Sequential("fp32"), Sequential("bf16"), Exact("fp32")], ids=repr)
def test_dot_general_batched_and_several_contracted_axes(acc, rng):
    """(b, i, k1, k2) x (k2, b, k1, j): batch b, contracted (k1, k2) in that order."""
    a = jnp.asarray(rng.normal(size=(2, 3, 4, 5)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(5, 2, 4, 6)), jnp.float32)
    f = lambda a, w: jnp.einsum("bikl,lbkj->bij", a, w)  # noqa: E731
    got = jax.jit(emulate(f, Policy(matmul_format="e4m3", accumulator=acc)))(a, w)
    a3 = np.asarray(a).reshape(2, 3, 20)
    w3 = np.asarray(w).transpose(1, 2, 0, 3).reshape(2, 20, 6)
    assert_same_bits(got, _loop_matmul(a3, w3, in_fmt="e4m3", accumulator=acc))


def test_lmul_products(rng):
    a = jnp.asarray(rng.normal(size=(3, 16)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(16, 4)), jnp.float32)
    got = jax.jit(emulate(jnp.matmul, POLICIES["lmul"]))(a, w)
    want = lpemu.matmul(a, w, in_fmt="bf16", product="lmul", accumulator="fp32")
    assert_same_bits(got, lpemu.quantize(want, "bf16", overflow="saturate"))


@pytest.mark.parametrize("acc", [None, Sequential("fp32")], ids=["xla-sum", "sequential-fp32"])
def test_block_formats_quantize_along_the_contracted_axis(acc, rng):
    a = jnp.asarray(rng.normal(size=(2, 3, 32)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(2, 32, 5)), jnp.float32)
    p = Policy(matmul_format="mxfp4", weight_format="nvfp4", accumulator=acc)
    got = jax.jit(emulate(jnp.matmul, p))(a, w)
    aq, wq = B.quantize(a, "mxfp4", axis=-1), B.quantize(w, "nvfp4", axis=-2)
    if acc is None:
        want = jnp.matmul(aq, wq, precision=jax.lax.Precision.HIGHEST)
    else:
        want = jnp.stack([lpemu.matmul(x, y, in_fmt="mxfp4", b_fmt="nvfp4", inputs="assume", accumulator=acc)
                          for x, y in zip(aq, wq)])
    assert_same_bits(got, want)


CONVS = [  # strides, padding, lhs dilation, rhs dilation, groups, layout
    ((1, 1), "SAME", (1, 1), (1, 1), 1, ("NCHW", "OIHW", "NCHW")),
    ((2, 1), ((1, 0), (2, 1)), (1, 1), (2, 1), 2, ("NHWC", "HWIO", "NHWC")),
    ((1, 2), ((1, 1), (0, -1)), (2, 1), (1, 1), 1, ("NHWC", "HWIO", "NCHW")),
]


@pytest.mark.parametrize("case", CONVS, ids=["same", "dilated-grouped-nhwc", "transposed"])
def test_convolution_im2col_matches_exact_float64(case, rng):
    """With an exact accumulator the im2col product equals the float64 convolution of the
    rounded operands (exact: at most 36 products of 16-bit significands)."""
    strides, padding, lhs_dil, rhs_dil, groups, dn = case
    nchw = dn[0] == "NCHW"
    x = jnp.asarray(rng.normal(size=(2, 4, 7, 6) if nchw else (2, 7, 6, 4)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(6, 4 // groups, 3, 2) if nchw else (3, 2, 4 // groups, 6)), jnp.float32)

    def conv(x, w, precision=None):
        return jax.lax.conv_general_dilated(x, w, strides, padding, lhs_dil, rhs_dil, dn, groups, precision=precision)

    got = jax.jit(emulate(conv, Policy(matmul_format="bf16", accumulator=Exact("fp32"))))(x, w)
    with jax.enable_x64(True):
        want = conv(*(jnp.asarray(lpemu.quantize(np.asarray(v), "bf16"), jnp.float64) for v in (x, w)),
                    precision=jax.lax.Precision.HIGHEST)
        want = np.asarray(want).astype(np.float32)
    assert_same_bits(got, want)


def test_convolution_and_windows_with_the_xla_sum(rng):
    """accumulator=None: XLA's own convolution of the rounded operands; average pooling sums
    windows with reduce_accumulator."""
    x = jnp.asarray(rng.normal(size=(1, 5, 5, 2)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, 2, 4)), jnp.float32)
    dn = ("NHWC", "HWIO", "NHWC")
    f = lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=dn)  # noqa: E731
    want = jax.lax.conv_general_dilated(*(lpemu.quantize(v, "e4m3") for v in (x, w)), (1, 1), "SAME",
                                        dimension_numbers=dn, precision=jax.lax.Precision.HIGHEST)
    assert_same_bits(jax.jit(emulate(f, Policy(matmul_format="e4m3")))(x, w), want)
    pool = lambda x: jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")  # noqa: E731
    got = jax.jit(emulate(pool, Policy(format="fp16", reduce_accumulator="fp32")))(x)
    xb = np.asarray(lpemu.quantize(x, "fp16"), np.float64)
    windows = xb[:, :4, :4].reshape(1, 2, 2, 2, 2, 2).sum(axis=(2, 4))  # exact, also in float32
    assert_same_bits(got, lpemu.quantize(windows, "fp16").astype(np.float32))


# -- control flow ----------------------------------------------------------------------------------------
def test_control_flow_is_entered(rng):
    """jit, custom_jvp (relu), scan, while, cond and checkpoint bodies are emulated."""
    x = jnp.asarray(rng.normal(size=5), jnp.float32)

    def f(x):
        h = jax.jit(lambda v: jax.nn.relu(v * 1.1))(x)
        c, ys = jax.lax.scan(lambda c, v: (c * 0.9 + v, c / 3.0), 0.0, h)
        w = jax.lax.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, s[1] * 1.3), (0, c))[1]
        z = jax.lax.cond(w > 0, lambda v: v + 0.1, lambda v: v - 0.1, w)
        return jax.checkpoint(lambda v: jnp.exp(v) * 2.0)(ys) + z

    p = Policy(format="bf16")

    def hand(x):
        h = p.apply(jax.nn.relu, p.binary("mul", x, 1.1))
        c, ys = jax.lax.scan(lambda c, v: (p.binary("add", p.binary("mul", c, 0.9), v), p.binary("div", c, 3.0)),
                             jnp.float32(0.0), h)
        w = jax.lax.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, p.binary("mul", s[1], 1.3)), (0, c))[1]
        z = jnp.where(w > 0, p.binary("add", w, 0.1), p.binary("sub", w, 0.1))
        return p.binary("add", p.binary("mul", p.apply(jnp.exp, ys), 2.0), z)

    assert_same_bits(jax.jit(emulate(f, p))(x), jax.jit(hand)(x))


def test_custom_vjp_functions_keep_their_rule(rng):
    @jax.custom_vjp
    def scaled(x):
        return jnp.sin(x)

    scaled.defvjp(lambda x: (jnp.sin(x), x), lambda x, g: (100.0 * g,))
    x = jnp.asarray(rng.normal(size=3), jnp.float32)
    f = lambda x: jnp.sum(scaled(x))  # noqa: E731
    p = Policy(format="e5m2")
    assert_same_bits(emulate(f, p)(x), p.sum(p.apply(jnp.sin, x)))
    np.testing.assert_array_equal(jax.grad(emulate(f, p))(x), np.full(3, 100.0, np.float32))


# -- names, kinds, transformations -----------------------------------------------------------------------
def _scoped(x):
    with jax.named_scope("encoder"):
        with jax.named_scope("softmax"):
            s = jax.nn.softmax(x)
        with jax.named_scope("mlp"):
            h = jnp.tanh(x * 1.3)
    return s, h


@pytest.mark.parametrize("rules", [{"*softmax*": None}, {re.compile(r"encoder/soft\w+"): None}],
                         ids=["fnmatch", "regex"])
def test_rules_exempt_named_scopes(rules, rng):
    x = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    p = Policy(format="e4m3", rules=rules)
    s, h = jax.jit(emulate(_scoped, p))(x)
    assert_same_bits(s, jax.jit(jax.nn.softmax)(x))
    q = Policy(format="e4m3")
    assert_same_bits(h, q.apply(jnp.tanh, q.binary("mul", x, 1.3)))


def test_rules_pick_policies_first_match_wins(rng):
    x = jnp.asarray(rng.normal(size=(3, 4)), jnp.float32)
    bf16 = Policy(format="bf16")
    p = Policy(format="e4m3", rules=(("encoder/mlp", bf16), ("encoder/*", None)))
    s, h = jax.jit(emulate(_scoped, p))(x)
    assert_same_bits(h, bf16.apply(jnp.tanh, bf16.binary("mul", x, 1.3)))
    assert_same_bits(s, jax.jit(jax.nn.softmax)(x))


def test_kinds_override_per_kind(rng):
    x = jnp.asarray(rng.normal(size=8), jnp.float32)
    p = Policy(format="e4m3", kinds={"transcendental": None, "arith": Policy(format="bf16")})
    got = jax.jit(emulate(lambda v: jnp.tanh(v * 1.3) + 1.0, p))(x)
    bf16 = Policy(format="bf16")
    assert_same_bits(got, bf16.binary("add", jnp.tanh(bf16.binary("mul", x, 1.3)), 1.0))


def test_eager_jit_vmap_agree(rng):
    xs = jnp.asarray(rng.normal(size=(3, 6)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(6, 2)), jnp.float32)
    f = emulate(lambda x, w: jnp.tanh(x @ w).sum(), POLICIES["fp8_e4m3"])
    eager = np.stack([np.asarray(f(x, w)) for x in xs])
    assert_same_bits(jax.jit(jax.vmap(f, in_axes=(0, None)))(xs, w), eager)
    assert_same_bits(jax.jit(f)(xs[1], w), eager[1])


def test_static_arguments_and_pytrees(rng):
    x = jnp.asarray(rng.normal(size=4), jnp.float32)

    def f(params, x, *, scale: float, act=jnp.tanh):
        return {"y": act(params["w"] * x) * scale, "n": x.shape[0]}

    out = emulate(f, P16)({"w": np.float32(1.5)}, x, scale=2.0)
    assert set(out) == {"y", "n"} and int(out["n"]) == 4
    assert_same_bits(out["y"], P16.binary("mul", P16.apply(jnp.tanh, P16.binary("mul", np.float32(1.5), x)), 2.0))


def test_stochastic_rounding_sites_get_their_own_seeds(rng):
    x = jnp.asarray(rng.uniform(1, 2, size=256), jnp.float32)
    f = lambda v: (v * 1.1, v * 1.1)  # noqa: E731
    a, b = jax.jit(emulate(f, Policy(format="bf16", rounding="stochastic", seed=3)))(x)
    assert not np.array_equal(bits(a), bits(b))
    a2, _ = jax.jit(emulate(f, Policy(format="bf16", rounding="stochastic", seed=3)))(x)
    assert_same_bits(a, a2)


def test_ieee_fp32_policy_is_ieee_binary32(rng):
    """format="fp32" is op-by-op IEEE binary32 (numpy's float32), which XLA's own float32 on CPU
    is not: it fuses a * b + c into an FMA and divides by a constant through its reciprocal."""
    x = rng.normal(size=1000).astype(np.float32)
    f = lambda v: v * np.float32(1.3) + v / np.float32(2.8284271)  # noqa: E731
    want = x * np.float32(1.3) + x / np.float32(2.8284271)
    assert_same_bits(jax.jit(emulate(f, Policy(format="fp32")))(x), want)
    assert_same_bits(jax.jit(emulate(f, POLICIES["fp32"]))(x), jax.jit(f)(x))


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_presets(name, rng):
    p = Policy.preset(name)
    assert p is POLICIES[name]
    x = jnp.asarray(rng.normal(size=(2, 32)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(32, 3)), jnp.float32)
    out = jax.jit(emulate(lambda x, w: jnp.tanh(x @ w), p))(x, w)
    assert out.shape == (2, 3) and np.isfinite(np.asarray(out)).all()


def test_the_rule_table():
    assert {r.kind for r in RULES.values()} == {*KINDS, "structural", "control"}
    for name in ("dot_general", "conv_general_dilated", "reduce_sum", "exp", "tanh", "logistic", "erf", "scan",
                 "while", "cond", "jit", "custom_jvp_call", "custom_vjp_call", "reshape", "select_n"):
        assert name in RULES


# -- errors ----------------------------------------------------------------------------------------------
BAD = [
    (lambda: emulate(3, Policy()), "fn must be callable"),
    (lambda: emulate(jnp.sin, {"format": "bf16"}), "policy must be a lpemu.jax.Policy"),
    (lambda: emulate(jnp.sin, "fp7"), "Policy.preset: name must be one of fp32"),
    (lambda: Policy(rules={3: None}), "pattern must be a str"),
    (lambda: Policy(rules=[("a", "bf16")]), "rules must be"),
    (lambda: Policy(kinds={"softmax": None}), "kinds keys must be one of arith"),
    (lambda: Policy(operands="maybe"), "operands must be 'quantize' or 'assume'"),
    (lambda: Policy(product="approx"), "product must be one of exact"),
    (lambda: Policy(accumulator="int3x"), "accumulator must be an accumulator model"),
    (lambda: Policy(format="fp16").binary("pow", 1.0, 2.0), "op must be one of"),
    (lambda: Policy(format="fp16").matmul(jnp.ones((2, 2, 2)), jnp.ones((2, 2))), "use Policy.dot_general"),
    (lambda: Policy().for_kind("softmax"), "kind must be one of"),
]


@pytest.mark.parametrize("call, message", BAD, ids=[m for _, m in BAD])
def test_bad_arguments(call, message):
    with pytest.raises(lpemu.LpemuError, match=re.escape(message)):
        call()


def _factor(a):
    with jax.named_scope("factor"):
        return jnp.linalg.cholesky(a) * 1.1


def test_a_primitive_without_rule_is_named_unless_its_scope_is_exempt():
    with pytest.raises(UnsupportedPrimitiveError, match="'cholesky' .in factor"):
        emulate(_factor, Policy(format="bf16"))(jnp.eye(2))
    a = jnp.asarray([[4.0, 2.0], [2.0, 3.0]], jnp.float32)
    assert_same_bits(emulate(_factor, Policy(format="bf16", rules={"factor": None}))(a), _factor(a))
