"""The table behind :mod:`lpemu.numpy` and :class:`~lpemu.LPArray`: how each function is emulated.

Every function of the drop-in namespace, and every operator of the tensor wrapper, is one entry
of :data:`TABLE`: how it is emulated, the JAX function it mirrors, and the operation kind
(:data:`lpemu.jax.KINDS`) whose policy :meth:`Policy.resolve` picks (so a policy's ``rules`` and
``kinds`` overrides apply as in :func:`lpemu.emulate`). One dispatcher, :func:`call`, resolves the
policy and runs the entry; beyond the table there is code only for the matmul family's axes,
``sum``'s arguments and the composites. The ways to emulate (:data:`HOW`):

* ``arith``: correctly rounded once, by :meth:`Policy.binary` / :meth:`Policy.unary`.
* ``apply``: :meth:`Policy.apply`: computed by JAX in float32 on operands rounded into the
  format, rounded once (exact for max, clip, floor...; not correctly rounded for exp, tanh...).
* ``dot``: :meth:`Policy.matmul` (1-D/2-D operands) or :meth:`Policy.dot_general` (the axes of
  ``einsum``, ``tensordot``, batched ``matmul``...).
* ``sum``: :meth:`Policy.sum` (summed by ``reduce_accumulator``, rounded once).
* ``composite``: written with the emulated functions, each step rounded (``mean`` = sum, then one
  correctly rounded division by the exact count; ``var``, ``softmax``, ...).
* ``create``: created by JAX (zeros, arange, asarray, ...), then rounded into the format.
* ``structural``: passed through; they select, move or compare values and create none. Under a
  policy, their plain floating operands are rounded into its format first (nearest-even, as
  every operand entering the emulation is), so every LPArray holds values of its format.

Every rounding has straight-through gradients (:func:`lpemu.ste`), as the Policy methods do.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np

from .._arith import div
from .._formats import FloatFormat
from ..errors import InvalidArgumentError, NotEmulatedError
from ._array import LPArray, as_policy, round_operand
from ._policy import Policy, current_policy, use_policy
from ._ste import ste

__all__ = ["NotEmulatedError", "Op", "TABLE", "HOW", "EXTRAS", "call", "ops", "public_names", "missing"]


#: How each entry emulates (the wording of the generated docstrings and docs/semantics.md).
HOW: dict[str, str] = {
    "arith": "correctly rounded once into the policy's format (Policy.binary / Policy.unary)",
    "apply": "computed by JAX in float32 on operands rounded into the format, then rounded once "
             "(Policy.apply): exact for max, clip, floor..., not correctly rounded for exp, tanh...",
    "dot": "operands rounded into matmul_format/weight_format, products summed by the accumulator, "
           "the result rounded into format (Policy.matmul / Policy.dot_general)",
    "sum": "summed by the policy's reduce_accumulator and rounded into format (Policy.sum)",
    "count": "divided by an exact count, correctly rounded once (lpemu.div with float32 operands)",
    "composite": "written with the emulated lpemu.numpy functions, each step rounded",
    "create": "created by JAX, then rounded into format",
    "structural": "passed through: it selects, moves or compares values and creates none",
}


@dataclass(frozen=True)
class Op:
    """One table entry: how :mod:`lpemu.numpy` emulates the JAX function ``reference``."""

    #: How it is emulated: one of :data:`HOW`.
    how: str
    #: The JAX function mirrored; it runs as it is when no policy is active (and where exempt).
    reference: Callable[..., Any]
    #: The operation kind :meth:`Policy.resolve` is asked about (None: structural, composite).
    kind: str | None = None
    #: arith: the Policy.binary/unary op; dot/sum: ``impl(policy, *args, **kwargs)``;
    #: composite: ``impl(*args, **kwargs)`` written with :data:`ops`; otherwise None.
    impl: Any = None


#: The generated functions, by name: what composites are written with (lpemu.numpy exports them).
ops = types.SimpleNamespace()


# -- policy resolution ------------------------------------------------------------------------

def _is_lparray(x: Any) -> bool:
    return isinstance(x, LPArray)


def _describe_difference(p: Policy, q: Policy) -> str:
    def show(v: Any) -> Any:
        return getattr(v, "name", v)

    return ", ".join(f"{f.name}={show(getattr(p, f.name))!r} vs {show(getattr(q, f.name))!r}"
                     for f in dataclasses.fields(Policy) if getattr(p, f.name) != getattr(q, f.name))


def _resolve(name: str, carried: list[Policy], explicit: Any) -> Policy | None:
    """The policy of a call: its LPArrays' (all equal), else ``policy=``, else the active one.

    An explicit or active policy that differs from the LPArrays' is an error, not a silent choice.
    """
    sources = [("LPArray operands", p) for p in carried]
    if explicit is not None:
        sources.append(("policy=", as_policy(explicit, f"lpemu.numpy.{name}")))
    active = current_policy()
    if active is not None and (carried or not sources):
        sources.append(("the active policy (use_policy)", active))
    if not sources:
        return None
    first_source, first = sources[0]
    for source, p in sources[1:]:
        if p != first:
            where = first_source if source == first_source else f"{first_source} and {source}"
            raise InvalidArgumentError(f"lpemu.numpy.{name}: {where} carry different policies "
                                       f"({_describe_difference(first, p)}); convert with LPArray(x, policy) first")
    return first


def _scope_name() -> str:
    """The enclosing ``jax.named_scope`` names joined by "/": what ``Policy.rules`` patterns match."""
    from jax._src import source_info_util  # no public API exposes the current name stack

    stack = source_info_util.current_name_stack().stack
    return "/".join(entry.name for entry in stack if isinstance(entry, source_info_util.Scope))


def _is_array(x: Any) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic, float))


def _unwrap(tree: Any, round_into: Policy | None = None, to_jax: bool = False) -> Any:
    """LPArrays replaced by their arrays; plain float operands rounded into ``round_into``'s format
    (if given); numpy arrays and Python floats as JAX arrays (if ``to_jax``: the Policy methods then
    round them with the JAX kernels, not the numpy ones)."""
    def leaf(x: Any) -> Any:
        if isinstance(x, LPArray):
            return x.value
        if round_into is not None and _is_array(x) and jnp.issubdtype(jnp.result_type(x), jnp.floating):
            return round_operand(round_into, x)
        return jnp.asarray(x) if to_jax and isinstance(x, (float, np.ndarray, np.generic)) else x

    return jax.tree.map(leaf, tree, is_leaf=_is_lparray)


def _wrap(tree: Any, policy: Policy) -> Any:
    return jax.tree.map(lambda x: LPArray.wrap(x, policy) if isinstance(x, jax.Array) else x, tree)


# -- the dispatcher ---------------------------------------------------------------------------

def call(name: str, args: tuple, kwargs: dict, policy: Any = None) -> Any:
    """Run table entry ``name`` on ``args``/``kwargs`` under the resolved policy.

    Without a policy (no LPArray operand, no ``policy=``, no active policy) it runs the JAX function
    unchanged, so results equal ``jax.numpy``'s bit for bit. Under a policy every array result is an
    :class:`~lpemu.LPArray` carrying it, so operators applied to it later stay emulated.

    Examples:
        >>> import jax.numpy as jnp
        >>> call("add", (jnp.float32(1), jnp.float32(0.01)), {})
        Array(1.01, dtype=float32)
        >>> call("add", (jnp.float32(1), jnp.float32(0.01)), {}, policy="bf16")
        LPArray(Array(1.0078125, dtype=float32), format=bfloat16)
    """
    op = TABLE[name]
    carried = [x.policy for x in jax.tree.leaves((args, kwargs), is_leaf=_is_lparray) if isinstance(x, LPArray)]
    base = _resolve(name, carried, policy)
    if base is None:
        return op.reference(*args, **kwargs)
    if op.how == "composite":
        with use_policy(base):  # its steps are lpemu.numpy calls: they resolve the same policy
            return op.impl(*args, **kwargs)
    scope = _scope_name() if base.rules else ""
    scoped = base.for_name(scope) if op.kind is None else base.resolve(scope, op.kind)
    if scoped is None:  # a rules or kinds override exempts it: the JAX function, unrounded
        return _wrap(op.reference(*_unwrap(args), **_unwrap(kwargs)), base)
    round_into = scoped if op.how == "structural" else None
    to_jax = op.how in ("arith", "apply", "sum")
    args, kwargs = _unwrap(args, round_into, to_jax), _unwrap(kwargs, round_into, to_jax)
    return _wrap(_RUN[op.how](op, scoped, args, kwargs), base)


def _arith(op: Op, policy: Policy, args: tuple, kwargs: dict) -> Any:
    unary = op.impl in ("sqrt", "neg", "abs")
    if len(args) != (1 if unary else 2) or kwargs:
        raise TypeError(f"lpemu.numpy: {op.reference.__name__}() takes {1 if unary else 2} positional operand(s), "
                        f"got {len(args)} and keywords {sorted(kwargs)}")
    return policy.unary(op.impl, *args) if unary else policy.binary(op.impl, *args)


def _apply(op: Op, policy: Policy, args: tuple, kwargs: dict) -> Any:
    """Policy.apply with the array leaves of the arguments as operands (axes, shapes, integer
    exponents and dtypes stay static)."""
    leaves, tree = jax.tree.flatten((args, kwargs))
    where = [i for i, x in enumerate(leaves) if _is_array(x)]

    def fn(*arrays: Any) -> Any:
        filled = list(leaves)
        for i, x in zip(where, arrays):
            filled[i] = x
        a, kw = jax.tree.unflatten(tree, filled)
        return op.reference(*a, **kw)

    return policy.apply(fn, *(leaves[i] for i in where))


def _create(op: Op, policy: Policy, args: tuple, kwargs: dict) -> Any:
    return jax.tree.map(lambda x: round_operand(policy, x), op.reference(*args, **kwargs))


def _impl(op: Op, policy: Policy, args: tuple, kwargs: dict) -> Any:
    return op.impl(policy, *args, **kwargs)


_RUN: dict[str, Callable[[Op, Policy, tuple, dict], Any]] = {
    "arith": _arith,
    "apply": _apply,
    "dot": _impl,
    "sum": _impl,
    "count": _impl,
    "create": _create,
    "structural": lambda op, p, args, kw: op.reference(*args, **kw),
}


# -- argument helpers -------------------------------------------------------------------------

def _unsupported(name: str, **given: Any) -> None:
    for arg, value in given.items():
        if value is not None:
            shown = f"<{type(value).__name__}>" if hasattr(value, "shape") else repr(value)
            raise InvalidArgumentError(f"lpemu.numpy.{name}: {arg}={shown} is not supported under an lpemu "
                                       f"policy (the policy's formats decide); leave it None")


def _axes(name: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence of ints) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not isinstance(a, int) or not -max(ndim, 1) <= a < max(ndim, 1):
            raise InvalidArgumentError(f"lpemu.numpy.{name}: axis must be None or integers in "
                                       f"[{-ndim}, {ndim}) for a {ndim}-D array, got {axis!r}")
    return tuple(sorted({a % max(ndim, 1) for a in axes}))


def _shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, LPArray) else jnp.shape(x)


# -- matmul family: Policy.matmul and Policy.dot_general ---------------------------------------

def _dot_general(name: str, policy: Policy, a: Any, b: Any, contract: tuple, batch: tuple = ((), ()),
                 precision: Any = None, preferred_element_type: Any = None, optimize: Any = None,
                 out: Any = None, out_sharding: Any = None) -> Any:
    """Policy.dot_general with the keywords the jax.numpy functions take (``optimize`` is moot:
    a two-operand contraction has one order)."""
    _unsupported(name, out=out, out_sharding=out_sharding)
    return policy.dot_general(a, b, (contract, batch), precision, preferred_element_type)


def _matmul(policy: Policy, a: Any, b: Any, **options: Any) -> Any:
    """jnp.matmul: Policy.matmul for 1-D/2-D operands; batch axes broadcast, then dot_general."""
    options = {key: value for key, value in options.items() if value is not None}
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        raise InvalidArgumentError(f"lpemu.numpy.matmul: operands must be at least 1-D, got shapes {a.shape} "
                                   f"and {b.shape}")
    if a.ndim <= 2 and b.ndim <= 2 and not options:
        return policy.matmul(a, b)
    a2 = a[None] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    if b2.ndim == 2:  # a's leading axes are free rows, as in dot_general: no broadcast copy of b
        out = _dot_general("matmul", policy, a2, b2, ((a2.ndim - 1,), (0,)), **options)
    else:
        batch = jnp.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        a2, b2 = jnp.broadcast_to(a2, batch + a2.shape[-2:]), jnp.broadcast_to(b2, batch + b2.shape[-2:])
        nb = len(batch)
        out = _dot_general("matmul", policy, a2, b2, ((nb + 1,), (nb,)), (tuple(range(nb)),) * 2, **options)
    if b.ndim == 1:
        out = jnp.squeeze(out, -1)
    if a.ndim == 1:
        out = jnp.squeeze(out, -1 if b.ndim == 1 else -2)
    return out


def _dot(policy: Policy, a: Any, b: Any, **options: Any) -> Any:
    """jnp.dot: a's last axis with b's second-to-last (its only one for 1-D b); scalars multiply."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    contract = ((), ()) if a.ndim == 0 or b.ndim == 0 else ((a.ndim - 1,), (max(b.ndim - 2, 0),))
    return _dot_general("dot", policy, a, b, contract, **options)


def _vdot(policy: Policy, a: Any, b: Any, **options: Any) -> Any:
    return _dot_general("vdot", policy, jnp.ravel(a), jnp.ravel(b), ((0,), (0,)), **options)


def _inner(policy: Policy, a: Any, b: Any, **options: Any) -> Any:
    a, b = jnp.asarray(a), jnp.asarray(b)
    contract = ((), ()) if a.ndim == 0 or b.ndim == 0 else ((a.ndim - 1,), (b.ndim - 1,))
    return _dot_general("inner", policy, a, b, contract, **options)


def _outer(policy: Policy, a: Any, b: Any, **options: Any) -> Any:
    return _dot_general("outer", policy, jnp.ravel(a), jnp.ravel(b), ((), ()), **options)


def _tensordot(policy: Policy, a: Any, b: Any, axes: Any = 2, **options: Any) -> Any:
    a, b = jnp.asarray(a), jnp.asarray(b)
    if isinstance(axes, int):
        ca, cb = tuple(range(a.ndim - axes, a.ndim)), tuple(range(axes))
    else:
        ca, cb = ((x,) if isinstance(x, int) else tuple(x) for x in axes)
    return _dot_general("tensordot", policy, a, b, (tuple(d % a.ndim for d in ca), tuple(d % b.ndim for d in cb)),
                        **options)


def _einsum_labels(subscripts: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Each operand's labels and the output's, with "..." replaced by fresh upper-case labels."""
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise InvalidArgumentError(f"lpemu.numpy.einsum: {subscripts!r} names {len(terms)} operands, got {len(shapes)}")
    spans = [len(shape) - len(term.replace("...", "")) for term, shape in zip(terms, shapes)]
    width = max((n for term, n in zip(terms, spans) if "..." in term), default=0)
    ellipsis = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in spec)[:width]
    labels = [term.replace("...", ellipsis[width - n:]) for term, n in zip(terms, spans)]
    if not arrow:  # numpy's implicit output: the ellipsis, then the labels used once, sorted
        joined = "".join(labels)
        output = "..." + "".join(sorted(c for c in set(joined) if joined.count(c) == 1 and c not in ellipsis))
    return labels, output.replace("...", ellipsis)


def _einsum(policy: Policy, subscripts: str, *operands: Any, **options: Any) -> Any:
    """Two-operand contractions (and one-operand transposes) as one Policy.dot_general."""
    operands = tuple(jnp.asarray(x) for x in operands)
    labels, out = _einsum_labels(subscripts, [x.shape for x in operands])
    for term, x in zip(labels, operands):
        if len(set(term)) != len(term) or len(term) != x.ndim:
            raise InvalidArgumentError(f"lpemu.numpy.einsum: {subscripts!r}: each operand needs one distinct "
                                       f"label per axis (no diagonals), got {term!r} for shape {x.shape}")
    if len(operands) == 1 and sorted(labels[0]) == sorted(out):
        return jnp.transpose(operands[0], [labels[0].index(c) for c in out])
    joined = "".join(labels)
    if len(operands) != 2 or any(c not in out and joined.count(c) == 1 for c in joined):
        raise InvalidArgumentError(
            f"lpemu.numpy.einsum: {subscripts!r} is not emulated: only two-operand contractions (and "
            "one-operand transposes) are, where every summed label appears in both operands; contract "
            "pairwise (lnp.einsum, lnp.sum), or emulate the whole function with lpemu.emulate")
    la, lb = labels
    batch = [c for c in la if c in lb and c in out]
    contracted = [c for c in la if c in lb and c not in out]
    res = _dot_general("einsum", policy, operands[0], operands[1],
                       (tuple(la.index(c) for c in contracted), tuple(lb.index(c) for c in contracted)),
                       (tuple(la.index(c) for c in batch), tuple(lb.index(c) for c in batch)), **options)
    produced = batch + [c for c in la if c not in lb] + [c for c in lb if c not in la]
    return jnp.transpose(res, [produced.index(c) for c in out])


# -- reductions and composites ----------------------------------------------------------------

def _sum(policy: Policy, a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         initial: Any = None, where: Any = None, promote_integers: bool = True) -> Any:
    _unsupported("sum", dtype=dtype, out=out, initial=initial)
    a = jnp.asarray(a)
    if not jnp.issubdtype(a.dtype, jnp.floating):  # integer sums are exact
        return jnp.sum(a, axis, keepdims=keepdims, where=where, promote_integers=promote_integers)
    if where is not None:
        a = jnp.where(where, a, 0)  # masked elements add exact zeros
    axes = _axes("sum", axis, a.ndim)
    total = policy.sum(a, axes)
    return jnp.expand_dims(total, axes) if keepdims else total


def _inexact(x: Any) -> Any:
    """Integer and boolean operands as float (as jnp.mean and jnp.var convert them)."""
    dtype = x.dtype if isinstance(x, LPArray) else jnp.result_type(x)
    return x if jnp.issubdtype(dtype, jnp.inexact) else ops.astype(x, jnp.result_type(float))


def _count(a: Any, axis: Any, where: Any, keepdims: bool) -> Any:
    """The number of elements each reduction over ``axis`` sums (an exact integer)."""
    shape = _shape(a)
    if where is None:
        return math.prod(shape[d] for d in _axes("mean", axis, len(shape)))
    mask = jnp.broadcast_to(jnp.asarray(where.value if isinstance(where, LPArray) else where), shape)
    return jnp.sum(mask, axis, keepdims=keepdims, dtype=jnp.int32)


def _divide_by_count(policy: Policy, total: Any, count: Any) -> Any:
    """``total / count`` correctly rounded into the format, with the count taken exactly.

    Policy.binary would round the count into the format like any operand (1001 becomes 1000 in
    bfloat16, 1000 overflows E4M3); a count is an integer, exact in float32 below 2^24, so the
    division reads both operands as float32 values (``in_fmt="fp32"``). float64 containers
    (jax_enable_x64) fall back to Policy.binary.
    """
    total = jnp.asarray(total)
    count = jnp.asarray(count, total.dtype)
    if total.dtype != jnp.float32 or not isinstance(policy.format, FloatFormat):
        return policy.binary("div", total, count)

    def divide(t: Any, n: Any) -> Any:
        return div(t, n, policy.format, policy.rounding, policy.overflow, in_fmt="fp32", sr_bits=policy.sr_bits,
                   seed=policy.seed)

    return ste(divide, like=jnp.divide)(total, count)


def _mean(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False, *,
          where: Any = None) -> Any:
    """The sum, then one correctly rounded division by the (exact) count."""
    _unsupported("mean", dtype=dtype, out=out)
    a = _inexact(a)
    return ops._divide_by_count(ops.sum(a, axis, keepdims=keepdims, where=where), _count(a, axis, where, keepdims))


def _var(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0, keepdims: bool = False, *,
         where: Any = None, mean: Any = None, correction: Any = None) -> Any:
    """jnp.var's algorithm: the mean of the squared deviations from the mean, divided by n - ddof."""
    _unsupported("var", dtype=dtype, out=out, mean=mean)
    ddof = ddof if correction is None else correction
    a = _inexact(a)
    centered = ops.subtract(a, ops.mean(a, axis, keepdims=True, where=where))
    squares = ops.multiply(centered, centered)
    total = ops.sum(squares, axis, keepdims=keepdims, where=where)
    return ops._divide_by_count(total, _count(a, axis, where, keepdims) - ddof)


def _std(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0, keepdims: bool = False, *,
         where: Any = None, mean: Any = None, correction: Any = None) -> Any:
    return ops.sqrt(_var(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean, correction=correction))


def _max_shift(x: Any, axis: Any, where: Any) -> Any:
    """The maximum along ``axis`` (kept), held constant for gradients, as jax.nn subtracts it."""
    initial = None if where is None else -jnp.inf
    return jax.lax.stop_gradient(ops.max(x, axis, keepdims=True, where=where, initial=initial))


def _softmax(x: Any, axis: Any = -1, where: Any = None) -> Any:
    """jax.nn.softmax's algorithm: exp(x - max) / sum(exp(x - max))."""
    shifted = ops.subtract(x if where is None else ops.where(where, x, -jnp.inf), _max_shift(x, axis, where))
    unnormalized = ops.exp(shifted)
    result = ops.divide(unnormalized, ops.sum(unnormalized, axis, keepdims=True, where=where))
    return result if where is None else ops.where(where, result, 0.0)


def _log_softmax(x: Any, axis: Any = -1, where: Any = None) -> Any:
    """jax.nn.log_softmax's algorithm: (x - max) - log(sum(exp(x - max)))."""
    shifted = ops.subtract(x if where is None else ops.where(where, x, -jnp.inf), _max_shift(x, axis, where))
    result = ops.subtract(shifted, ops.log(ops.sum(ops.exp(shifted), axis, keepdims=True, where=where)))
    return result if where is None else ops.where(where, result, -jnp.inf)


def _logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False, return_sign: bool = False,
               where: Any = None) -> Any:
    """jax.scipy.special.logsumexp's algorithm: log(sum(exp(a - max))) + max (max 0 if not finite)."""
    _unsupported("logsumexp", b=b, return_sign=return_sign or None)
    amax = _max_shift(a, axis, where)
    amax = ops.where(ops.isfinite(amax), amax, 0.0)
    total = ops.sum(ops.exp(ops.subtract(a, amax)), axis, keepdims=keepdims, where=where)
    shift = amax if keepdims else ops.squeeze(amax, _axes("logsumexp", axis, len(_shape(a))))
    return ops.add(ops.log(total), shift)


# -- the table --------------------------------------------------------------------------------

def _entries(how: str, kind: str | None, names: str, module: Any = jnp) -> dict[str, Op]:
    return {name: Op(how, getattr(module, name), kind) for name in names.split()}


#: Every emulated function, by name; names starting with "_" serve LPArray's operators and the
#: composites only.
TABLE: dict[str, Op] = {
    **{name: Op("arith", getattr(jnp, name), "arith", op) for name, op in (
        ("add", "add"), ("subtract", "sub"), ("multiply", "mul"), ("divide", "div"), ("true_divide", "div"),
        ("sqrt", "sqrt"), ("negative", "neg"), ("abs", "abs"), ("absolute", "abs"), ("fabs", "abs"))},
    "square": Op("composite", jnp.square, None, lambda x: ops.multiply(x, x)),
    "reciprocal": Op("composite", jnp.reciprocal, None, lambda x: ops.divide(1, x)),
    **_entries("apply", "exact", "maximum minimum fmax fmin clip sign copysign floor ceil trunc round rint "
                                 "floor_divide remainder mod fmod max min amax amin astype"),
    "relu": Op("apply", jax.nn.relu, "exact"),
    **_entries("apply", "transcendental", "exp exp2 expm1 log log1p log2 log10 sin cos tan arcsin arccos arctan "
                                          "arctan2 sinh cosh tanh arcsinh arccosh arctanh cbrt hypot logaddexp power"),
    "erf": Op("apply", jax.scipy.special.erf, "transcendental"),
    "sigmoid": Op("apply", jax.nn.sigmoid, "transcendental"),
    **{name: Op("dot", getattr(jnp, name), "matmul", impl) for name, impl in (
        ("matmul", _matmul), ("dot", _dot), ("vdot", _vdot), ("inner", _inner), ("outer", _outer),
        ("tensordot", _tensordot), ("einsum", _einsum))},
    "sum": Op("sum", jnp.sum, "reduce", _sum),
    **_entries("apply", "reduce", "prod cumsum cumprod"),
    "mean": Op("composite", jnp.mean, None, _mean),
    "var": Op("composite", jnp.var, None, _var),
    "std": Op("composite", jnp.std, None, _std),
    "softmax": Op("composite", jax.nn.softmax, None, _softmax),
    "log_softmax": Op("composite", jax.nn.log_softmax, None, _log_softmax),
    "logsumexp": Op("composite", jax.scipy.special.logsumexp, None, _logsumexp),
    **_entries("create", "exact", "asarray array zeros ones full empty zeros_like ones_like full_like empty_like "
                                  "arange linspace eye identity"),
    **_entries("structural", None, "reshape ravel transpose swapaxes moveaxis expand_dims squeeze broadcast_to "
                                   "broadcast_arrays atleast_1d atleast_2d atleast_3d concatenate stack hstack vstack "
                                   "split tile repeat pad flip roll tril triu diagonal take take_along_axis where "
                                   "select sort argsort argmax argmin isnan isinf isfinite equal not_equal less "
                                   "less_equal greater greater_equal logical_and logical_or logical_not logical_xor "
                                   "positive copy shape ndim size result_type issubdtype promote_types"),
    "_getitem": Op("structural", operator.getitem),
    "_divide_by_count": Op("count", jnp.divide, "arith", _divide_by_count),
}

#: Names not in jax.numpy: lpemu.numpy extras for the jax.nn / jax.scipy.special functions models use.
EXTRAS: dict[str, str] = {
    "softmax": "jax.nn.softmax", "log_softmax": "jax.nn.log_softmax", "relu": "jax.nn.relu",
    "sigmoid": "jax.nn.sigmoid", "logsumexp": "jax.scipy.special.logsumexp", "erf": "jax.scipy.special.erf",
}


def public_names() -> list[str]:
    """The names :mod:`lpemu.numpy` exports (every table entry but the private operator ones)."""
    return sorted(name for name in TABLE if not name.startswith("_"))


def _docstring(name: str, op: Op) -> str:
    mirrored = EXTRAS.get(name, f"jax.numpy.{name}")
    return (f"``{mirrored}``, emulated: {HOW[op.how]}.\n\n"
            f"Args:\n    *args, **kwargs: as for ``{mirrored}``.\n"
            "    policy: a lpemu.jax.Policy or format name; default: the LPArray operands' policy, else\n"
            f"        the active one (lpemu.jax.use_policy). Without any, this is ``{mirrored}`` itself.\n\n"
            "Returns:\n    Under a policy, an LPArray (each array of the result) carrying it; otherwise what\n"
            f"    ``{mirrored}`` returns, bit for bit.\n\n"
            "Raises:\n    InvalidArgumentError: operands and policy= or the active policy disagree, or an\n"
            "        argument the emulation cannot honour (dtype=, preferred_element_type=, ...).\n")


def _function(name: str) -> Callable[..., Any]:
    def function(*args: Any, policy: Any = None, **kwargs: Any) -> Any:
        return call(name, args, kwargs, policy)

    function.__name__ = function.__qualname__ = name
    function.__module__ = "lpemu.numpy"
    function.__doc__ = _docstring(name, TABLE[name])
    return function


for _name in TABLE:
    setattr(ops, _name, _function(_name))


def missing(name: str) -> Any:
    """``lpemu.numpy.<name>`` for a name outside the table: jax.numpy's dtypes and constants pass
    through; any other jax.numpy function or module raises :class:`NotEmulatedError`.

    Examples:
        >>> missing("float32")
        <class 'jax.numpy.float32'>
        >>> missing("cumsum")
        Traceback (most recent call last):
        ...
        lpemu.errors.NotEmulatedError: lpemu.numpy.cumsum is not emulated (jax.numpy.cumsum would run unrounded): emulate the whole function with lpemu.emulate, or call jax.numpy.cumsum explicitly where full precision is intended
    """
    target = getattr(jnp, name, _MISSING) if not name.startswith("_") else _MISSING
    if target is _MISSING:
        raise AttributeError(f"module 'lpemu.numpy' has no attribute {name!r}")
    if isinstance(target, type) or not (callable(target) or isinstance(target, types.ModuleType)):
        return target  # dtypes (float32, ...), finfo, ndarray, pi, inf, newaxis: no arithmetic
    raise NotEmulatedError(f"lpemu.numpy.{name} is not emulated (jax.numpy.{name} would run unrounded): emulate "
                           f"the whole function with lpemu.emulate, or call jax.numpy.{name} explicitly where full "
                           "precision is intended")


_MISSING = object()
