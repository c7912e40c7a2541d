"""LPArray: a JAX array that carries its emulation policy (the tensor wrapper).

An :class:`LPArray` holds a JAX array whose values belong to a :class:`~lpemu.jax.Policy`'s format,
and the policy itself as static pytree data. Its operators, methods and the :mod:`lpemu.numpy`
functions all run through one table (``lpemu/jax/_namespace.py``), so ``x + y``, ``x @ w`` and
``lnp.add(x, y)`` are the same emulated operation.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from ..errors import InvalidArgumentError
from ._policy import Policy

__all__ = ["LPArray", "as_policy", "round_operand"]


def as_policy(policy: Any, where: str) -> Policy:
    """``policy`` as a Policy: a Policy as it is, a format (object or name) as ``Policy(format=...)``.

    Args:
        policy: a :class:`~lpemu.jax.Policy`, or a format accepted by :func:`lpemu.format`.
        where: the calling function, named in the error message.

    Returns:
        The policy.

    Raises:
        InvalidArgumentError: ``policy`` is neither (for example None).

    Examples:
        >>> as_policy("bf16", "LPArray").format.name
        'bfloat16'
    """
    if isinstance(policy, Policy):
        return policy
    if policy is None or isinstance(policy, bool):
        raise InvalidArgumentError(f"{where}: policy must be a lpemu.jax.Policy or a format (name), got {policy!r}")
    try:
        return Policy(format=policy)
    except (ValueError, TypeError) as err:
        raise InvalidArgumentError(f"{where}: policy must be a lpemu.jax.Policy or a format (name), "
                                   f"got {policy!r} ({err})") from err


@functools.lru_cache(maxsize=64)
def _entry_policy(policy: Policy) -> Policy:
    return policy if policy.rounding == "nearest_even" else policy.replace(rounding="nearest_even")


def round_operand(policy: Policy, x: Any) -> Any:
    """A plain operand entering the emulation: ``x`` rounded into ``policy.format`` with nearest-even.

    Operands are rounded with nearest-even whatever the policy's rounding mode, as :func:`lpemu.add`
    and :func:`lpemu.matmul` round theirs (docs/semantics.md, "Arithmetic"); the policy's mode
    rounds the results of operations.

    Examples:
        >>> import jax.numpy as jnp
        >>> from lpemu.jax import Policy
        >>> round_operand(Policy(format="bf16", rounding="up"), jnp.float32(1.001))
        Array(1., dtype=float32)
    """
    return _entry_policy(policy).round(jnp.asarray(x))


def _apply(name: str, args: tuple, kwargs: dict) -> Any:
    from ._namespace import call  # the table imports this module

    return call(name, args, kwargs)


def _method(name: str, doc: str) -> Any:
    """A method that runs the table entry ``name`` with the array as its first operand."""
    def method(self: LPArray, *args: Any, **kwargs: Any) -> Any:
        return _apply(name, (self, *args), kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    return method


def _operator(name: str, reflected: bool = False) -> Any:
    """A binary operator running the table entry ``name`` (operands swapped when ``reflected``)."""
    def operator(self: LPArray, other: Any) -> Any:
        return _apply(name, (other, self) if reflected else (self, other), {})

    operator.__doc__ = f"lpemu.numpy.{name} of {'other and self' if reflected else 'self and other'}."
    return operator


@jax.tree_util.register_pytree_node_class
class LPArray:
    """A JAX array of values of a format, with the policy that rounds every operation on it.

    An LPArray is a pytree: its array is the one leaf and its policy is static data, so it goes
    through ``jax.jit``, ``jax.vmap``, ``jax.grad`` and ``jax.lax.scan`` like an array. Arithmetic
    operators (``+ - * / @ ** // %``, unary ``-``, ``abs``), comparisons, indexing and the methods
    (``sum``, ``mean``, ``max``, ...) return LPArrays rounded into the format, exactly as the
    :mod:`lpemu.numpy` function of the same name (``+`` is ``lnp.add``: correctly rounded once; ``@``
    is ``lnp.matmul``: :meth:`Policy.matmul`; ``sum`` is :meth:`Policy.sum`; ``mean`` is the sum
    followed by one correctly rounded division).

    * A plain operand (array or scalar) takes the LPArray's policy; two LPArrays with different
      policies raise :class:`~lpemu.InvalidArgumentError` (convert one with ``LPArray(x, policy)``).
    * ``x.value``, ``np.asarray(x)`` and ``jnp.asarray(x)`` (``__jax_array__``) give the raw array.
      Through ``__jax_array__``, ``jax.numpy`` functions and a ``jax.Array`` on the *left* of an
      operator (``b + x``) see the raw array too: they compute unrounded and return a plain array.
      Use :mod:`lpemu.numpy` and keep an LPArray on the left (``x + b``, or ``lnp.add(b, x)``);
      numpy arrays and Python scalars on the left are fine (``1 - x`` is ``lnp.subtract(1, x)``).
    * Gradients are straight-through (:func:`lpemu.ste`): each rounding's derivative is that of
      the unrounded operation, so quantization-aware training works through the wrapper.
      ``jax.grad`` needs a plain scalar output: differentiate ``lambda w: loss(w).value``.
      Gradients with respect to an LPArray come back as an LPArray of the raw float32 gradients.

    Args:
        value: the array (anything ``jnp.asarray`` accepts, or an LPArray); floating values are
            rounded into the policy's format with nearest-even, as every operand entering the
            emulation is (an LPArray with the same policy is kept as it is).
        policy: a :class:`~lpemu.jax.Policy`, or a format (``"bf16"``) for ``Policy(format=...)``.

    Raises:
        InvalidArgumentError: ``policy`` is not a Policy or format.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from lpemu.jax import LPArray
        >>> x = LPArray(jnp.array([1.0, 2.0, 3.0]), "bf16")
        >>> x + 0.01        # each sum correctly rounded to bfloat16's 8 significant bits
        LPArray(Array([1.0078125, 2.015625 , 3.015625 ], dtype=float32), format=bfloat16)
        >>> (x @ x).value, x.mean().value
        (Array(14., dtype=float32), Array(2., dtype=float32))
        >>> jax.jit(lambda a: a * a / 3)(x).value
        Array([0.33398438, 1.3359375 , 3.        ], dtype=float32)
    """

    __slots__ = ("value", "policy")
    __array_ufunc__ = None  # numpy operators defer to the reflected methods below

    value: Any  #: the raw JAX array (values of the format in float32, or integers/booleans)
    policy: Policy  #: how every operation on this array rounds

    def __init__(self, value: Any, policy: Policy | Any) -> None:
        policy = as_policy(policy, "LPArray")
        if isinstance(value, LPArray):
            value = value.value if value.policy == policy else round_operand(policy, value.value)
        else:
            value = round_operand(policy, value)
        self.value = value
        self.policy = policy

    @classmethod
    def wrap(cls, value: Any, policy: Policy) -> LPArray:
        """An LPArray holding ``value`` as it is (no rounding): for results already in the format."""
        self = object.__new__(cls)
        self.value = value
        self.policy = policy
        return self

    # -- pytree -------------------------------------------------------------------------------
    def tree_flatten(self) -> tuple[tuple[Any], Policy]:
        return (self.value,), self.policy

    @classmethod
    def tree_unflatten(cls, policy: Policy, children: tuple[Any]) -> LPArray:
        return cls.wrap(children[0], policy)  # JAX rebuilds with tracers and placeholders too

    # -- conversions --------------------------------------------------------------------------
    def __array__(self, dtype: Any = None, copy: bool | None = None) -> Any:
        import numpy as np

        return np.asarray(self.value, dtype=dtype)

    def __jax_array__(self) -> Any:
        return self.value

    def __repr__(self) -> str:
        fmt = self.policy.format
        return f"LPArray({self.value!r}, format={getattr(fmt, 'name', fmt)})"

    def __bool__(self) -> bool:
        return bool(self.value)

    def __float__(self) -> float:
        return float(self.value)

    def __int__(self) -> int:
        return int(self.value)

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def dtype(self) -> Any:
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def T(self) -> LPArray:  # noqa: N802 (numpy's name)
        return _apply("transpose", (self,), {})

    # -- methods (jax.Array's, emulated) ------------------------------------------------------
    def reshape(self, *shape: Any, **kwargs: Any) -> LPArray:
        """``lnp.reshape``; the shape as one tuple or as separate integers."""
        return _apply("reshape", (self, shape[0] if len(shape) == 1 else shape), kwargs)

    def transpose(self, *axes: Any) -> LPArray:
        """``lnp.transpose``; the axes as one tuple, as separate integers, or none (reversed)."""
        return _apply("transpose", (self, (axes[0] if len(axes) == 1 else axes) or None), {})

    sum = _method("sum", "``lnp.sum``: summed by the policy's reduce accumulator (Policy.sum).")
    mean = _method("mean", "``lnp.mean``: the sum, then one correctly rounded division by the count.")
    var = _method("var", "``lnp.var``: written with the emulated mean, subtract, multiply and divide.")
    std = _method("std", "``lnp.std``: the correctly rounded square root of ``var``.")
    max = _method("max", "``lnp.max`` (exact on values of the format).")
    min = _method("min", "``lnp.min`` (exact on values of the format).")
    argmax = _method("argmax", "``lnp.argmax``.")
    argmin = _method("argmin", "``lnp.argmin``.")
    astype = _method("astype", "``lnp.astype``: converted by JAX, then rounded into the format.")
    squeeze = _method("squeeze", "``lnp.squeeze``.")
    ravel = _method("ravel", "``lnp.ravel``.")
    flatten = _method("ravel", "``lnp.ravel``.")
    swapaxes = _method("swapaxes", "``lnp.swapaxes``.")
    clip = _method("clip", "``lnp.clip``.")

    # -- operators ----------------------------------------------------------------------------
    __add__, __radd__ = _operator("add"), _operator("add", reflected=True)
    __sub__, __rsub__ = _operator("subtract"), _operator("subtract", reflected=True)
    __mul__, __rmul__ = _operator("multiply"), _operator("multiply", reflected=True)
    __truediv__, __rtruediv__ = _operator("divide"), _operator("divide", reflected=True)
    __floordiv__, __rfloordiv__ = _operator("floor_divide"), _operator("floor_divide", reflected=True)
    __mod__, __rmod__ = _operator("remainder"), _operator("remainder", reflected=True)
    __pow__, __rpow__ = _operator("power"), _operator("power", reflected=True)
    __matmul__, __rmatmul__ = _operator("matmul"), _operator("matmul", reflected=True)
    __lt__, __le__ = _operator("less"), _operator("less_equal")
    __gt__, __ge__ = _operator("greater"), _operator("greater_equal")
    __eq__, __ne__ = _operator("equal"), _operator("not_equal")  # type: ignore[assignment]
    __getitem__ = _operator("_getitem")
    __neg__ = _method("negative", "``lnp.negative``.")
    __pos__ = _method("positive", "``lnp.positive``.")
    __abs__ = _method("abs", "``lnp.abs``.")
    __hash__ = None  # type: ignore[assignment]  # == is elementwise

