"""``lpemu.emulate``: run an existing JAX function or model under an emulation policy.

The transform traces the function to a jaxpr and interprets it equation by equation (as in JAX's
"Writing custom interpreters" and equinox's ``finalise_jaxpr``), mapping each primitive through
the rule table of ``lpemu.jax._rules`` onto :class:`~lpemu.jax.Policy` methods. The result is an
ordinary JAX function: it works under ``jit``, ``vmap`` and ``grad`` (straight-through, see
:func:`lpemu.ste`) and on sharded arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.extend.core import Literal

from .._modes import rounding_mode
from ..errors import InvalidArgumentError
from ._policy import POLICIES, Policy
from ._rules import RULES, UnsupportedPrimitiveError, bind, channel_axis

__all__ = ["emulate"]


def emulate(fn: Callable[..., Any], policy: Policy | str) -> Callable[..., Any]:
    """``fn`` with every floating-point operation emulated as ``policy`` says, bit for bit.

    The returned function takes the same arguments as ``fn``. Each call traces ``fn`` to a jaxpr
    (array leaves of the arguments are traced, every other leaf is held static, as
    ``equinox.filter_jit`` does) and evaluates it with each primitive mapped onto the policy:

    * add, sub, mul, div, sqrt (and neg, abs, square) are correctly rounded into ``format``;
    * transcendental functions (exp, log, tanh, logistic, erf, pow, rsqrt, ...) are computed in
      float32 on rounded operands and rounded once: not correctly rounded;
    * max, min, floor, clamp, ... and max/min reductions: their exact result, rounded;
    * dot_general and convolutions round their operands into ``matmul_format`` /
      ``weight_format`` (block formats along the contracted axis) and sum the products with
      ``accumulator`` (:meth:`Policy.dot_general`, :meth:`Policy.conv`); sums use
      ``reduce_accumulator``;
    * structural primitives (reshape, transpose, broadcast, slice, gather, concatenate, select,
      conversions, comparisons) and integer operations are exact and run as they are;
    * jit, custom_jvp, custom_vjp, scan, while, cond and checkpoint are entered: their inner
      equations are emulated;
    * with an integer-only policy (``Policy(integer=...)``, the ``int8_dyadic`` preset), a
      dot_general or convolution followed directly by the add of a per-channel vector (the
      layer's bias: Flax's ``Dense``/``Conv``, Equinox's ``Linear``) runs as one layer: the bias
      is added to the int32 accumulator before requantization (:class:`~lpemu.jax.IntegerMatmul`).

    Each equation's policy is ``policy.resolve(scope, kind)``: ``scope`` is the name of its
    ``jax.named_scope`` / Flax Linen module path ("MLP/fc1"), relative to ``fn``, matched by the
    policy's ``rules``; ``kind`` picks from its ``kinds``. Where a policy has a stochastic
    rounding and a seed, the n-th emulated equation uses seed + n, so no two roundings share
    random bits (a scan body's iterations do).

    Gradients are straight-through: ``jax.grad(emulate(f, p))`` differentiates each emulated
    operation as the unrounded one, evaluated at the emulated values (and a custom_jvp /
    custom_vjp function by its own rule), which is what quantization-aware training needs.

    Args:
        fn: a JAX-traceable function (a Flax Linen ``apply``, an NNX or Equinox module...).
        policy: a :class:`~lpemu.jax.Policy` or the name of a preset (:data:`~lpemu.jax.POLICIES`).

    Returns:
        A function with ``fn``'s signature and output structure.

    Raises:
        InvalidArgumentError: ``fn`` is not callable or ``policy`` is not a Policy or a preset name.
        UnsupportedPrimitiveError: (when called) ``fn`` uses a primitive with no rule (named).

    Examples:
        >>> import jax, jax.numpy as jnp, lpemu
        >>> f = lambda x: jnp.sum(x * 1.001)
        >>> x = jnp.ones(8, jnp.float32)
        >>> f(x), lpemu.emulate(f, lpemu.Policy(format="bf16"))(x)
        (Array(8.008, dtype=float32), Array(8., dtype=float32))
        >>> jax.grad(lpemu.emulate(f, "bf16"))(x)[:2]  # d/dx of x * bf16(1.001) = x * 1.0, not 0
        Array([1., 1.], dtype=float32)
    """
    if not callable(fn):
        raise InvalidArgumentError(f"emulate: fn must be callable, got {type(fn).__name__}")
    policy = _as_policy(policy)

    @functools.wraps(fn)
    def emulated(*args: Any, **kwargs: Any) -> Any:
        leaves, treedef = jax.tree.flatten((args, kwargs))
        traced = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]

        def flat(*arrays: Any) -> Any:
            full = list(leaves)
            for i, a in zip(traced, arrays):
                full[i] = a
            a, k = jax.tree.unflatten(treedef, full)
            return fn(*a, **k)

        arrays = [leaves[i] for i in traced]
        closed, out_shape = jax.make_jaxpr(flat, return_shape=True)(*arrays)
        outs = _Interpreter(policy).run(closed.jaxpr, closed.consts, arrays, ())
        return jax.tree.unflatten(jax.tree.structure(out_shape), outs)

    return emulated


def _as_policy(policy: Any) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, str):
        return Policy.preset(policy)
    raise InvalidArgumentError(f"emulate: policy must be a lpemu.jax.Policy or a preset name ({', '.join(POLICIES)}), "
                               f"got {type(policy).__name__}")


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def _is_float(aval: Any) -> bool:
    dtype = getattr(aval, "dtype", None)
    return dtype is not None and np.issubdtype(dtype, np.floating)


def _scope(eqn: Any) -> tuple[str, ...]:
    """The named scopes of an equation's name stack (transforms such as jvp() left out)."""
    return tuple(e.name for e in eqn.source_info.name_stack.stack if type(e).__name__ == "Scope")


class _Pending:
    """The result of an integer-only product that a bias add may follow, computed when needed:
    ``compute(bias)`` for the fused layer, ``compute(None)`` (cached) for any other reader."""

    __slots__ = ("compute", "axis", "key", "value")

    def __init__(self, compute: Callable[[Any], Any], axis: int, key: tuple | None) -> None:
        self.compute, self.axis, self.key, self.value = compute, axis, key, None

    def get(self) -> Any:
        if self.value is None:
            self.value = self.compute(None)
        return self.value


def _bias_of(eqn: Any, env: dict) -> tuple[_Pending, Any] | None:
    """(pending product, bias variable) if ``eqn`` adds a per-channel vector to a pending product."""
    if eqn.primitive.name not in ("add", "add_any"):
        return None
    out = eqn.outvars[0].aval.shape
    for i in (0, 1):
        v, other = eqn.invars[i], eqn.invars[1 - i]
        pending = None if isinstance(v, Literal) else env.get(v)
        if not isinstance(pending, _Pending) or v.aval.shape != out or not _is_float(other.aval):
            continue
        shape = other.aval.shape
        if len(shape) == len(out) and all(n == (out[d] if d == pending.axis else 1) for d, n in enumerate(shape)):
            return pending, other
    return None


class _Interpreter:
    """Evaluates jaxprs with every equation mapped through :data:`RULES` under one policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.sites = 0  # emulated equations so far: seeds of stochastic rounding
        self.assuming: dict[Policy, Policy] = {}  # policy -> the same with operands="assume"

    def run(self, jaxpr: Any, consts: Sequence[Any], args: Sequence[Any], scope: tuple[str, ...]) -> list:
        """The outputs of ``jaxpr`` on ``args``; ``scope`` names the enclosing scopes."""
        env: dict[Any, Any] = {}
        rounded: dict[Any, tuple] = {}  # variables known to hold values of (format, overflow)

        def read(v: Any) -> Any:
            if isinstance(v, Literal):
                return v.val
            x = env[v]
            return x.get() if isinstance(x, _Pending) else x

        env.update(zip(jaxpr.constvars, consts))
        env.update(zip(jaxpr.invars, args))
        for eqn in jaxpr.eqns:
            layer = _bias_of(eqn, env)
            if layer is not None:  # an integer-only layer: its bias joins the int32 accumulator
                pending, bias = layer
                env[eqn.outvars[0]] = pending.compute(read(bias))
                if pending.key is not None:
                    rounded[eqn.outvars[0]] = pending.key
                continue
            keys = [None if isinstance(v, Literal) else rounded.get(v) for v in eqn.invars]
            outs, key = self.equation(eqn, [read(v) for v in eqn.invars], keys, scope + _scope(eqn))
            env.update(zip(eqn.outvars, outs))
            if key is not None:
                rounded.update((v, key) for v in eqn.outvars if _is_float(v.aval))
        return [read(v) for v in jaxpr.outvars]

    def equation(self, eqn: Any, operands: list, keys: list, scope: tuple[str, ...]) -> tuple[list, tuple | None]:
        """The outputs of one equation (its rule under the policy that applies to it) and the
        (format, overflow) its floating-point outputs are values of, if known.

        ``keys`` holds the (format, overflow) each operand is known to be a value of, or None.
        Operands that are not yet values of the format are rounded here once; the policy's
        methods then take them as they are (``operands="assume"``).
        """
        name = eqn.primitive.name
        rule = RULES.get(name)
        if rule is None:
            where = "/".join(scope)
            if where and self.policy.for_name(where) is None:  # exempt by the user: runs as it is
                return bind(eqn, operands), None
            raise UnsupportedPrimitiveError(
                f"emulate: no rule for JAX primitive {name!r} (in {where or 'the top level'}); lpemu emulates the "
                "primitives in lpemu.jax.RULES and does not run others at full precision unnoticed. Exempt its "
                "scope with a rule (pattern, None) if running it unemulated is acceptable, or rewrite it.")
        if rule.kind == "control":
            return rule.fn(self, eqn, operands, scope), None
        floats = [k for v, k in zip(eqn.invars, keys) if _is_float(v.aval)]
        if rule.kind == "structural" or not any(_is_float(v.aval) for v in eqn.outvars):
            same = rule.kind == "structural" and rule.preserves and floats and all(k == floats[0] for k in floats)
            return bind(eqn, operands), floats[0] if same else None
        policy = self.policy.resolve("/".join(scope), rule.kind)
        if policy is None or not policy.emulates(rule.kind):
            return bind(eqn, operands), None
        policy = self._seeded(policy)
        if rule.kind == "matmul" and policy.integer is not None:
            key = None if policy.format is None else (policy.format, policy.overflow)
            axis = channel_axis(eqn, policy.integer.weight_operand)

            def compute(bias: Any) -> Any:
                return rule.fn(policy, eqn, *operands, bias=bias)[0]

            return [compute(None) if axis is None else _Pending(compute, axis, key)], key
        if policy.format is None:
            return rule.fn(policy, eqn, *operands), None
        key = (policy.format, policy.overflow)
        if rule.kind != "matmul":  # round each operand once; matmul operands have their own formats
            operands = [x if k == key or not _is_float(v.aval) else policy.round_operand(x)
                        for v, x, k in zip(eqn.invars, operands, keys)]
            policy = self._assuming(policy)
        return rule.fn(policy, eqn, *operands), key

    def _assuming(self, policy: Policy) -> Policy:
        if policy not in self.assuming:
            self.assuming[policy] = policy.replace(operands="assume")
        return self.assuming[policy]

    def _seeded(self, policy: Policy) -> Policy:
        """``policy`` with seed + n for the n-th emulated equation (stochastic rounding only)."""
        if policy.seed is None:
            return policy
        stochastic = rounding_mode(policy.rounding).is_stochastic or any(
            getattr(acc, "rounding", None) is not None and rounding_mode(acc.rounding).is_stochastic
            for acc in (policy.accumulator, policy.reduce_accumulator))
        if not stochastic:
            return policy
        self.sites += 1
        return policy.replace(seed=(policy.seed + self.sites) % (1 << 64))
