"""L-Mul: approximate multiplication by integer addition (Luo & Sun 2024, arXiv 2410.00907).

L-Mul replaces the product of two floats by a sum of their exponents and mantissas plus a
constant. lpemu emulates it for any :class:`~lpemu.FloatFormat` (shared/specs/lmul.md), in two
named forms:

* ``"bits"`` (the default): the integer add of the magnitude codes,
  ``code(|x|) + code(|y|) - offset(fmt)`` with ``offset = code(1.0) - 2^(M - l(M))``, whose
  mantissa sum carries into the exponent (Mitchell-style).
* ``"formula"``: the paper's formula ``(1 + xm + ym + 2^-l(M)) * 2^(xe + ye)``.

Here ``l(m) = m`` for ``m <= 3``, 3 for ``m = 4`` and 4 for ``m > 4``. The two forms agree
while ``xm + ym + 2^-l < 1``; beyond it ``bits`` gives ``2 (xm + ym + 2^-l) 2^(xe + ye)``
(1.75 * 1.75 is 3.125 in ``bits``, 2.5625 in ``formula``, exactly 3.0625).

The bare integer add mishandles zeros, subnormals, exponent underflow and overflow, Inf and
NaN; :func:`multiply` documents the rules lpemu uses instead. The Numba and JAX kernels
(``lpemu.kernels.numba.lmul``, ``lpemu.kernels.jax.lmul``) and the exact oracle
``lpemu.reference._lmul.lmul`` implement them bit for bit.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ._container import container_of, float_params
from ._formats import FloatFormat
from ._modes import Overflow, RoundingMode, rounding_mode
from ._quantize import _as_container, _is_jax, quantize
from .errors import InvalidArgumentError, InvalidFormatError, check_int
from .formats import lookup
from .kernels.params import LMulParams

__all__ = ["FORMS", "multiply", "offset", "offset_exponent", "kernel_params", "mean_relative_error"]

#: The L-Mul forms, in the order of their kernel codes (``LMUL_BITS``, ``LMUL_FORMULA``).
FORMS = ("bits", "formula")

ArrayLike = Any


def offset_exponent(man_bits: int) -> int:
    """The paper's l(m): L-Mul adds 2^-l(m) to the mantissa sum of a format with m = ``man_bits``.

    l(m) = m for m <= 3, 3 for m = 4, 4 for m > 4.

    Raises:
        InvalidArgumentError: ``man_bits`` is not an integer in [0, 52].

    Examples:
        >>> [offset_exponent(m) for m in (2, 3, 4, 5, 7, 10, 23)]
        [2, 3, 3, 4, 4, 4, 4]
    """
    man_bits = check_int("offset_exponent.man_bits", man_bits, 0, 52)
    return man_bits if man_bits <= 3 else (3 if man_bits == 4 else 4)


def _float_format(fmt: object) -> FloatFormat:
    f = lookup(fmt)  # type: ignore[arg-type]
    if not isinstance(f, FloatFormat):
        raise InvalidFormatError(f"L-Mul needs a floating-point format; {f.name} is an integer/fixed-point format")
    return f


def offset(fmt: FloatFormat | str) -> int:
    """The constant the ``bits`` form subtracts: ``code(1.0) - 2^(M - l(M))``, in ``fmt``'s codes.

    ``code(|x|) + code(|y|) - offset(fmt)`` is the L-Mul code of two normal operands whose
    product is a normal number (:func:`multiply` covers every other case).

    Args:
        fmt: a float format or its name.

    Returns:
        A Python int.

    Raises:
        InvalidFormatError: an unknown name, or an integer/fixed-point format.

    Examples:
        >>> hex(offset("fp32")), hex(offset("bf16")), hex(offset("fp16")), hex(offset("e4m3")), hex(offset("e5m2"))
        ('0x3f780000', '0x3f78', '0x3bc0', '0x37', '0x3b')
    """
    f = _float_format(fmt)
    return (f.bias << f.man_bits) - (1 << (f.man_bits - offset_exponent(f.man_bits)))


def _form_code(form: object) -> int:
    if not isinstance(form, str) or form not in FORMS:
        raise InvalidArgumentError(f"L-Mul form must be one of {', '.join(map(repr, FORMS))}; got {form!r}")
    return FORMS.index(form)


def kernel_params(fmt: FloatFormat | str, form: str = "bits", rounding: str | RoundingMode = "nearest_even",
                  overflow: str | Overflow | None = None) -> LMulParams:
    """Validated :class:`~lpemu.kernels.params.LMulParams` for the kernels' ``lmul_value``.

    For code that calls the element kernels itself (a matmul whose product model is L-Mul):
    ``lpemu.kernels.numba.lmul.lmul_value(x, y, p)`` and ``lpemu.kernels.jax.lmul.lmul_value``
    take float64 values that are exactly in ``fmt`` and return the float64 L-Mul product.

    Args:
        fmt: a float format or its name (any format a float64 holds exactly).
        form: ``"bits"`` or ``"formula"``.
        rounding: the rounding of the product, a deterministic mode (see :func:`multiply`).
        overflow: the overflow policy of the product (see :func:`multiply`).

    Returns:
        The parameter record (hashable: a static argument under ``jax.jit``).

    Raises:
        InvalidFormatError, InvalidArgumentError, UnsupportedContainerError: as :func:`multiply`.

    Examples:
        >>> p = kernel_params("e4m3", "formula")
        >>> p.mt, p.off, p.emax, p.max_sig  # max = 14 * 2^(8 - 3) = 448
        (3, 1, 8, 14)
    """
    f = _float_format(fmt)
    code = _form_code(form)
    mode = rounding_mode(rounding)
    if mode.is_stochastic:
        raise InvalidArgumentError(
            f"L-Mul rounding must be a deterministic mode (nearest_even, nearest_away, toward_zero, up, down, "
            f"odd); got {mode.value!r}")
    fp = float_params(f, np.dtype(np.float64), mode, overflow, 30)
    M = f.man_bits
    return LMulParams(
        form=code, mt=M, off=1 << (M - offset_exponent(M)), emin=fp.emin, emax=f.emax,
        max_sig=(1 << M) | (f.max_code & ((1 << M) - 1)), subn=fp.subn, nozero=fp.nozero,
        negzero=fp.negzero, has_inf=fp.has_inf, nan_sign=fp.nan_sign, mode=fp.mode, overflow=fp.overflow,
    )


@functools.cache
def _jax_multiply():
    import jax

    from .kernels.jax import lmul

    return jax.jit(lmul.multiply, static_argnums=(2, 3))


def _broadcast_shape(a_shape: tuple, b_shape: tuple) -> tuple:
    try:
        return np.broadcast_shapes(a_shape, b_shape)
    except ValueError:
        raise InvalidArgumentError(
            f"L-Mul operands must broadcast together; got shapes {a_shape} and {b_shape}") from None


def _multiply_jax(a, b, fmt, overflow, p):
    import jax.numpy as jnp

    xs = []
    for v in (a, b):
        v = jnp.asarray(v)
        if jnp.issubdtype(v.dtype, jnp.integer) or v.dtype == jnp.bool_:
            v = v.astype(jnp.result_type(float))
        xs.append(v)
    dtype = jnp.promote_types(xs[0].dtype, xs[1].dtype)
    container_of(dtype)
    shape = _broadcast_shape(xs[0].shape, xs[1].shape)
    pin = float_params(fmt, np.dtype(dtype), "nearest_even", overflow, 30)
    xa, xb = (jnp.broadcast_to(v.astype(dtype), shape) for v in xs)
    return _jax_multiply()(xa, xb, pin, p)


def multiply(a: ArrayLike, b: ArrayLike, fmt: FloatFormat | str, form: str = "bits",
             rounding: str | RoundingMode = "nearest_even", overflow: str | Overflow | None = None) -> Any:
    """Elementwise L-Mul product of ``a`` and ``b`` in ``fmt``: a value of ``fmt`` per element.

    Each operand is first rounded into ``fmt`` to nearest even (with ``overflow``), as lpemu's
    arithmetic does; then, with the operands normalised as x = (-1)^sx (1 + xm) 2^xe (a
    subnormal operand contributes its true exponent and significand) and
    s = xm + ym + 2^-l(M) (:func:`offset_exponent`), the exact real value of the form,

    * ``"bits"``: (1 + s) 2^(xe + ye) while s < 1, else s 2^(xe + ye + 1) (the carry of the
      integer add of the codes), or
    * ``"formula"``: (1 + s) 2^(xe + ye),

    with the sign sx xor sy, is rounded once into ``fmt`` with ``rounding`` and an unbounded
    exponent above, exactly as :func:`lpemu.quantize` rounds a real number (docs/semantics.md).
    For normal operands with a normal result, ``bits`` equals the integer add
    ``code(|x|) + code(|y|) - offset(fmt)`` (:func:`offset`) and needs no rounding; ``formula``
    results in [2, 3) * 2^e have one bit more than the format and are rounded.

    Rules where the integer add breaks (stated once, implemented by all backends):

    * zero operand (and the other finite): zero with the sign sx xor sy (+0 where the format
      has no -0, i.e. fnuz and P3109 formats);
    * NaN operand: NaN; Inf times zero: NaN;
    * Inf times non-zero (finite or Inf): Inf with the sign sx xor sy;
    * a NaN result has the sign sx xor sy in IEEE and ``fn`` formats, and the sign of the
      format's NaN code otherwise (negative for fnuz and signed P3109, as :func:`lpemu.quantize`);
    * exponent overflow (the rounded value exceeds the largest finite value): ``overflow``, as
      in :func:`lpemu.quantize`: ``infinity`` gives +-Inf (NaN without Inf; +-max when the mode
      rounds toward zero for that sign), ``saturate`` and ``propagate`` give +-max;
    * underflow: the exact value rounds into the subnormals (or to zero / the smallest normal
      without subnormals, to the smallest value without zero) with ``rounding``, a zero result
      keeping the sign sx xor sy where -0 exists;
    * subnormal operands: normalised as above, never the integer add of their raw codes.

    Operands that are Inf before rounding become +-max with ``overflow="saturate"`` and NaN in
    formats without Inf (E4M3), as in :func:`lpemu.quantize`; the Inf rules then apply to what
    is left.

    Args:
        a, b: numpy arrays (Numba kernel, parallel over elements) or JAX arrays (JAX kernel,
            works under jit and vmap), or scalars; they broadcast together. Integers become
            float64 (numpy) or JAX's default float.
        fmt: a float format or its name (``"fp32"``, ``"bf16"``, ``"e4m3"``, a FloatFormat...).
        form: ``"bits"`` (default) or ``"formula"``.
        rounding: the rounding of the product: ``nearest_even`` (default; IEEE roundTiesToEven),
            ``nearest_away`` (roundTiesToAway), ``toward_zero``, ``up`` (roundTowardPositive),
            ``down`` (roundTowardNegative) or ``odd`` (P3109 ToOdd); stochastic modes are not
            offered. Operands always round to nearest even.
        overflow: ``infinity``, ``saturate`` or ``propagate``; None for the format's default.

    Returns:
        An array of the broadcast shape in the operands' container (float32 if both are
        float32, else float64; a numpy scalar for scalar operands), every element a value of
        ``fmt`` (or NaN/Inf).

    Raises:
        InvalidFormatError: an unknown format name, or an integer/fixed-point format.
        InvalidArgumentError: a bad form, a stochastic or unknown rounding mode, a bad overflow
            policy, or shapes that do not broadcast.
        UnsupportedContainerError: the container cannot hold ``fmt`` (fp64 in float32).

    Examples:
        >>> import numpy as np
        >>> x = np.array([1.0, 1.5, 3.0, 2.0, 3.6, 1.75], np.float32)
        >>> y = np.array([1.0, 1.5, -2.0, 0.5, 2.1, 1.75], np.float32)
        >>> multiply(x, y, "fp32").tolist()
        [1.0625, 2.125, -6.25, 1.0625, 7.649999618530273, 3.125]
        >>> multiply(1.75, 1.75, "fp32", form="formula")
        np.float64(2.5625)
        >>> multiply(np.array([0.0, np.inf, np.inf, 300.0]), np.array([-5.0, 0.0, -2.0, 300.0]), "fp16").tolist()
        [-0.0, nan, -inf, inf]
        >>> multiply(np.array([300.0]), 300.0, "e4m3", overflow="saturate")
        array([448.])
    """
    fmt = _float_format(fmt)
    p = kernel_params(fmt, form, rounding, overflow)
    if _is_jax(a) or _is_jax(b):
        return _multiply_jax(a, b, fmt, overflow, p)
    xa = _as_container(a)
    xb = _as_container(b)
    dtype = np.result_type(xa.dtype, xb.dtype)
    shape = _broadcast_shape(xa.shape, xb.shape)
    xs = []
    for v in (xa, xb):
        # rounded in its own shape (cheaper than after broadcasting), then expanded; always a
        # writable C array, as Numba compiles a loop per array layout and read-only flag
        q = np.asarray(quantize(v.astype(dtype, copy=False), fmt, overflow=overflow))
        xs.append(q if q.shape == shape and q.flags.c_contiguous and q.flags.writeable
                  else np.array(np.broadcast_to(q, shape), order="C"))
    out = np.empty(shape, dtype)
    from .kernels.numba import lmul

    lmul.lmul_array(xs[0].reshape(-1), xs[1].reshape(-1), out.reshape(-1), p)
    return out[()] if out.ndim == 0 else out


def mean_relative_error(fmt: FloatFormat | str, form: str = "bits", *, samples: int = 1 << 20, seed: int = 0,
                        grid: bool = False) -> float:
    """Mean relative error of L-Mul (or of ordinary multiplication) in ``fmt`` on [1, 2) x [1, 2).

    The operands are x = 1 + u, y = 1 + v with uniformly random mantissas u, v:

    * ``grid=False``: u, v uniform real numbers in [0, 1); the operands are rounded into
      ``fmt`` to nearest even (as :func:`multiply` does), and the error is measured against the
      exact product of the *unrounded* x and y.
    * ``grid=True``: u, v uniform on the format's mantissa grid k / 2^M (the operands are exact
      values of ``fmt``); the error is measured against their exact product.

    Args:
        fmt: a float format or its name; it must hold [1, 4) without overflow.
        form: ``"bits"``, ``"formula"``, or ``"float"`` for ordinary multiplication rounded to
            nearest even into ``fmt`` (RNE operands and result: the FP8 baseline).
        samples: number of random pairs.
        seed: seed of :func:`numpy.random.default_rng`.
        grid: mantissas on the format's grid instead of real-valued.

    Returns:
        mean(|product - x y| / (x y)) as a Python float.

    Raises:
        InvalidArgumentError: a bad form or sample count; InvalidFormatError: a bad format.

    Examples:
        >>> # L-Mul with 3 mantissa bits (bits form) beats E5M2 multiplication (the paper's claim)
        >>> lmul3 = mean_relative_error("e4m3", samples=4096)
        >>> e5m2 = mean_relative_error("e5m2", "float", samples=4096)
        >>> round(lmul3, 4), round(e5m2, 4)
        (0.0583, 0.0719)
    """
    f = _float_format(fmt)
    if form != "float":
        _form_code(form)
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 1:
        raise InvalidArgumentError(f"samples must be a positive integer, got {samples!r}")
    rng = np.random.default_rng(seed)
    if grid:
        scale = float(1 << f.man_bits)
        x = 1.0 + rng.integers(0, 1 << f.man_bits, samples) / scale
        y = 1.0 + rng.integers(0, 1 << f.man_bits, samples) / scale
    else:
        x = 1.0 + rng.random(samples)
        y = 1.0 + rng.random(samples)
    if form == "float":
        prod = quantize(quantize(x, f) * quantize(y, f), f)
    else:
        prod = multiply(x, y, f, form)
    exact = x * y  # float64: relative error below 2^-53, far below what is measured
    return float(np.mean(np.abs(prod - exact) / exact))
