"""Straight-through gradients: the value of an emulated computation, the derivative of a plain one.

Rounding into a format is a step function: its derivative is zero almost everywhere, so a model
whose every operation rounds cannot be trained by gradient descent. The straight-through
estimator (Bengio et al. 2013, arXiv 1308.3432) keeps the rounded *values* in the forward pass
and takes the *derivative* of the unrounded operation; quantization-aware training rests on it.
:func:`ste` builds such a function with :func:`jax.custom_jvp`; every emulated operation of
:class:`lpemu.jax.Policy` (and so :func:`lpemu.emulate`, the tensor wrapper and
:mod:`lpemu.numpy`) is built with it.

Why ``custom_jvp`` and not ``custom_vjp``: the tangent rule ``jax.jvp(like, ...)`` is linear in the
tangents, so JAX derives reverse mode from it by transposition (``jax.grad``, ``jax.vjp``) *and*
forward mode keeps working (``jax.jvp``, ``jax.jacfwd``, Hessians); a ``custom_vjp`` would give
reverse mode only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from ..errors import InvalidArgumentError

__all__ = ["ste"]


def _identity(*args: Any) -> Any:
    return args[0] if len(args) == 1 else args


def ste(fn: Callable[..., Any], like: Callable[..., Any] | None = None) -> Callable[..., Any]:
    """``fn`` with straight-through gradients: ``fn``'s values, ``like``'s derivatives.

    The returned function computes ``fn(*args)`` bit for bit; JAX differentiates it (forward or
    reverse mode) as if it were ``like(*args)``, evaluated at the same arguments. ``fn`` and
    ``like`` must return pytrees of the same structure, shapes and dtypes.

    Args:
        fn: the function whose values are wanted (typically a rounding, or an operation rounded
            into a low-precision format). Its arguments are positional JAX arrays or scalars.
        like: the function whose derivative is used; default the identity (``fn`` must then
            return arrays shaped like its arguments: one array for one argument).

    Returns:
        A function of the same positional arguments.

    Raises:
        InvalidArgumentError: ``fn`` or ``like`` is not callable.

    Examples:
        >>> import jax, jax.numpy as jnp, lpemu
        >>> q = lpemu.ste(lambda x: lpemu.quantize(x, "int8"))
        >>> q(jnp.float32(2.7)), jax.grad(q)(jnp.float32(2.7))
        (Array(3., dtype=float32), Array(1., dtype=float32))
        >>> rounded_exp = lpemu.ste(lambda x: lpemu.quantize(jnp.exp(x), "bf16"), like=jnp.exp)
        >>> jax.grad(rounded_exp)(jnp.float32(1.0))  # exp'(1), not 0
        Array(2.7182817, dtype=float32)
    """
    if not callable(fn):
        raise InvalidArgumentError(f"ste: fn must be callable, got {type(fn).__name__}")
    if like is not None and not callable(like):
        raise InvalidArgumentError(f"ste: like must be callable or None, got {type(like).__name__}")
    plain = _identity if like is None else like

    @jax.custom_jvp
    def straight_through(*args: Any) -> Any:
        return fn(*args)

    @straight_through.defjvp
    def _jvp(primals: tuple, tangents: tuple) -> tuple:
        _, tangent_out = jax.jvp(plain, primals, tangents)
        return fn(*primals), tangent_out

    return straight_through
