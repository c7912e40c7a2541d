"""lpemu.numpy: a drop-in ``jax.numpy`` whose functions round every result into a format.

Import it as ``lnp`` and swap it for ``jnp`` in a model: each function computes what ``jax.numpy``'s
does, rounded per the active policy (:func:`lpemu.jax.use_policy`, or a ``policy=`` keyword on
each call, or the policy of an :class:`~lpemu.LPArray` operand). Under a policy every array result
is an LPArray carrying it, so the model's operators (``h @ w + b``) stay emulated too; with no
policy the functions are ``jax.numpy``'s, bit for bit. An operator between two *plain* arrays is
JAX's own and cannot be intercepted: start a model from ``x = lnp.asarray(x)`` or LPArray inputs.

How each function is emulated (the table in ``lpemu/jax/_namespace.py``; docs/semantics.md lists
every name): ``add``/``subtract``/``multiply``/``divide``/``sqrt``/``negative``/``abs`` are
correctly rounded once; the matmul family (``matmul``, ``dot``, ``einsum``, ``tensordot``, ...) runs
on :meth:`~lpemu.jax.Policy.matmul` and ``sum`` on :meth:`~lpemu.jax.Policy.sum`; ``mean``, ``var``,
``std``, ``square``, ``reciprocal`` and the extras ``softmax``, ``log_softmax``, ``logsumexp`` are
written with those, each step rounded; transcendental and other elementwise functions (``exp``,
``tanh``, ``erf``, ``power``, ``maximum``, ...) are computed in float32 by JAX and rounded once (not
correctly rounded); structural functions (``reshape``, ``where``, comparisons, ...) pass through.
Any other ``jax.numpy`` function raises :class:`~lpemu.jax.NotEmulatedError` when accessed: use
:func:`lpemu.emulate` for those, never an unrounded result by accident. ``jax.numpy``'s dtypes and
constants (``lnp.float32``, ``lnp.pi``) are available unchanged.

The active policy is read when a function runs, that is when ``jax.jit`` traces it: a jitted
function keeps the policy it was traced under (pass LPArrays or ``policy=`` to make it explicit).

Examples:
    >>> import jax.numpy as jnp
    >>> import lpemu.numpy as lnp
    >>> from lpemu.jax import Policy, use_policy
    >>> x = jnp.array([1.0, 2.0, 3.0])
    >>> lnp.exp(x)                              # no policy: jax.numpy's result
    Array([ 2.7182817,  7.389056 , 20.085537 ], dtype=float32)
    >>> with use_policy(Policy(format="bf16")):
    ...     y = lnp.exp(x) + 1                  # exp rounded once, + correctly rounded
    >>> y
    LPArray(Array([ 3.71875,  8.375  , 21.125  ], dtype=float32), format=bfloat16)
    >>> lnp.mean(x, policy="e4m3").value
    Array(2., dtype=float32)
    >>> lnp.convolve
    Traceback (most recent call last):
    ...
    lpemu.errors.NotEmulatedError: lpemu.numpy.convolve is not emulated (jax.numpy.convolve would run unrounded): emulate the whole function with lpemu.emulate, or call jax.numpy.convolve explicitly where full precision is intended
"""

from __future__ import annotations

from typing import Any

from .jax import _namespace

__all__ = _namespace.public_names()

globals().update({name: getattr(_namespace.ops, name) for name in __all__})


def __getattr__(name: str) -> Any:
    return _namespace.missing(name)


def __dir__() -> list[str]:
    return list(__all__)
