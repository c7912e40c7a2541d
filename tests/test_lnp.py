"""lpemu.numpy, the drop-in jax.numpy: every function without a policy (jax.numpy's bits), under a
policy (values of the format), and each way of emulating bit for bit against lpemu's primitives."""

from __future__ import annotations

import pathlib
import re

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np
import pytest

import lpemu
import lpemu.numpy as lnp
from lpemu import Sequential
from lpemu.jax import LPArray, NotEmulatedError, Policy, use_policy
from lpemu.jax._namespace import EXTRAS, TABLE, public_names

HIGHEST = jax.lax.Precision.HIGHEST
BF16 = Policy(format="bf16", rounding="up")  # results round up, operands to nearest: both visible

_rng = np.random.default_rng(20261122)
A = jnp.asarray(_rng.uniform(-2, 2, (4, 6)).astype(np.float32))
B = jnp.asarray(_rng.uniform(-2, 2, (4, 6)).astype(np.float32))
POS = jnp.abs(A) + 1.0

POSITIVE = {"sqrt", "log", "log1p", "log2", "log10", "arccosh"}
UNARY = ("abs absolute fabs negative sqrt exp exp2 expm1 log log1p log2 log10 sin cos tan arcsin arccos arctan "
         "sinh cosh tanh arcsinh arccosh arctanh cbrt ceil floor trunc rint sign square reciprocal erf sigmoid relu "
         "asarray array empty_like ones_like zeros_like atleast_1d atleast_2d atleast_3d copy diagonal flip isfinite "
         "isinf isnan logical_not positive ravel transpose tril triu ndim shape size")
BINARY = ("add subtract multiply divide true_divide arctan2 copysign floor_divide fmax fmin fmod hypot logaddexp "
          "maximum minimum mod power remainder equal not_equal less less_equal greater greater_equal logical_and "
          "logical_or logical_xor inner vdot result_type broadcast_arrays")
ALONG_AXIS = ("amax amin max min prod sum mean var std cumsum cumprod argmax argmin sort argsort logsumexp softmax "
              "log_softmax")
#: One call of every public function (``f`` is lnp's or jax's).
SAMPLES = {
    **{name: lambda f, x=(POS if name in POSITIVE else A): f(x) for name in UNARY.split()},
    **{name: lambda f: f(A, B) for name in BINARY.split()},
    **{name: lambda f: f(A, axis=1) for name in ALONG_AXIS.split()},
    "astype": lambda f: f(A, jnp.int32), "clip": lambda f: f(A, -0.3, 0.7), "round": lambda f: f(A, 1),
    "arange": lambda f: f(0.0, 1.0, 0.1), "linspace": lambda f: f(0.0, 1.0, 7), "eye": lambda f: f(3),
    "identity": lambda f: f(3), "zeros": lambda f: f((2, 3)), "ones": lambda f: f((2, 3)), "empty": lambda f: f((2,)),
    "full": lambda f: f((2,), 0.1), "full_like": lambda f: f(A, 0.1),
    "broadcast_to": lambda f: f(A[0], (3, 6)), "concatenate": lambda f: f([A, B]), "stack": lambda f: f([A, B]),
    "hstack": lambda f: f([A, B]), "vstack": lambda f: f([A, B]), "expand_dims": lambda f: f(A, 0),
    "issubdtype": lambda f: f(A.dtype, jnp.floating), "moveaxis": lambda f: f(A, 0, 1), "pad": lambda f: f(A, 1),
    "promote_types": lambda f: f(jnp.float32, jnp.int32), "repeat": lambda f: f(A, 2, axis=0),
    "reshape": lambda f: f(A, (6, 4)), "roll": lambda f: f(A, 1), "select": lambda f: f([A > 0, A < -1], [A, B], 0.1),
    "split": lambda f: f(A, 2), "squeeze": lambda f: f(A[None]), "swapaxes": lambda f: f(A, 0, 1),
    "take": lambda f: f(A, jnp.array([0, 2])), "take_along_axis": lambda f: f(A, jnp.argsort(A, 1), 1),
    "tile": lambda f: f(A, 2), "where": lambda f: f(A > 0, A, 0.1),
    "dot": lambda f: f(A, B.T), "einsum": lambda f: f("ij,kj->ik", A, B), "matmul": lambda f: f(A, B.T),
    "outer": lambda f: f(A[0], B[0]), "tensordot": lambda f: f(A, B.T, 1),
}


def jax_function(name):
    """The JAX function lnp.<name> mirrors, found independently of lpemu's table."""
    path = EXTRAS.get(name, f"jax.numpy.{name}")
    module, attr = path.rsplit(".", 1)
    return getattr({"jax.numpy": jnp, "jax.nn": jax.nn, "jax.scipy.special": jax.scipy.special}[module], attr)


def float_leaves(tree):
    return [np.asarray(x.value if isinstance(x, LPArray) else x) for x in
            jax.tree.leaves(tree, is_leaf=lambda x: isinstance(x, LPArray))]


def bits(x):
    a = np.asarray(x.value if isinstance(x, LPArray) else x)
    return a.view(np.uint32) if a.dtype == np.float32 else a


def assert_same(actual, expected, wrapped=True):
    assert isinstance(actual, LPArray) == wrapped, type(actual)
    assert np.shape(actual.value if wrapped else actual) == np.shape(expected)
    np.testing.assert_array_equal(bits(actual), bits(expected))


def q(x, fmt="bf16", rounding="nearest_even"):
    return lpemu.quantize(jnp.asarray(x, jnp.float32), fmt, rounding)


def test_every_function_has_a_sample():
    assert sorted(SAMPLES) == public_names()
    assert sorted(lnp.__all__) == public_names()


@pytest.mark.parametrize("name", public_names())
def test_without_a_policy_every_function_is_jax_bit_for_bit(name):
    expected = SAMPLES[name](jax_function(name))
    actual = SAMPLES[name](getattr(lnp, name))
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        assert not isinstance(a, LPArray)
        np.testing.assert_array_equal(bits(a), bits(e))


@pytest.mark.parametrize("name", public_names())
def test_under_a_policy_every_result_holds_values_of_the_format(name):
    with use_policy(BF16):
        out = SAMPLES[name](getattr(lnp, name))
    leaves = jax.tree.leaves(out, is_leaf=lambda x: isinstance(x, LPArray))
    for leaf in leaves:
        if isinstance(leaf, (jax.Array, np.ndarray)):
            pytest.fail(f"{name} returned a plain array under a policy")
        if isinstance(leaf, LPArray):
            assert leaf.policy == BF16
            if jnp.issubdtype(leaf.dtype, jnp.floating):
                np.testing.assert_array_equal(q(leaf.value), leaf.value)  # NaN equals NaN here
    if TABLE[name].how == "structural" and name not in ("where", "select"):
        # inputs of the format in, the same values out: structural functions create none
        with use_policy(BF16):
            out = SAMPLES[name](lambda *a, **k: getattr(lnp, name)(*jax.tree.map(q_floats, a), **k))
        expected = SAMPLES[name](lambda *a, **k: jax_function(name)(*jax.tree.map(q_floats, a), **k))
        for a, e in zip(float_leaves(out), float_leaves(expected)):
            np.testing.assert_array_equal(bits(a), bits(e))


def q_floats(x):
    return q(x) if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating) else x


# -- each way of emulating, against the primitives ----------------------------------------------

def test_arithmetic_rounds_plain_operands_to_nearest_then_the_result_once():
    with use_policy(BF16):
        assert_same(lnp.divide(A, B), lpemu.div(q(A), q(B), "bf16", "up"))
        assert_same(lnp.subtract(1, A), lpemu.sub(1.0, q(A), "bf16", "up"))
        assert_same(lnp.square(A), lpemu.mul(q(A), q(A), "bf16", "up"))
        assert_same(lnp.reciprocal(A), lpemu.div(1.0, q(A), "bf16", "up"))
        assert_same(lnp.sqrt(POS), lpemu.sqrt(q(POS), "bf16", "up"))
    assert_same(lnp.add(A, 0.1, policy="e4m3"), lpemu.add(q(A, "e4m3"), q(0.1, "e4m3"), "e4m3"))


def test_other_elementwise_functions_are_float32_on_rounded_operands_rounded_once():
    with use_policy(BF16):
        assert_same(lnp.exp(A), q(jnp.exp(q(A)), "bf16", "up"))
        assert_same(lnp.tanh(A), q(jnp.tanh(q(A)), "bf16", "up"))
        assert_same(lnp.erf(A), q(jax.scipy.special.erf(q(A)), "bf16", "up"))
        assert_same(lnp.power(POS, 1.7), q(jnp.power(q(POS), q(1.7)), "bf16", "up"))
        assert_same(lnp.clip(A, min=-0.1, max=0.3), jnp.clip(q(A), q(-0.1), q(0.3)))  # keyword operands too
        assert_same(lnp.maximum(A, 0.1), jnp.maximum(q(A), q(0.1)))
        assert_same(lnp.max(A, axis=0, keepdims=True), q(A).max(axis=0, keepdims=True))


def test_created_values_are_rounded_to_nearest():
    with use_policy(BF16):
        assert_same(lnp.full((3,), 0.1), q(jnp.full((3,), 0.1)))
        assert_same(lnp.arange(0.0, 1.0, 0.1), q(jnp.arange(0.0, 1.0, 0.1)))
        assert_same(lnp.asarray([0.1, 2.0]), q(jnp.asarray([0.1, 2.0])))
    assert_same(lnp.zeros(2, policy="e8m0"), jnp.full(2, jnp.nan))  # E8M0 has no zero


def test_where_rounds_its_plain_operands():
    with use_policy(BF16):
        assert_same(lnp.where(A > 0, A, 0.1), jnp.where(A > 0, q(A), q(0.1)))
        assert_same(lnp.concatenate([LPArray(A, BF16), B]), jnp.concatenate([q(A), q(B)]))


ACC = Sequential("bf16")
DOT = Policy(format="bf16", matmul_format="e4m3", accumulator=ACC)


def ref(a, b):
    """DOT's 2-D product written with lpemu.matmul."""
    return q(lpemu.matmul(a, b, in_fmt="e4m3", accumulator=ACC))


def test_matmul_family_runs_the_accumulator_model():
    # every contraction below is one (4, 6) @ (6, 4) product, or two (2, 6) @ (6, 2) ones
    expected = ref(A, B.T)
    a3, b3 = A.reshape(2, 2, 6), B.reshape(2, 6, 2)
    batched = jnp.stack([ref(a3[i], b3[i]) for i in range(2)])
    with use_policy(DOT):
        assert_same(lnp.matmul(A, B.T), expected)
        assert_same(lnp.dot(A, B.T), expected)
        assert_same(lnp.inner(A, B), expected)
        assert_same(lnp.einsum("ij,kj->ki", A, B), expected.T)
        assert_same(lnp.einsum("ij,kj", A, B), expected)  # implicit output
        assert_same(lnp.einsum("...j,kj->...k", a3, B), expected.reshape(2, 2, 4))
        assert_same(lnp.tensordot(A.reshape(4, 2, 3), B.reshape(4, 2, 3), axes=([1, 2], [1, 2])), expected)
        assert_same(lnp.einsum("ij->ji", A), A.T)
        assert_same(lnp.matmul(a3, b3), batched)
        assert_same(lnp.einsum("bij,bjk->bik", a3, b3), batched)


def test_sum_and_mean_use_the_reduce_accumulator():
    p = Policy(format="bf16", reduce_accumulator=ACC)
    mask = A > -1
    rows = []
    for i in range(4):  # each row summed left to right, every addition rounded into bf16
        total = jnp.float32(0)
        for k in range(6):
            total = lpemu.add(total, jnp.where(mask[i, k], q(A[i, k]), 0.0), "bf16")
        rows.append(total)
    sums = jnp.stack(rows)
    with use_policy(p):
        assert_same(lnp.sum(A, axis=1, where=mask), sums)
        assert_same(lnp.sum(A, axis=-1, where=mask, keepdims=True), sums[:, None])
        counts = mask.sum(axis=1).astype(jnp.float32)
        assert_same(lnp.mean(A, axis=1, where=mask), lpemu.div(sums, counts, "bf16"))


def test_mean_divides_by_the_exact_count():
    # 257 ones sum to 256 in bfloat16 (8 significant bits); the count stays 257, where rounded into
    # bfloat16 as an operand it would be 256 too, and the mean 1
    mean = lnp.mean(jnp.ones(257), policy="bf16")
    assert_same(mean, lpemu.div(jnp.float32(256), jnp.float32(257), "bf16", in_fmt="fp32"))
    assert float(mean) == 0.99609375


def test_softmax_and_logsumexp_are_written_with_emulated_steps():
    with use_policy(BF16):
        x = q(A)
        shifted = lpemu.sub(x, x.max(axis=1, keepdims=True), "bf16", "up")
        e = q(jnp.exp(shifted), "bf16", "up")
        total = q(e.sum(axis=1, keepdims=True), "bf16", "up")
        assert_same(lnp.softmax(A, axis=1), lpemu.div(e, total, "bf16", "up"))
        lse = lpemu.add(q(jnp.log(total[:, 0]), "bf16", "up"), x.max(axis=1), "bf16", "up")
        assert_same(lnp.logsumexp(A, axis=1), lse)


def mlp(xp, x, w1, b1, w2):
    """A two-layer model written against a jax.numpy-like module ``xp``, operators included."""
    h = xp.tanh(xp.matmul(x, w1) + b1)
    return xp.mean(xp.square(h @ w2 - 1.0), axis=-1)


def test_a_model_runs_unchanged_by_swapping_the_import():
    x, w1, b1, w2 = q(A), B.T / 2, B[0, :4], B[:4, :3]
    np.testing.assert_array_equal(bits(mlp(lnp, x, w1, b1, w2)), bits(mlp(jnp, x, w1, b1, w2)))
    p = Policy(format="bf16", matmul_format="e4m3")
    with use_policy(p):
        out = mlp(lnp, x, w1, b1, w2)
    # the same model with lpemu's primitives: operands into e4m3 for products, everything else bf16
    t = q(jnp.matmul(q(x, "e4m3"), q(w1, "e4m3"), precision=HIGHEST))
    h = q(jnp.tanh(lpemu.add(t, b1, "bf16")))
    d = lpemu.sub(q(jnp.matmul(q(h, "e4m3"), q(w2, "e4m3"), precision=HIGHEST)), 1.0, "bf16")
    expected = lpemu.div(q(lpemu.mul(d, d, "bf16").sum(axis=-1)), 3.0, "bf16")
    assert_same(out, expected)
    assert_same(mlp(lnp, LPArray(x, p), w1, b1, w2), expected)  # or: the input carries the policy


# -- which policy ---------------------------------------------------------------------------------

def test_the_policy_comes_from_lparrays_then_the_keyword_then_the_context():
    assert isinstance(lnp.exp(A), jax.Array)
    assert lnp.exp(A, policy="e4m3").policy == Policy(format="e4m3")
    with use_policy(BF16):
        assert lnp.exp(A).policy == BF16
        assert lnp.exp(A, policy="e4m3").policy == Policy(format="e4m3")  # the keyword wins over the context
        with pytest.raises(lpemu.InvalidArgumentError, match="the active policy"):
            lnp.exp(LPArray(A, "e4m3"))
    with pytest.raises(lpemu.InvalidArgumentError, match="policy must be a lpemu.jax.Policy or a format"):
        lnp.exp(A, policy=3)


def test_rules_and_kinds_exempt_or_override_as_in_emulate():
    p = Policy(format="bf16", rules=(("head/*", Policy(format="e4m3")), ("exempt", None)),
               kinds=(("transcendental", None),))
    with use_policy(p):
        with jax.named_scope("exempt"):
            exempt = lnp.add(A, B)
        with jax.named_scope("head"), jax.named_scope("out"):
            head = lnp.add(A, B)
        plain_exp, add = lnp.exp(A), lnp.add(A, B)
    assert_same(exempt, A + B)
    assert exempt.policy == p  # the result still carries the policy
    assert_same(head, lpemu.add(q(A, "e4m3"), q(B, "e4m3"), "e4m3"))
    assert_same(plain_exp, jnp.exp(A))
    assert_same(add, lpemu.add(q(A), q(B), "bf16"))


# -- what is refused ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["convolve", "linalg", "fft", "cross", "median", "vectorize"])
def test_functions_not_emulated_raise_on_access(name):
    with pytest.raises(NotEmulatedError, match=rf"lpemu.numpy.{name} is not emulated .*lpemu.emulate"):
        getattr(lnp, name)
    assert not hasattr(lnp, name) and issubclass(NotEmulatedError, lpemu.LpemuError)


def test_dtypes_and_constants_pass_through_and_unknown_names_are_attribute_errors():
    assert lnp.float32 is jnp.float32 and lnp.pi == np.pi and lnp.newaxis is None and lnp.inf == np.inf
    with pytest.raises(AttributeError, match="module 'lpemu.numpy' has no attribute 'not_a_function'") as info:
        lnp.not_a_function
    assert not isinstance(info.value, NotEmulatedError)


@pytest.mark.parametrize("call,match", [
    (lambda: lnp.einsum("ij,jk,kl->il", A, B.T, A), "only two-operand contractions"),
    (lambda: lnp.einsum("ij,jk->i", A, B.T), "every summed label appears in both operands"),
    (lambda: lnp.einsum("ii,ij->j", A[:4, :4], A), "no diagonals"),
    (lambda: lnp.einsum("ij->i", A), "only two-operand contractions"),
    (lambda: lnp.sum(A, dtype=jnp.float16), "sum: dtype=.* is not supported under an lpemu policy"),
    (lambda: lnp.mean(A, out=A), "mean: out=.* is not supported"),
    (lambda: lnp.sum(A, axis=2), r"sum: axis must be None or integers in \[-2, 2\)"),
    (lambda: lnp.matmul(A, 2.0), "matmul: operands must be at least 1-D"),
    (lambda: lnp.logsumexp(A, b=A), "logsumexp: b=.* is not supported"),
    (lambda: lnp.add(A), r"add\(\) takes 2 positional operand"),
], ids=["three-operands", "summed-in-one", "diagonal", "reduction", "sum-dtype", "mean-out", "sum-axis",
        "matmul-scalar", "logsumexp-b", "arity"])
def test_bad_arguments_under_a_policy(call, match):
    with use_policy(BF16), pytest.raises((lpemu.InvalidArgumentError, TypeError), match=match):
        call()


def test_docs_list_every_function_under_its_emulation():
    text = (pathlib.Path(__file__).parents[1] / "docs" / "semantics.md").read_text()
    section = text[text.index("## Tensor wrapper and lpemu.numpy"):]
    for how in {TABLE[name].how for name in public_names()}:
        listed = re.search(rf"^\* `{how}`[^:]*: (.*)$", section, re.MULTILINE)
        assert listed, f"docs/semantics.md lists no `{how}` functions"
        names = re.findall(r"`([a-z_0-9]+)`", listed.group(1))
        assert sorted(names) == [n for n in public_names() if TABLE[n].how == how], how
