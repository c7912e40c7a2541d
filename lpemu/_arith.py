"""Correctly rounded arithmetic in any float format: add, sub, mul, div, fma, sqrt, neg, abs.

Every operation rounds its operands into the input format (nearest-even), computes the exact
IEEE 754 result and rounds it once into the output format with any rounding mode and overflow
policy. numpy inputs run the Numba kernels, JAX arrays the JAX kernels; both compute the exact
result in float64 with error-free transformations and round it to odd first, which is exact
for the formats :func:`check_exact` admits (see kernels/numba/arith.py).
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any

import numpy as np

from ._container import resolve_overflow, seed_words
from ._formats import FloatFormat
from ._modes import Overflow, RoundingMode, rounding_mode
from ._quantize import _as_container, _is_jax, _jax_seed, quantize
from .errors import InvalidArgumentError, InvalidFormatError
from .formats import lookup

__all__ = ["add", "sub", "mul", "div", "fma", "sqrt", "neg", "abs", "check_exact"]

ArrayLike = Any
FormatLike = FloatFormat | str

#: Largest |exponent| of the operands' format: keeps every product, quotient, square root and
#: error term of the float64 algorithm a normal float64 (XLA on CPU flushes subnormals).
MAX_EXPONENT = 300
#: Largest operand precision for fma, whose product must be exact in float64.
MAX_FMA_PRECISION = 26
_ARITY = {"add": 2, "sub": 2, "mul": 2, "div": 2, "sqrt": 1, "fma": 3}


def _guard_bits(mode: RoundingMode, sr_bits: int) -> int:
    """Bits beyond the target precision that a rounding reads from a round-to-odd value."""
    if mode.is_stochastic:
        return sr_bits + 2
    return 2 if mode in (RoundingMode.NEAREST_EVEN, RoundingMode.NEAREST_AWAY) else 1


def check_exact(op: str, fmt: FormatLike, in_fmt: FormatLike | None = None,
                rounding: str | RoundingMode = "nearest_even", sr_bits: int = 30) -> None:
    """Raise :class:`~lpemu.InvalidFormatError` unless ``op`` can be emulated exactly.

    The float64 algorithm is exact when the input format's exponents lie within
    +-:data:`MAX_EXPONENT`, fma's inputs have at most :data:`MAX_FMA_PRECISION` significant bits,
    and the output precision plus the bits the rounding reads (2 for the nearest modes, 1 for
    the directed modes and to-odd, ``sr_bits + 2`` for stochastic rounding) is at most 53.

    Examples:
        >>> check_exact("mul", "fp32", rounding="stochastic", sr_bits=27)
        >>> check_exact("mul", "fp32", rounding="stochastic", sr_bits=28)
        Traceback (most recent call last):
        ...
        lpemu.errors.InvalidFormatError: mul into float32 with stochastic rounding reads 54 significant bits; float64 emulation is exact up to 53 (lower sr_bits to at most 27)
    """
    fmt, in_fmt = _formats(op, fmt, in_fmt)
    mode = rounding_mode(rounding)
    need = fmt.precision + _guard_bits(mode, sr_bits)
    if need > 53:
        hint = f" (lower sr_bits to at most {53 - 2 - fmt.precision})" if mode.is_stochastic else ""
        raise InvalidFormatError(f"{op} into {fmt.name} with {mode.value} rounding reads {need} significant bits; "
                                 f"float64 emulation is exact up to 53{hint}")
    lo = in_fmt.emin - in_fmt.man_bits
    if in_fmt.emax >= MAX_EXPONENT or lo <= -MAX_EXPONENT:
        raise InvalidFormatError(f"{op} on {in_fmt.name} operands: exponents must lie within +-{MAX_EXPONENT} "
                                 f"for exact float64 emulation, got [{lo}, {in_fmt.emax}]")
    if op == "fma" and in_fmt.precision > MAX_FMA_PRECISION:
        raise InvalidFormatError(f"fma on {in_fmt.name} operands: precision must be at most {MAX_FMA_PRECISION} "
                                 f"bits (an exact float64 product), got {in_fmt.precision}")


def _formats(op: str, fmt: FormatLike, in_fmt: FormatLike | None) -> tuple[FloatFormat, FloatFormat]:
    if op not in _ARITY:
        raise InvalidArgumentError(f"op must be one of {sorted(_ARITY)}, got {op!r}")
    fmt = lookup(fmt)
    in_fmt = fmt if in_fmt is None else lookup(in_fmt)
    for name, f in (("fmt", fmt), ("in_fmt", in_fmt)):
        if not isinstance(f, FloatFormat):
            raise InvalidFormatError(f"{op}: {name} must be a float format, got {f.name} (integer and fixed-point "
                                     "arithmetic is not emulated here)")
    return fmt, in_fmt


def _params(op, fmt, in_fmt, rounding, overflow, sr_bits):
    from ._container import float_params

    fmt, in_fmt = _formats(op, fmt, in_fmt)
    check_exact(op, fmt, in_fmt, rounding, sr_bits)
    resolve_overflow(in_fmt, overflow)
    pin = float_params(in_fmt, np.dtype(np.float64), "nearest_even", overflow, 30)
    pout = float_params(fmt, np.dtype(np.float64), rounding, overflow, sr_bits)
    return fmt, pin, pout


@functools.cache
def _jax_kernel():
    import jax

    from .kernels.jax.arith import arith

    return jax.jit(arith, static_argnums=(0, 2, 3, 4))


def _apply(op: str, operands: tuple, fmt, rounding, overflow, in_fmt, sr_bits, seed):
    fmt, pin, pout = _params(op, fmt, in_fmt, rounding, overflow, sr_bits)
    mode = rounding_mode(rounding)
    from ._container import check_fits

    if any(_is_jax(x) for x in operands):
        import jax.numpy as jnp

        xs = [jnp.asarray(x) for x in operands]
        xs = [x.astype(jnp.result_type(float)) if not jnp.issubdtype(x.dtype, jnp.floating) else x for x in xs]
        dtype = jnp.result_type(*xs)
        check_fits(fmt, dtype)
        xs = [x.astype(dtype) for x in jnp.broadcast_arrays(*xs)]
        lo, hi = _jax_seed(seed, mode)
        return _jax_kernel()(op, tuple(xs), pin, pout, np.dtype(dtype).name, lo, hi)
    arrays = [_as_container(x) for x in operands]
    dtype = np.result_type(*arrays)
    check_fits(fmt, dtype)
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    # the kernel reads and writes float64 (one build for every operation and container)
    with np.errstate(invalid="ignore"):  # signalling NaNs are quiet in float64
        flat = [np.broadcast_to(a, shape).astype(np.float64).reshape(-1) for a in arrays]
    flat += [flat[0]] * (3 - len(flat))
    out = np.empty(math.prod(shape), np.float64)
    lo, hi = seed_words(seed, mode)
    from .kernels.numba import arith
    from .kernels.numba.specialize import PARALLEL_MIN_SIZE
    from .kernels.params import flags_of

    loop = arith.loop_parallel if out.size >= PARALLEL_MIN_SIZE else arith.loop_serial
    loop(arith.OPS.index(op), *flat, out, pin, flags_of(pin), pout, flags_of(pout), lo, hi)
    res = out.reshape(shape).astype(dtype, copy=False)
    return res[()] if res.ndim == 0 else res


def add(x: ArrayLike, y: ArrayLike, fmt: FormatLike, rounding: str | RoundingMode = "nearest_even",
        overflow: str | Overflow | None = None, *, in_fmt: FormatLike | None = None, sr_bits: int = 30,
        seed: int | None = None) -> Any:
    """x + y, rounded once into ``fmt``.

    The operands broadcast like numpy's. Each is first rounded into ``in_fmt`` (default ``fmt``)
    with nearest-even and the same overflow policy (a no-op for values already in it), then the
    exact sum is rounded once with ``rounding`` and ``overflow``, as :func:`lpemu.quantize` rounds.

    Args:
        x, y: numpy arrays, JAX arrays (works under jit and vmap) or scalars. The result's
            container is their common float dtype (float32 or float64; integers give float64).
        fmt: the output format (a :class:`~lpemu.FloatFormat` or its name).
        rounding: any rounding mode of :func:`lpemu.quantize`.
        overflow: ``infinity``, ``saturate`` or ``propagate``; None for the format's default.
        in_fmt: the operands' format, when it differs from ``fmt`` (e.g. fp8 inputs, fp16 result).
        sr_bits, seed: random bits and seed for the stochastic modes (element ``i`` of the
            flat broadcast result uses the same random bits as in :func:`lpemu.quantize`).

    Returns:
        An array of the broadcast shape (a numpy scalar for scalar inputs).

    Special values follow IEEE 754: NaN operands, Inf - Inf, 0 * Inf, 0 / 0, Inf / Inf and the
    square root of a negative number give NaN, which then rounds into ``fmt`` like a positive
    NaN in :func:`lpemu.quantize` (formats without NaN: ``-0`` where they have it, else 0). An exact
    zero sum is +0, except (-0) + (-0) = -0 and, rounding down, -0 unless both addends are +0.

    Raises:
        InvalidFormatError: a format the float64 algorithm cannot round exactly
            (:func:`check_exact`), or an integer/fixed-point format.
        UnsupportedContainerError: ``fmt`` does not fit the operands' container.

    Examples:
        >>> import numpy as np
        >>> add(np.float32(1.0), np.float32(0.0625), "e4m3")
        np.float32(1.0)
        >>> add(np.array([1.0, 1.0], np.float32), 0.0625, "e4m3", "up").tolist()
        [1.125, 1.125]
        >>> add(448.0, 32.0, "e4m3", overflow="saturate")
        np.float64(448.0)
    """
    return _apply("add", (x, y), fmt, rounding, overflow, in_fmt, sr_bits, seed)


def sub(x: ArrayLike, y: ArrayLike, fmt: FormatLike, rounding: str | RoundingMode = "nearest_even",
        overflow: str | Overflow | None = None, *, in_fmt: FormatLike | None = None, sr_bits: int = 30,
        seed: int | None = None) -> Any:
    """x - y, rounded once into ``fmt`` (arguments and special values as :func:`add`).

    Examples:
        >>> sub(1.0, 1.0, "fp16"), sub(1.0, 1.0, "fp16", "down")
        (np.float64(0.0), np.float64(-0.0))
    """
    return _apply("sub", (x, y), fmt, rounding, overflow, in_fmt, sr_bits, seed)


def mul(x: ArrayLike, y: ArrayLike, fmt: FormatLike, rounding: str | RoundingMode = "nearest_even",
        overflow: str | Overflow | None = None, *, in_fmt: FormatLike | None = None, sr_bits: int = 30,
        seed: int | None = None) -> Any:
    """x * y, rounded once into ``fmt`` (arguments and special values as :func:`add`).

    Examples:
        >>> import numpy as np
        >>> mul(np.float32(1.125), np.float32(1.125), "e4m3"), mul(1.125, 1.125, "e4m3", "toward_zero")
        (np.float32(1.25), np.float64(1.25))
        >>> mul(1.125, 1.125, "fp16", in_fmt="e4m3")
        np.float64(1.265625)
    """
    return _apply("mul", (x, y), fmt, rounding, overflow, in_fmt, sr_bits, seed)


def div(x: ArrayLike, y: ArrayLike, fmt: FormatLike, rounding: str | RoundingMode = "nearest_even",
        overflow: str | Overflow | None = None, *, in_fmt: FormatLike | None = None, sr_bits: int = 30,
        seed: int | None = None) -> Any:
    """x / y, rounded once into ``fmt`` (arguments and special values as :func:`add`).

    Examples:
        >>> div(1.0, 3.0, "bf16"), div(1.0, 3.0, "bf16", "down"), div(1.0, 0.0, "bf16")
        (np.float64(0.333984375), np.float64(0.33203125), np.float64(inf))
    """
    return _apply("div", (x, y), fmt, rounding, overflow, in_fmt, sr_bits, seed)


def fma(x: ArrayLike, y: ArrayLike, z: ArrayLike, fmt: FormatLike, rounding: str | RoundingMode = "nearest_even",
        overflow: str | Overflow | None = None, *, in_fmt: FormatLike | None = None, sr_bits: int = 30,
        seed: int | None = None) -> Any:
    """x * y + z with one rounding into ``fmt`` (arguments and special values as :func:`add`).

    ``in_fmt`` may have at most 26 significant bits (fp32 and narrower).

    Examples:
        >>> fma(1.0 + 2**-10, 1.0 - 2**-10, -1.0, "fp16")
        np.float64(-9.5367431640625e-07)
    """
    return _apply("fma", (x, y, z), fmt, rounding, overflow, in_fmt, sr_bits, seed)


def sqrt(x: ArrayLike, fmt: FormatLike, rounding: str | RoundingMode = "nearest_even",
         overflow: str | Overflow | None = None, *, in_fmt: FormatLike | None = None, sr_bits: int = 30,
         seed: int | None = None) -> Any:
    """The square root of x, rounded once into ``fmt`` (arguments as :func:`add`; sqrt(-0) = -0,
    sqrt of a negative number is NaN).

    Examples:
        >>> sqrt(2.0, "fp16"), sqrt(2.0, "fp16", "up"), sqrt(-0.0, "fp16")
        (np.float64(1.4140625), np.float64(1.4150390625), np.float64(-0.0))
    """
    return _apply("sqrt", (x,), fmt, rounding, overflow, in_fmt, sr_bits, seed)


def neg(x: ArrayLike, fmt: FormatLike) -> Any:
    """-x for x rounded into ``fmt`` (nearest-even): exact, except that formats without -0 give
    +0 and unsigned formats give NaN (their quantize rule for negative inputs).

    Examples:
        >>> import numpy as np
        >>> neg(np.array([0.0, 1.0, 0.3], np.float32), "e4m3").tolist()
        [-0.0, -1.0, -0.3125]
        >>> neg(np.float32(0.0), "e4m3fnuz")
        np.float32(0.0)
    """
    return quantize(-quantize(x, fmt), fmt)


def abs(x: ArrayLike, fmt: FormatLike) -> Any:  # noqa: A001 - mirrors numpy.abs
    """|x| for x rounded into ``fmt`` (nearest-even); exact.

    Examples:
        >>> abs(-0.3, "e4m3")
        np.float64(0.3125)
    """
    return quantize(operator.abs(quantize(x, fmt)), fmt)
