"""Emulation policies: which format, rounding and accumulator each kind of operation runs in.

A :class:`Policy` is the one description of "how to emulate" shared by :func:`lpemu.emulate`
(the jaxpr transform), :class:`lpemu.LPArray` (the tensor wrapper) and :mod:`lpemu.numpy` (the
drop-in namespace). Its methods are the single implementation of each emulated operation, so the
three front ends give the same bits for the same computation. Every method has straight-through
gradients (:func:`lpemu.ste`): its values are the emulated ones, its derivatives those of the
unrounded operation, so quantization-aware training works through all three.

:data:`POLICIES` names the usual configurations (``Policy.preset("fp8")``).
"""

from __future__ import annotations

import contextlib
import contextvars
import fnmatch
import functools
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._accumulators import Sequential, accumulator_of
from .._arith import abs as _abs
from .._arith import add, div, mul, neg, sqrt, sub
from .._dot import _block_format, matmul
from .._formats import FloatFormat
from .._modes import Overflow, RoundingMode, overflow_policy, rounding_mode
from .._quantize import quantize
from .._tensor_cores import TensorCore, tensor_core
from ..errors import InvalidArgumentError, check_int
from ..formats import FP32, lookup
from . import _products
from ._integer import IntegerMatmul, integer_product
from ._hardware import arith_container, extent, fp32_is_exact, hardware_arith, sequential_fp32
from ._ste import ste

__all__ = ["Policy", "POLICIES", "KINDS", "current_policy", "use_policy"]

_BINARY = {"add": add, "sub": sub, "mul": mul, "div": div}
_UNARY = {"sqrt": sqrt, "neg": neg, "abs": _abs}
_PLAIN: dict[str, Callable[..., Any]] = {
    "add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.divide,
    "sqrt": jnp.sqrt, "neg": jnp.negative, "abs": jnp.abs,
}
_PRODUCTS = ("exact", "fused", "lmul", "lmul_formula")
_HIGHEST = lax.Precision.HIGHEST

#: The kinds of operation a policy can treat apart (:attr:`Policy.kinds`):
#:
#: * ``"arith"``: add, sub, mul, div, sqrt, neg, abs, square: correctly rounded once.
#: * ``"exact"``: max, min, clamp, sign, floor, ceil, round, rem, and max/min reductions: the
#:   exact result rounded once (a no-op on values of the format).
#: * ``"transcendental"``: exp, log, tanh, logistic, erf, pow, rsqrt, sin, ...: computed in
#:   float32 on operands of the format, then rounded once (not correctly rounded).
#: * ``"matmul"``: dot_general and convolutions (:meth:`Policy.dot_general`, :meth:`Policy.conv`).
#: * ``"reduce"``: sums (with ``reduce_accumulator``); products, cumulative sums and
#:   scatter-adds are computed in float32 and rounded once.
KINDS = ("arith", "exact", "transcendental", "matmul", "reduce")


def _format_or_none(name: str, f: Any) -> Any:
    """A FloatFormat/IntFormat/FixedFormat (looked up by name), a BlockFormat where allowed, or None."""
    if f is None:
        return None
    if name in ("matmul_format", "weight_format"):
        block = _block_format(f)
        if block is not None:
            return block
    return lookup(f)


def _pairs(name: str, value: Any) -> tuple[tuple[Any, Any], ...]:
    """``value`` (a mapping or an iterable of pairs) as a tuple of (key, Policy or None) pairs."""
    items = value.items() if isinstance(value, Mapping) else value
    try:
        pairs = tuple(tuple(item) for item in items)
    except TypeError:
        raise InvalidArgumentError(f"Policy: {name} must be a mapping or (key, Policy or None) pairs, "
                                   f"got {value!r}") from None
    for pair in pairs:
        if len(pair) != 2 or not (pair[1] is None or isinstance(pair[1], Policy)):
            raise InvalidArgumentError(f"Policy: {name} must be (key, Policy or None) pairs, got {pair!r}")
    return pairs  # type: ignore[return-value]


@dataclass(frozen=True)
class Policy:
    """How an emulated computation rounds: formats per operation kind, rounding, accumulators.

    Every field may be left at its default; ``Policy()`` emulates nothing (float32 as it is).
    Operands are rounded into their format with nearest-even before every operation (a no-op
    on values the policy produced); results are rounded with ``rounding``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from lpemu.jax import Policy
        >>> p = Policy(format="bf16", matmul_format="e4m3", accumulator="fp32")
        >>> p.round(jnp.float32(1.00390625))  # bf16 has 8 significant bits
        Array(1., dtype=float32)
        >>> p.binary("add", jnp.float32(1.0), jnp.float32(2.0**-9))  # correctly rounded
        Array(1., dtype=float32)
        >>> q = Policy(format="bf16", rules={"*softmax*": None}, kinds={"transcendental": Policy(format="fp32")})
        >>> q.for_name("encoder/softmax") is None, q.for_name("encoder/mlp") is q
        (True, True)
        >>> q.resolve("encoder/mlp", "transcendental").format.name
        'float32'

    Raises:
        InvalidFormatError: an unknown format name.
        InvalidArgumentError: a bad rounding, overflow, sr_bits, seed, accumulator, product,
            rule (pattern not a str or re.Pattern), kind (not in :data:`KINDS`) or operands value.
    """

    #: Format of every floating-point result (elementwise ops, matmul outputs, reductions);
    #: None leaves results in the container (float32) unrounded.
    format: Any = None
    #: Rounding mode of every rounding the policy does (names as in :func:`lpemu.quantize`).
    rounding: str = "nearest_even"
    #: Overflow policy ("infinity", "saturate", "propagate"); None: the format's default.
    overflow: str | None = None
    #: Random bits and seed of stochastic rounding.
    sr_bits: int = 30
    seed: int | None = None
    #: Format the first operand (activations) of matmul/dot_general/conv is rounded into before
    #: the product: a float format or a block format (:mod:`lpemu.block`, quantized along the
    #: contracted axis). None: the TensorCore accumulator's input format, else ``format``.
    matmul_format: Any = None
    #: Format of the second operand (weights); None: ``matmul_format``.
    weight_format: Any = None
    #: How matmul products are summed: a model accepted by :func:`lpemu.matmul` (``"fp32"``,
    #: :class:`~lpemu.Sequential`, :class:`~lpemu.Exact`, :class:`~lpemu.Blocked`, a tensor core)
    #: or None: the container's own dot product (XLA's float32 dot of the rounded operands; fast,
    #: but its summation order is XLA's, not a modelled one). The sum is then rounded into ``format``.
    accumulator: Any = None
    #: Products of matmul: "exact", a float format, "lmul" or "lmul_formula" (see lpemu.matmul).
    product: Any = "exact"
    #: How reductions (sum, mean) are summed: a model as for ``accumulator``, or None: the
    #: container's own sum, then rounded into ``format``.
    reduce_accumulator: Any = None
    #: Overrides by name: ``(pattern, policy)`` pairs (or a dict), matched against the name of
    #: the enclosing scope ("block/attention/softmax"): a str pattern with fnmatch, a compiled
    #: ``re.Pattern`` with ``fullmatch``; the first match wins; a policy of None exempts the scope
    #: (it runs unemulated, in float32).
    rules: tuple[tuple[Any, Any], ...] = field(default=())
    #: Overrides by operation kind (:data:`KINDS`): ``(kind, policy)`` pairs (or a dict), applied
    #: after ``rules``; None exempts the kind.
    kinds: tuple[tuple[str, Any], ...] = field(default=())
    #: ``"quantize"``: elementwise operations and sums first round their operands into
    #: ``format`` (nearest-even; a no-op on values of the format). ``"assume"``: the operands are
    #: values of ``format`` already (as :func:`lpemu.emulate` knows of values it rounded itself),
    #: which saves the work. Matmul operands are always rounded into their formats.
    operands: str = "quantize"
    #: Run matmul/dot_general/conv as an integer-only layer (:class:`IntegerMatmul`: int8
    #: operands, int32 accumulator and bias, dyadic requantization) instead of the float
    #: product; ``matmul_format``, ``accumulator`` and ``product`` are then not used.
    integer: IntegerMatmul | None = None

    def __post_init__(self) -> None:
        for name in ("format", "matmul_format", "weight_format"):
            object.__setattr__(self, name, _format_or_none(name, getattr(self, name)))
        rounding_mode(self.rounding)  # validates the name
        if self.overflow is not None:
            overflow_policy(self.overflow)
        check_int("Policy.sr_bits", self.sr_bits, 1, 30)
        if self.seed is not None:
            check_int("Policy.seed", self.seed, 0, (1 << 64) - 1)
        for name in ("accumulator", "reduce_accumulator"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _accumulator(name, value))
        if not (isinstance(self.product, str) and self.product in _PRODUCTS):
            try:
                object.__setattr__(self, "product", lookup(self.product))
            except (ValueError, TypeError):
                raise InvalidArgumentError(f"Policy: product must be one of {', '.join(_PRODUCTS)} or a float "
                                           f"format, got {self.product!r}") from None
        rules = _pairs("rules", self.rules)
        for pattern, _ in rules:
            if not isinstance(pattern, (str, re.Pattern)):
                raise InvalidArgumentError("Policy: a rule's pattern must be a str (fnmatch) or a compiled "
                                           f"re.Pattern, got {type(pattern).__name__}: {pattern!r}")
        object.__setattr__(self, "rules", rules)
        kinds = _pairs("kinds", self.kinds)
        for kind, _ in kinds:
            if kind not in KINDS:
                raise InvalidArgumentError(f"Policy: kinds keys must be one of {', '.join(KINDS)}, got {kind!r}")
        object.__setattr__(self, "kinds", kinds)
        if self.integer is not None and not isinstance(self.integer, IntegerMatmul):
            raise InvalidArgumentError(f"Policy: integer must be an IntegerMatmul or None, got {self.integer!r}")
        if self.operands not in ("quantize", "assume"):
            raise InvalidArgumentError(f"Policy: operands must be 'quantize' or 'assume', got {self.operands!r}")

    # -- presets and scopes -------------------------------------------------------------------
    @staticmethod
    def preset(name: str) -> Policy:
        """The preset policy ``name`` (see :data:`POLICIES`; aliases ``fp8`` = ``fp8_e4m3``...).

        Raises:
            InvalidArgumentError: an unknown name; the message lists the presets.

        Examples:
            >>> Policy.preset("fp8").matmul_format.name
            'float8_e4m3fn'
        """
        key = name.strip().lower() if isinstance(name, str) else name
        key = _PRESET_ALIASES.get(key, key)
        if key not in POLICIES:
            raise InvalidArgumentError(f"Policy.preset: name must be one of {', '.join(POLICIES)} (or "
                                       f"{', '.join(_PRESET_ALIASES)}), got {name!r}")
        return POLICIES[key]

    def for_name(self, name: str) -> Policy | None:
        """The policy for scope ``name``: the first rule whose pattern matches, else self.

        Args:
            name: a scope name, its parts joined by "/" ("MLP/fc1").

        Returns:
            A policy, or None where the scope is exempt (it runs unemulated).

        Examples:
            >>> import re
            >>> p = Policy(format="bf16", rules=[(re.compile(r".*/norm[0-9]"), None), ("mlp/*", Policy(format="fp16"))])
            >>> p.for_name("block/norm1"), p.for_name("mlp/fc1").format.name, p.for_name("attn") is p
            (None, 'float16', True)
        """
        for pattern, policy in self.rules:
            hit = pattern.fullmatch(name) if isinstance(pattern, re.Pattern) else fnmatch.fnmatchcase(name, pattern)
            if hit:
                return policy
        return self

    def for_kind(self, kind: str) -> Policy | None:
        """The policy for operations of ``kind``: the ``kinds`` entry, else self.

        Args:
            kind: one of :data:`KINDS`.

        Returns:
            A policy, or None where the kind is exempt.

        Raises:
            InvalidArgumentError: an unknown kind.
        """
        if kind not in KINDS:
            raise InvalidArgumentError(f"Policy.for_kind: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        for k, policy in self.kinds:
            if k == kind:
                return policy
        return self

    def resolve(self, name: str, kind: str) -> Policy | None:
        """The policy of an operation of ``kind`` in scope ``name``: :meth:`for_name` first, then
        :meth:`for_kind` of the policy it picks (the picked policy's own rules are not applied
        again).

        Returns:
            A policy, or None: run the operation unemulated.
        """
        policy = self.for_name(name)
        return None if policy is None else policy.for_kind(kind)

    def emulates(self, kind: str) -> bool:
        """Whether this policy changes operations of ``kind`` (:data:`KINDS`) at all (False: they
        run exactly as JAX runs them).

        Examples:
            >>> Policy(matmul_format="e4m3").emulates("matmul"), Policy(matmul_format="e4m3").emulates("arith")
            (True, False)
        """
        if kind == "matmul":
            return self._emulates_products()
        if kind == "reduce":
            return self.format is not None or self.reduce_accumulator is not None
        return self.format is not None

    def replace(self, **changes: Any) -> Policy:
        """A copy with some fields changed."""
        return replace(self, **changes)

    # -- the emulated operations --------------------------------------------------------------
    def _options(self) -> dict:
        return {"rounding": self.rounding, "overflow": self.overflow, "sr_bits": self.sr_bits, "seed": self.seed}

    def _round(self, x: Any) -> Any:
        return quantize(x, self.format, **self._options()) if self.format is not None and _is_float(x) else x

    def _round_in(self, x: Any) -> Any:
        """An operand rounded into ``format`` (nearest-even, as lpemu's arithmetic does)."""
        if self.format is None or self.operands == "assume" or not _is_float(x):
            return x
        return quantize(x, self.format, "nearest_even", self.overflow)

    def round_operand(self, x: Any) -> Any:
        """``x`` rounded into ``format`` as an operand is: nearest-even whatever ``rounding`` says.

        Args:
            x: an array or scalar; only floating-point ones are rounded.

        Returns:
            ``x``'s values rounded, in its dtype; the derivative is the identity (straight-through).

        Examples:
            >>> import jax.numpy as jnp
            >>> Policy(format="bf16", rounding="up").round_operand(jnp.float32(1.001))
            Array(1., dtype=float32)
        """
        if self.format is None or not _is_float(x):
            return x
        return ste(lambda v: quantize(v, self.format, "nearest_even", self.overflow))(x)

    def round(self, x: Any) -> Any:
        """``x`` rounded into ``format`` with ``rounding`` and ``overflow``.

        Args:
            x: an array or scalar; integer and boolean ones are returned as they are.

        Returns:
            ``x``'s values rounded, in its dtype; the derivative is the identity (straight-through).
        """
        if self.format is None or not _is_float(x):
            return x
        return ste(self._round)(x)

    def binary(self, op: str, x: Any, y: Any) -> Any:
        """``x op y`` of the operands rounded into ``format``, correctly rounded once into it.

        Float formats up to 25 bits with nearest-even rounding run on the hardware (float32 or
        float64, then one rounding: the same bits as :func:`lpemu.add` and the others, see
        ``lpemu/jax/_hardware.py``); other modes run lpemu's kernels. Integer and fixed-point
        formats: computed in float32 on the rounded operands, rounded once.

        Args:
            op: ``"add"``, ``"sub"``, ``"mul"`` or ``"div"``.
            x, y: arrays or scalars (broadcast together).

        Returns:
            The result in the operands' float dtype; derivatives those of the unrounded operation.

        Raises:
            InvalidArgumentError: an unknown op.
        """
        if op not in _BINARY:
            raise InvalidArgumentError(f"Policy.binary: op must be one of {sorted(_BINARY)}, got {op!r}")
        if self.format is None or not (_is_float(x) or _is_float(y)):
            return _PLAIN[op](x, y)
        return ste(functools.partial(self._binary, op), like=_PLAIN[op])(x, y)

    def _binary(self, op: str, x: Any, y: Any) -> Any:
        if not isinstance(self.format, FloatFormat):
            return self._round(_PLAIN[op](self._round_in(x), self._round_in(y)))
        container = arith_container(op, self.format, self.rounding, jnp.result_type(x, y))
        if container is not None:  # hardware arithmetic then one rounding: the same bits, faster
            return hardware_arith(op, container, (self._round_in(x), self._round_in(y)), self._round,
                                  self.format.precision)
        return _BINARY[op](x, y, self.format, **self._options())

    def unary(self, op: str, x: Any) -> Any:
        """``op(x)`` of x rounded into ``format``, correctly rounded into it.

        Args:
            op: ``"sqrt"``, ``"neg"`` or ``"abs"`` (the last two are exact).
            x: an array or scalar.

        Returns:
            The result in x's float dtype; derivatives those of the unrounded operation.

        Raises:
            InvalidArgumentError: an unknown op.
        """
        if op not in _UNARY:
            raise InvalidArgumentError(f"Policy.unary: op must be one of {sorted(_UNARY)}, got {op!r}")
        if self.format is None or not _is_float(x):
            return _PLAIN[op](x)
        return ste(functools.partial(self._unary, op), like=_PLAIN[op])(x)

    def _unary(self, op: str, x: Any) -> Any:
        if not isinstance(self.format, FloatFormat):
            return self._round(_PLAIN[op](self._round_in(x)))
        if op != "sqrt":
            return _UNARY[op](x, self.format)
        container = arith_container(op, self.format, self.rounding, jnp.result_type(x))
        if container is not None:
            return hardware_arith(op, container, (self._round_in(x),), self._round, self.format.precision)
        return sqrt(x, self.format, **self._options())

    def apply(self, fn: Callable[..., Any], *operands: Any) -> Any:
        """``fn(*operands)`` computed in the container (float32) on the operands rounded into
        ``format``, then rounded once into ``format``.

        For functions whose float32 result is exact (max, floor, ...) this is the correctly
        rounded result; for transcendental ones (exp, tanh, ...) it is float32's approximation
        rounded once, not the correctly rounded value.

        Args:
            fn: an elementwise JAX function of the operands (one floating-point array result).
            operands: arrays or scalars.

        Returns:
            The rounded result; its derivatives are ``fn``'s at the same operands.

        Examples:
            >>> import jax.numpy as jnp
            >>> from lpemu.jax import Policy
            >>> Policy(format="e4m3").apply(jnp.exp, jnp.float32(1.0))
            Array(2.75, dtype=float32)
        """
        if self.format is None or not any(_is_float(x) for x in operands):
            return fn(*operands)
        return ste(lambda *xs: self._round(fn(*(self._round_in(x) for x in xs))), like=fn)(*operands)

    def _operand_formats(self) -> tuple[Any, Any]:
        a_fmt = self.matmul_format
        if a_fmt is None:
            a_fmt = self.accumulator.in_fmt if isinstance(self.accumulator, TensorCore) else self.format
        return a_fmt, (self.weight_format if self.weight_format is not None else a_fmt)

    def _emulates_products(self) -> bool:
        a_fmt, b_fmt = self._operand_formats()
        return self.integer is not None or not (self.format is None and a_fmt is None and b_fmt is None and self.accumulator is None)

    def matmul(self, a: Any, b: Any) -> Any:
        """``a @ b`` for 1-D/2-D a and b: operands rounded into ``matmul_format``/``weight_format``,
        products summed by ``accumulator``, the sum rounded into ``format``.

        Block formats quantize a along its last axis and b along its first (the contracted one).
        Sequential fp32 accumulation of formats whose products float32 holds exactly (FP8, fp16)
        runs as a float32 loop over k, bit for bit the model (``lpemu/jax/_hardware.py``).

        Args:
            a: (M, K) or (K,) array.
            b: (K, N) or (K,) array; other shapes: :meth:`dot_general`.

        Returns:
            The (M, N) product without the dimensions of 1-D operands; derivatives those of
            ``a @ b``.

        Raises:
            InvalidArgumentError: an operand is not 1-D or 2-D, or the contracted sizes differ.

        Examples:
            >>> import numpy as np
            >>> a = np.full((1, 4096), 0.1, np.float32)
            >>> Policy(matmul_format="bf16", accumulator="bf16").matmul(a, a.T)  # stagnation
            Array([[4.]], dtype=float32)
        """
        a, b = jnp.asarray(a), jnp.asarray(b)
        for name, x in (("a", a), ("b", b)):
            if x.ndim not in (1, 2):
                raise InvalidArgumentError(f"Policy.matmul: {name} must be 1-D or 2-D, got shape {x.shape} "
                                           "(use Policy.dot_general)")
        if not (_is_float(a) or _is_float(b)) or not self._emulates_products():
            return jnp.matmul(a, b)
        return ste(self._matmul, like=jnp.matmul)(a, b)

    def _matmul(self, a: Any, b: Any) -> Any:
        if a.shape[-1] != b.shape[0]:
            raise InvalidArgumentError(f"Policy.matmul: contracted sizes differ: a {a.shape}, b {b.shape}")
        a_fmt, b_fmt = self._operand_formats()
        m, k, n = a.shape[:-1], b.shape[0], b.shape[1:]
        if self.integer is not None:
            a3, b3 = a.reshape(1, math.prod(m), k), b.reshape(1, k, math.prod(n))
            return self._round(self._integer(a3, b3, None).reshape(*m, *n))
        a3 = _round_operand(a.reshape(1, math.prod(m), k), a_fmt, axis=-1, overflow=self.overflow)
        b3 = _round_operand(b.reshape(1, k, math.prod(n)), b_fmt, axis=-2, overflow=self.overflow)
        return self._round(self._product(a3, b3, a_fmt, b_fmt).reshape(*m, *n))

    def dot_general(self, a: Any, b: Any, dimension_numbers: Any, precision: Any = None,
                    preferred_element_type: Any = None, bias: Any = None) -> Any:
        """:func:`jax.lax.dot_general` emulated as :meth:`matmul` emulates a matrix product.

        With ``accumulator=None`` and element (not block) formats, the rounded operands go to
        XLA's float32 ``dot_general`` as they are (``precision`` is always HIGHEST: a float32
        product). Otherwise the operands become (batch, M, K) and (batch, K, N) arrays (block
        formats quantize each along K, the contracted axes in ``dimension_numbers``' order,
        row-major) and every batch element is a modelled matmul. The first operand takes
        ``matmul_format``, the second ``weight_format``.

        Args:
            a, b: arrays.
            dimension_numbers: ``((a_contracting, b_contracting), (a_batch, b_batch))``.
            precision, preferred_element_type: as for :func:`jax.lax.dot_general` (precision
                matters only where nothing is emulated).
            bias: None, or a vector added along the weights' output channels (the free axis of
                the weight operand, which must have exactly one): with ``integer`` added to the
                int32 accumulator (:class:`IntegerMatmul`), otherwise by :meth:`binary` after
                the rounded product.

        Returns:
            The result, shaped (batch, a free, b free) as ``lax.dot_general``'s.

        Raises:
            InvalidArgumentError: malformed ``dimension_numbers``; a bias whose length is not
                the weights' one free dimension.

        Examples:
            >>> import jax.numpy as jnp
            >>> from lpemu.jax import Policy
            >>> x = jnp.full((2, 3, 64), 0.1, jnp.float32)
            >>> out = Policy(matmul_format="bf16", accumulator="bf16").dot_general(x, x, (((2,), (2,)), ((0,), (0,))))
            >>> out.shape, float(out[0, 0, 0])
            ((2, 3, 3), 0.65625)
        """
        a, b = jnp.asarray(a), jnp.asarray(b)
        dn = _dimension_numbers(dimension_numbers)

        def like(x: Any, y: Any) -> Any:
            return lax.dot_general(x, y, dn, precision=precision, preferred_element_type=preferred_element_type)

        out_type = jax.eval_shape(like, a, b)
        if bias is not None:
            w = self.integer.weight_operand if self.integer is not None else 1
            axis = _products.dot_channel_axis(dn, (a.ndim, b.ndim), w)
            if axis is None:
                raise InvalidArgumentError(f"Policy.dot_general: a bias needs the weight operand ({w}) to have "
                                           "exactly one free dimension")
            vec, full = _bias_vector("Policy.dot_general", bias, out_type.shape, axis)
        if not (_is_float(a) or _is_float(b)) or not self._emulates_products():
            return like(a, b) if bias is None else self.binary("add", like(a, b), full)
        if self.integer is None:
            out = ste(functools.partial(self._dot_general, dn=dn, out_type=out_type.dtype), like=like)(a, b)
            return out if bias is None else self.binary("add", out, full)
        integer = functools.partial(self._integer_dot_general, dn=dn, out_type=out_type.dtype)
        if bias is None:
            return ste(integer, like=like)(a, b)
        shape = full.shape
        return ste(integer, like=lambda x, y, v: like(x, y) + v.reshape(shape))(a, b, vec)

    def _integer_dot_general(self, a: Any, b: Any, bias: Any = None, *, dn: Any, out_type: Any) -> Any:
        a3, b3, shape = _products.canonical_dot(a, b, dn)
        if self.integer.weight_operand == 1:
            out = self._integer(a3, b3, bias)
        else:  # the weights' rows are the channels: (W @ X)^T = X^T @ W^T
            out = self._integer(b3.transpose(0, 2, 1), a3.transpose(0, 2, 1), bias).transpose(0, 2, 1)
        return self._round(_products.from_canonical(out, shape)).astype(out_type)

    def _integer(self, act: Any, wgt: Any, bias: Any) -> Any:
        """:func:`integer_product` of (B, R, K) and (B, K, C), a bias vector (C,) broadcast over B."""
        if bias is not None:
            bias = jnp.broadcast_to(jnp.reshape(bias, (-1, wgt.shape[2])), (wgt.shape[0], wgt.shape[2]))
        return integer_product(self.integer, act, wgt, bias)

    def _dot_general(self, a: Any, b: Any, dn: Any, out_type: Any) -> Any:
        a_fmt, b_fmt = self._operand_formats()
        if self.accumulator is None and not (_is_block(a_fmt) or _is_block(b_fmt)):
            a = _round_operand(a, a_fmt, axis=-1, overflow=self.overflow)
            b = _round_operand(b, b_fmt, axis=-1, overflow=self.overflow)
            out = lax.dot_general(a, b, dn, precision=_HIGHEST, preferred_element_type=out_type)
            return self._round(out)
        a3, b3, shape = _products.canonical_dot(a, b, dn)
        a3 = _round_operand(a3, a_fmt, axis=-1, overflow=self.overflow)
        b3 = _round_operand(b3, b_fmt, axis=-2, overflow=self.overflow)
        return self._round(_products.from_canonical(self._product(a3, b3, a_fmt, b_fmt), shape)).astype(out_type)

    def conv(self, lhs: Any, rhs: Any, window_strides: Sequence[int], padding: Any,
             lhs_dilation: Sequence[int] | None = None, rhs_dilation: Sequence[int] | None = None,
             dimension_numbers: Any = None, feature_group_count: int = 1, batch_group_count: int = 1,
             precision: Any = None, preferred_element_type: Any = None, bias: Any = None) -> Any:
        """:func:`jax.lax.conv_general_dilated` emulated as :meth:`dot_general` is.

        With ``accumulator=None`` and element formats: XLA's float32 convolution of the rounded
        operands. Otherwise the convolution becomes a matmul (im2col): one row per output
        position, the contracted axis running over input channels, then kernel positions
        (row-major); block formats quantize along it.

        Args:
            lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
                feature_group_count, batch_group_count, precision, preferred_element_type: as
                for :func:`jax.lax.conv_general_dilated` (padding: a string or (low, high) pairs).
            bias: None or a vector over the output features, as in :meth:`dot_general`.

        Returns:
            The convolution, in the layout ``dimension_numbers`` gives.

        Raises:
            InvalidArgumentError: ``batch_group_count`` > 1 with a modelled accumulator or
                block formats (only the gradients of grouped convolutions use it).

        Examples:
            >>> import jax.numpy as jnp
            >>> from lpemu.jax import Policy
            >>> x, w = jnp.ones((1, 1, 4, 4)), jnp.full((1, 1, 3, 3), 0.1)
            >>> Policy(matmul_format="bf16", accumulator="fp32").conv(x, w, (1, 1), "VALID")
            Array([[[[0.9008789, 0.9008789],
                     [0.9008789, 0.9008789]]]], dtype=float32)
        """
        lhs, rhs = jnp.asarray(lhs), jnp.asarray(rhs)
        nsp = lhs.ndim - 2
        lhs_dilation = tuple(lhs_dilation or (1,) * nsp)
        rhs_dilation = tuple(rhs_dilation or (1,) * nsp)
        window_strides = tuple(window_strides)
        dn = lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers)
        if isinstance(padding, str):
            in_sp = [lhs.shape[d] for d in dn.lhs_spec[2:]]
            k_sp = [(rhs.shape[d] - 1) * r + 1 for d, r in zip(dn.rhs_spec[2:], rhs_dilation)]
            in_sp = [(n - 1) * d + 1 for n, d in zip(in_sp, lhs_dilation)]
            padding = lax.padtype_to_pads(in_sp, k_sp, window_strides, padding)
        padding = tuple((int(lo), int(hi)) for lo, hi in padding)
        conv = functools.partial(lax.conv_general_dilated, window_strides=window_strides, padding=padding,
                                 lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation, dimension_numbers=dn,
                                 feature_group_count=feature_group_count, batch_group_count=batch_group_count)

        def like(x: Any, y: Any) -> Any:
            return conv(x, y, precision=precision, preferred_element_type=preferred_element_type)

        out_type = jax.eval_shape(like, lhs, rhs)
        if bias is not None:
            vec, full = _bias_vector("Policy.conv", bias, out_type.shape, dn.out_spec[1])
        if not (_is_float(lhs) or _is_float(rhs)) or not self._emulates_products():
            return like(lhs, rhs) if bias is None else self.binary("add", like(lhs, rhs), full)
        args = (window_strides, padding, lhs_dilation, rhs_dilation, dn, feature_group_count, batch_group_count)
        run = functools.partial(self._conv, conv, args, out_type.dtype)
        if bias is None:
            return ste(run, like=like)(lhs, rhs)
        if self.integer is None:
            return self.binary("add", ste(run, like=like)(lhs, rhs), full)
        shape = full.shape
        return ste(run, like=lambda x, y, v: like(x, y) + v.reshape(shape))(lhs, rhs, vec)

    def _conv(self, conv: Callable[..., Any], args: tuple, out_type: Any, lhs: Any, rhs: Any, bias: Any = None) -> Any:
        a_fmt, b_fmt = self._operand_formats()
        if self.integer is None and self.accumulator is None and not (_is_block(a_fmt) or _is_block(b_fmt)):
            lhs = _round_operand(lhs, a_fmt, axis=-1, overflow=self.overflow)
            rhs = _round_operand(rhs, b_fmt, axis=-1, overflow=self.overflow)
            return self._round(conv(lhs, rhs, precision=_HIGHEST, preferred_element_type=out_type))
        strides, padding, lhs_dil, rhs_dil, dn, groups, batch_groups = args
        if batch_groups != 1:
            raise InvalidArgumentError(f"Policy.conv: batch_group_count must be 1 with a modelled accumulator or "
                                       f"block formats, got {batch_groups}")
        pats, kern, shape = _products.im2col(lhs, rhs, strides, padding, lhs_dil, rhs_dil, dn, groups)
        if self.integer is not None:
            return self._round(_products.col2out(self._integer(pats, kern, bias), shape, dn.out_spec)).astype(out_type)
        pats = _round_operand(pats, a_fmt, axis=-1, overflow=self.overflow)
        kern = _round_operand(kern, b_fmt, axis=-2, overflow=self.overflow)
        out = _products.col2out(self._product(pats, kern, a_fmt, b_fmt), shape, dn.out_spec)
        return self._round(out).astype(out_type)

    def _product(self, a3: Any, b3: Any, a_fmt: Any, b_fmt: Any, accumulator: Any = None) -> Any:
        """The (B, M, N) sums of products of rounded (B, M, K) and (B, K, N) operands, summed by
        ``accumulator`` (default: the policy's). ``b_fmt`` may be :data:`_ONES` (a sum)."""
        acc = self.accumulator if accumulator is None else accumulator
        if acc is None:
            return jnp.matmul(a3, b3, precision=_HIGHEST)
        if self._hardware_fp32(acc, a_fmt, b_fmt) and a3.dtype == b3.dtype == np.float32:
            return sequential_fp32(a3, b3)
        b_in = None if b_fmt is _ONES else b_fmt

        def one(a: Any, b: Any) -> Any:
            return matmul(a, b, in_fmt=a_fmt, b_fmt=b_in, inputs="assume", product=self.product,
                          accumulator=acc, sr_bits=self.sr_bits, seed=self.seed)

        return one(a3[0], b3[0])[None] if a3.shape[0] == 1 else jax.vmap(one)(a3, b3)

    def _hardware_fp32(self, acc: Any, a_fmt: Any, b_fmt: Any) -> bool:
        """Whether ``acc`` is sequential fp32 (nearest-even, IEEE overflow) of exact products of
        formats for which float32 hardware arithmetic is the model exactly."""
        if not (type(acc) is Sequential and acc.fmt == FP32 and acc.rounding is RoundingMode.NEAREST_EVEN
                and acc.overflow in (None, Overflow.INFINITY) and self.product in ("exact", "fused")):
            return False
        extents = [_ONES if f is _ONES else extent(f) if isinstance(f, FloatFormat) else None for f in (a_fmt, b_fmt)]
        return None not in extents and fp32_is_exact(*extents)

    def sum(self, x: Any, axis: Any = None) -> Any:
        """The sum over ``axis`` of x rounded into ``format``, summed by ``reduce_accumulator``
        (the elements in row-major order of the summed axes) and rounded into ``format``.

        Args:
            x: an array.
            axis: an int, a tuple of ints, or None for all axes.

        Returns:
            The sum, without the summed axes; derivatives those of ``jnp.sum``.

        Examples:
            >>> import numpy as np
            >>> x = np.full(4096, 0.1, np.float32)
            >>> Policy(format="bf16", reduce_accumulator="bf16").sum(x), Policy(format="bf16").sum(x)
            (Array(32., dtype=float32), Array(410., dtype=float32))
        """
        x = jnp.asarray(x)
        axes = tuple(range(x.ndim)) if axis is None else tuple(int(a) % max(x.ndim, 1) for a in np.atleast_1d(axis))

        def like(v: Any) -> Any:
            return jnp.sum(v, axis=axes)

        if not _is_float(x) or (self.format is None and self.reduce_accumulator is None):
            return like(x)
        return ste(functools.partial(self._sum, axes=axes), like=like)(x)

    def _sum(self, x: Any, axes: tuple[int, ...]) -> Any:
        x = self._round_in(x)
        if self.reduce_accumulator is None:
            return self._round(jnp.sum(x, axis=axes))
        keep = [d for d in range(x.ndim) if d not in axes]
        moved = jnp.transpose(x, keep + list(axes))
        out_shape = moved.shape[:len(keep)]
        k = int(np.prod(moved.shape[len(keep):], dtype=np.int64))
        rows = moved.reshape(-1, k)
        ones = jnp.ones((1, k, 1), x.dtype)
        fmt = self.format if isinstance(self.format, FloatFormat) else None
        # a sum is a matmul with ones: exact products, the modelled summation
        total = self._product(rows[None], ones, fmt, _ONES, self.reduce_accumulator)
        return self._round(total.reshape(out_shape))


#: The extent (precision, quantum exponent, emax) of the ones a sum multiplies by.
_ONES = (1, 0, 0)


def _dimension_numbers(dn: Any) -> tuple:
    try:
        (lc, rc), (lb, rb) = dn
        return (tuple(lc), tuple(rc)), (tuple(lb), tuple(rb))
    except (TypeError, ValueError):
        raise InvalidArgumentError("Policy.dot_general: dimension_numbers must be ((lhs_contract, rhs_contract), "
                                   f"(lhs_batch, rhs_batch)), got {dn!r}") from None


def _bias_vector(op: str, bias: Any, out_shape: tuple[int, ...], axis: int) -> tuple[Any, Any]:
    """A bias as a vector (C,) and as an array broadcasting along result axis ``axis``."""
    bias = jnp.asarray(bias)
    c = out_shape[axis]
    if bias.size != c or sum(n != 1 for n in bias.shape) > 1:
        raise InvalidArgumentError(f"{op}: bias must be a vector of the {c} output channels (axis {axis} of the "
                                   f"result), got shape {bias.shape}")
    vec = bias.reshape(c)
    return vec, vec.reshape(tuple(c if i == axis else 1 for i in range(len(out_shape))))


def _is_float(x: Any) -> bool:
    return jnp.issubdtype(jnp.result_type(x), jnp.floating)


def _is_block(fmt: Any) -> bool:
    from ..block import BlockFormat

    return isinstance(fmt, BlockFormat)


def _accumulator(name: str, value: Any) -> Any:
    try:
        return accumulator_of(value)
    except (ValueError, TypeError) as err:
        raise InvalidArgumentError(f"Policy: {name} must be an accumulator model or None ({err})") from err


def _round_operand(x: Any, fmt: Any, axis: int, overflow: Any = None) -> Any:
    """A matmul operand rounded into a format (nearest-even), or block-quantized along ``axis``
    (the contracted one)."""
    if fmt is None or not _is_float(x):
        return x
    from ..block import quantize as block_quantize

    if _is_block(fmt):
        return block_quantize(x, fmt, axis=axis if jnp.ndim(x) > 1 else -1)
    return quantize(x, fmt, "nearest_even", overflow)


def _presets() -> dict[str, Policy]:
    from ..block import dynamic_fixed_point

    low = {"format": "bf16", "overflow": "saturate"}
    return {
        "fp32": Policy(),
        "bf16": Policy(format="bf16"),
        "fp16": Policy(format="fp16"),
        "fp8_e4m3": Policy(**low, matmul_format="e4m3", accumulator="fp32"),
        "fp8_e5m2": Policy(**low, matmul_format="e5m2", accumulator="fp32"),
        "h100_fp8": Policy(**low, accumulator=tensor_core("H100", "e4m3")),
        "mxfp8": Policy(**low, matmul_format="mxfp8_e4m3"),
        "mxfp4": Policy(**low, matmul_format="mxfp4"),
        "nvfp4": Policy(**low, matmul_format="nvfp4"),
        "int8": Policy(**low, matmul_format=dynamic_fixed_point(8)),
        "lmul": Policy(**low, matmul_format="bf16", product="lmul", accumulator="fp32"),
        "int8_dyadic": Policy(integer=IntegerMatmul()),
    }


#: Named policies (``Policy.preset(name)``), the configurations of a fidelity study:
#:
#: * ``fp32``: nothing emulated (float32 exactly as XLA computes it).
#: * ``bf16`` / ``fp16``: every result, and the operands of every product, in that format; products
#:   summed by XLA's float32 dot, the sum rounded into the format.
#: * ``fp8_e4m3`` / ``fp8_e5m2``: matmul operands in OCP FP8 (saturating, unscaled), sequential
#:   fp32 accumulation, everything else in bf16.
#: * ``h100_fp8``: E4M3 operands summed by the H100 tensor-core model (:func:`lpemu.tensor_core`).
#: * ``mxfp8`` / ``mxfp4`` / ``nvfp4``: block-scaled matmul operands (:mod:`lpemu.block`), XLA's
#:   float32 sum; bf16 elsewhere.
#: * ``int8``: matmul operands as 8-bit integers with one power-of-two scale per tensor
#:   (dynamic fixed point, :func:`lpemu.block.dynamic_fixed_point`); their float32 products and
#:   sums are exact in any order up to 1032 terms. bf16 elsewhere.
#: * ``lmul``: bf16 operands multiplied by L-Mul (:mod:`lpemu.lmul`), sequential fp32 sums.
#: * ``int8_dyadic``: integer-only dense and convolutional layers (:class:`IntegerMatmul`):
#:   int8 operands with dynamic per-tensor activation and per-channel weight scales, int32
#:   accumulation with the layer's bias, dyadic requantization to int8 (TFLite rounding);
#:   everything else in float32.
POLICIES: dict[str, Policy] = _presets()
_PRESET_ALIASES = {"fp8": "fp8_e4m3", "e4m3": "fp8_e4m3", "e5m2": "fp8_e5m2", "h100": "h100_fp8", "dfp8": "int8",
                   "integer": "int8_dyadic"}


_CURRENT: contextvars.ContextVar[Policy | None] = contextvars.ContextVar("lpemu_policy", default=None)


def current_policy() -> Policy | None:
    """The policy set by the innermost :func:`use_policy` block, or None."""
    return _CURRENT.get()


@contextlib.contextmanager
def use_policy(policy: Policy | None) -> Iterator[Policy | None]:
    """Run a block under ``policy`` (the :mod:`lpemu.numpy` functions read it).

    Examples:
        >>> from lpemu.jax import Policy, current_policy, use_policy
        >>> with use_policy(Policy(format="fp16")) as p:
        ...     current_policy() is p
        True
    """
    if policy is not None and not isinstance(policy, Policy):
        raise InvalidArgumentError(f"use_policy: policy must be a Policy or None, got {type(policy).__name__}")
    token = _CURRENT.set(policy)
    try:
        yield policy
    finally:
        _CURRENT.reset(token)
