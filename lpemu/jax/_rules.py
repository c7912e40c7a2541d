"""The rule table of :func:`lpemu.emulate`: what each JAX primitive becomes under a policy.

One entry per primitive name. A :class:`Rule` has a kind and a function:

* ``structural``: values pass through unchanged (reshape, transpose, slices, gathers, select,
  conversions, comparisons, integer and bit operations, random bits): bound as they are.
* ``arith``, ``exact``, ``transcendental``, ``matmul``, ``reduce`` (:data:`lpemu.jax.KINDS`): the
  function maps the primitive onto a :class:`~lpemu.jax.Policy` method, which does the rounding.
  An equation with no floating-point output (integer add, argmax) is bound as it is.
* ``control``: primitives holding jaxprs (jit, custom_jvp/custom_vjp, scan, while, cond,
  checkpoint): the function interprets the inner jaxprs and rebuilds the primitive around them.

A primitive with no entry makes :func:`lpemu.emulate` raise :class:`UnsupportedPrimitiveError`
naming it: nothing runs at full precision unnoticed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
from jax import lax

from ..errors import UnsupportedPrimitiveError
from . import _products
from ._policy import KINDS, Policy
from ._ste import ste

__all__ = ["Rule", "RULES", "UnsupportedPrimitiveError", "bind", "channel_axis"]


class Rule(NamedTuple):
    """How :func:`lpemu.emulate` treats one primitive."""

    #: ``"structural"``, ``"control"`` or one of :data:`lpemu.jax.KINDS`.
    kind: str
    #: structural: None. Kinds: ``fn(policy, eqn, *operands) -> list of outputs``. Control:
    #: ``fn(interpreter, eqn, operands, scope) -> list of outputs``.
    fn: Callable[..., list] | None = None
    #: structural: whether every floating-point output value is one of the floating-point input
    #: values (so values of a format stay values of it; reduce_precision's do not).
    preserves: bool = True


def bind(eqn: Any, operands: Any) -> list:
    """The equation's primitive applied to ``operands`` as JAX would (no emulation)."""
    params = eqn.primitive.get_bind_params(eqn.params)
    with eqn.ctx.manager:
        out = eqn.primitive.bind(*operands, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


# -- kinds: one Policy method per primitive ------------------------------------------------------
def _binary(op: str) -> Callable[..., list]:
    return lambda p, eqn, x, y: [p.binary(op, x, y)]


def _unary(op: str) -> Callable[..., list]:
    return lambda p, eqn, x: [p.unary(op, x)]


def _square(p: Policy, eqn: Any, x: Any) -> list:
    return [p.binary("mul", x, x)]


def _integer_pow(p: Policy, eqn: Any, x: Any) -> list:
    y = eqn.params["y"]
    if y == 2:  # x * x, correctly rounded
        return [p.binary("mul", x, x)]
    return [p.apply(lambda v: lax.integer_pow(v, y), x)]


def _rounded(p: Policy, eqn: Any, *operands: Any) -> list:
    """The primitive computed in float32 on rounded operands, its result rounded once."""
    return [p.apply(lambda *xs: bind(eqn, xs)[0], *operands)]


def _reduce_sum(p: Policy, eqn: Any, x: Any) -> list:
    return [p.sum(x, axis=eqn.params["axes"])]


def _reduce_window_sum(p: Policy, eqn: Any, x: Any) -> list:
    q = eqn.params
    wins = _products.windows(x, q["window_dimensions"], q["window_strides"], q["padding"], q["base_dilation"],
                             q["window_dilation"])
    return [p.sum(wins, axis=-1)]


def _dot_general(p: Policy, eqn: Any, a: Any, b: Any, bias: Any = None) -> list:
    q = eqn.params
    return [p.dot_general(a, b, q["dimension_numbers"], q["precision"], q["preferred_element_type"], bias=bias)]


def _conv(p: Policy, eqn: Any, lhs: Any, rhs: Any, bias: Any = None) -> list:
    q = eqn.params
    return [p.conv(lhs, rhs, q["window_strides"], q["padding"], q["lhs_dilation"], q["rhs_dilation"],
                   q["dimension_numbers"], q["feature_group_count"], q["batch_group_count"], q["precision"],
                   q["preferred_element_type"], bias=bias)]


def channel_axis(eqn: Any, weights: int) -> int | None:
    """The result axis holding the output channels of a dot_general (the weight operand's one
    free dimension) or convolution (its output feature axis), or None if there is none."""
    q = eqn.params
    if eqn.primitive.name == "conv_general_dilated":
        return int(q["dimension_numbers"].out_spec[1])
    return _products.dot_channel_axis(q["dimension_numbers"], tuple(v.aval.ndim for v in eqn.invars), weights)


# -- control: interpret the inner jaxprs ---------------------------------------------------------
def _closed(jaxpr: Any) -> tuple[Any, tuple]:
    """(jaxpr, consts) of a ClosedJaxpr or an open Jaxpr."""
    return (jaxpr.jaxpr, tuple(jaxpr.consts)) if hasattr(jaxpr, "consts") else (jaxpr, ())


def _call(interp: Any, eqn: Any, operands: list, scope: tuple) -> list:
    """jit / closed_call: the inner jaxpr, inlined."""
    inner = eqn.params.get("jaxpr", eqn.params.get("call_jaxpr"))
    return interp.run(*_closed(inner), operands, scope)


def _custom_derivative(interp: Any, eqn: Any, operands: list, scope: tuple) -> list:
    """custom_jvp / custom_vjp: the emulated function, differentiated by the user's rule."""
    jaxpr, consts = _closed(eqn.params["call_jaxpr"])

    def emulated(*xs: Any) -> list:
        return interp.run(jaxpr, consts, xs, scope)

    return list(ste(emulated, like=lambda *xs: bind(eqn, xs))(*operands))


def _scan(interp: Any, eqn: Any, operands: list, scope: tuple) -> list:
    q = eqn.params
    jaxpr, consts = _closed(q["jaxpr"])
    nc, ncarry = q["num_consts"], q["num_carry"]
    fixed, init, xs = operands[:nc], operands[nc:nc + ncarry], operands[nc + ncarry:]

    def body(carry: list, x: list) -> tuple[list, list]:
        out = interp.run(jaxpr, consts, [*fixed, *carry, *x], scope)
        return out[:ncarry], out[ncarry:]

    carry, ys = lax.scan(body, list(init), list(xs), length=q["length"], reverse=q["reverse"], unroll=q["unroll"])
    return [*carry, *ys]


def _while(interp: Any, eqn: Any, operands: list, scope: tuple) -> list:
    q = eqn.params
    nc, nb = q["cond_nconsts"], q["body_nconsts"]
    cond_fixed, body_fixed, init = operands[:nc], operands[nc:nc + nb], operands[nc + nb:]
    cond_jaxpr, body_jaxpr = _closed(q["cond_jaxpr"]), _closed(q["body_jaxpr"])

    def cond(carry: list) -> Any:
        return interp.run(*cond_jaxpr, [*cond_fixed, *carry], scope)[0]

    def body(carry: list) -> list:
        return interp.run(*body_jaxpr, [*body_fixed, *carry], scope)

    return list(lax.while_loop(cond, body, list(init)))


def _cond(interp: Any, eqn: Any, operands: list, scope: tuple) -> list:
    def branch(closed: Any, *xs: Any) -> list:
        return interp.run(*_closed(closed), xs, scope)

    branches = [functools.partial(branch, b) for b in eqn.params["branches"]]
    return list(lax.switch(operands[0], branches, *operands[1:]))


def _checkpoint(interp: Any, eqn: Any, operands: list, scope: tuple) -> list:
    q = eqn.params
    jaxpr, consts = _closed(q["jaxpr"])

    def fn(*xs: Any) -> list:
        return interp.run(jaxpr, consts, xs, scope)

    return list(jax.checkpoint(fn, prevent_cse=q["prevent_cse"], policy=q["policy"])(*operands))


# -- the table -----------------------------------------------------------------------------------
_STRUCTURAL = (
    "reshape", "transpose", "broadcast_in_dim", "squeeze", "expand_dims", "slice", "dynamic_slice",
    "dynamic_update_slice", "gather", "scatter", "concatenate", "pad", "select_n", "rev", "copy", "copy_p",
    "split", "convert_element_type", "bitcast_convert_type", "iota", "stop_gradient",
    "sort", "top_k", "argmax", "argmin", "eq", "ne", "lt", "le", "gt", "ge", "is_finite", "and", "or", "not",
    "xor", "shift_left", "shift_right_arithmetic", "shift_right_logical", "population_count", "clz",
    "reduce_and", "reduce_or", "reduce_xor", "sharding_constraint", "device_put", "optimization_barrier",
    "random_bits", "random_seed", "random_wrap", "random_unwrap", "random_fold_in", "random_split",
    "threefry2x32", "debug_callback", "pvary",
)
_EXACT = ("max", "min", "clamp", "sign", "floor", "ceil", "round", "rem", "reduce_max", "reduce_min", "cummax",
          "cummin", "reduce_window_max", "reduce_window_min")
_TRANSCENDENTAL = (
    "exp", "exp2", "log", "log1p", "expm1", "tanh", "logistic", "sin", "cos", "tan", "asin", "acos", "atan",
    "atan2", "sinh", "cosh", "asinh", "acosh", "atanh", "erf", "erfc", "erf_inv", "lgamma", "digamma", "pow",
    "rsqrt", "cbrt",
)

RULES: dict[str, Rule] = {
    **{name: Rule("structural") for name in _STRUCTURAL},
    "reduce_precision": Rule("structural", preserves=False),
    **{op: Rule("arith", _binary(op)) for op in ("add", "sub", "mul", "div")},
    "add_any": Rule("arith", _binary("add")),
    **{op: Rule("arith", _unary(op)) for op in ("sqrt", "neg", "abs")},
    "square": Rule("arith", _square),
    "integer_pow": Rule("transcendental", _integer_pow),
    **{name: Rule("exact", _rounded) for name in _EXACT},
    **{name: Rule("transcendental", _rounded) for name in _TRANSCENDENTAL},
    "reduce_sum": Rule("reduce", _reduce_sum),
    "reduce_window_sum": Rule("reduce", _reduce_window_sum),
    **{name: Rule("reduce", _rounded) for name in ("reduce_prod", "cumsum", "cumprod", "cumlogsumexp",
                                                   "scatter-add", "scatter_add")},
    "dot_general": Rule("matmul", _dot_general),
    "conv_general_dilated": Rule("matmul", _conv),
    **{name: Rule("control", _call) for name in ("jit", "pjit", "closed_call", "core_call")},
    **{name: Rule("control", _custom_derivative) for name in ("custom_jvp_call", "custom_vjp_call")},
    "scan": Rule("control", _scan),
    "while": Rule("control", _while),
    "cond": Rule("control", _cond),
    **{name: Rule("control", _checkpoint) for name in ("remat2", "checkpoint")},
}

assert all(r.kind in (*KINDS, "structural", "control") for r in RULES.values())
