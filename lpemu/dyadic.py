"""Dyadic requantization: real scales as ``multiplier * 2^(shift - 31)`` and integer arithmetic.

Integer-only inference (gemmlowp, TFLite, CMSIS-NN, HAWQ-V3, I-BERT, I-ViT) replaces every
floating-point rescaling of an int32 accumulator by a multiplication with a 31-bit fixed-point
``multiplier`` and a power-of-two ``shift`` (shared/specs/integer-pipelines.md). This module
reproduces those primitives bit for bit, for numpy arrays (Numba kernels) and JAX arrays (JAX
kernels, under ``jit`` and ``vmap``); :mod:`lpemu.reference` holds the exact Python-int oracle.

One convention for every function here: the real multiplier is ``multiplier * 2^(shift - 31)``
with ``multiplier`` in [0, 2^31 - 1] (usually [2^30, 2^31)), so ``shift`` is TFLite's exponent
(positive: a left shift). HAWQ's ``batch_frexp`` exponent ``e`` is ``31 - shift``.

The three roundings (:class:`DyadicRounding`) are what the implementations do:

* ``double`` (gemmlowp, TFLite's default build): SaturatingRoundingDoublingHighMul (ties toward
  +inf, MIN * MIN saturates) followed by RoundingDivideByPOT (ties away from zero).
* ``single`` (TFLite's ``TFLITE_SINGLE_ROUNDING`` build, tflite-micro): one rounding, ties toward
  +inf.
* ``hawq`` (HAWQ-V3 / I-BERT / I-ViT ``fixedpoint_mul``): the product in float64, ties to even.

Examples:
    >>> import numpy as np
    >>> from lpemu import dyadic
    >>> m, s = dyadic.quantize_multiplier(0.1)
    >>> m, s
    (1717986918, -3)
    >>> dyadic.requantize(np.array([1000, -15, 2000], np.int32), m, s)
    array([100,  -2, 127], dtype=int8)
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Any

import numpy as np

from ._formats import IntFormat
from .errors import InvalidArgumentError, check_int
from .integer._common import (
    check_axis,
    check_scale,
    check_values,
    concrete,
    container,
    elementwise,
    int_array,
    int_format,
    int_param,
    is_jax,
    kernels,
)

__all__ = [
    "DyadicRounding", "quantize_multiplier", "saturating_rounding_doubling_high_mul", "rounding_divide_by_pot",
    "multiply_by_quantized_multiplier", "fixedpoint_mul", "requantize",
]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
#: The largest multiplier: ``2^31 - 1`` (a Q0.31 number just below 1).
MULTIPLIER_MAX = INT32_MAX


class DyadicRounding(str, Enum):
    """How ``x * multiplier * 2^(shift - 31)`` is rounded to an integer."""

    #: gemmlowp / TFLite default: SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT
    #: (two roundings: ties toward +inf, then ties away from zero); the left shift wraps.
    DOUBLE = "double"
    #: TFLITE_SINGLE_ROUNDING: ``(x m + 2^(30 - shift)) >> (31 - shift)`` in int64, one rounding
    #: with ties toward +inf (IEEE roundTiesToPositive), then a wrapping cast to int32.
    SINGLE = "single"
    #: HAWQ-V3 fixedpoint_mul: ``round(fl64(x m) / 2^(31 - shift))`` in float64, ties to even
    #: (IEEE roundTiesToEven); the product itself is rounded to float64 beyond 2^53.
    HAWQ = "hawq"

    def __str__(self) -> str:
        return self.value


#: The shifts each rounding accepts (TFLite checks [-31, 30]; HAWQ's float64 has more room).
SHIFT_RANGE = {DyadicRounding.DOUBLE: (-31, 30), DyadicRounding.SINGLE: (-31, 30), DyadicRounding.HAWQ: (-63, 30)}
#: Shifts of TFLite's int64-accumulator MultiplyByQuantizedMultiplier, and its input range.
INT64_SHIFT_RANGE = (-31, 7)
INT64_ACC_RANGE = (-(1 << 47), (1 << 47) - 1)


def dyadic_rounding(rounding: str | DyadicRounding) -> DyadicRounding:
    """A :class:`DyadicRounding` from itself or its name."""
    try:
        return DyadicRounding(rounding)
    except ValueError:
        allowed = ", ".join(r.value for r in DyadicRounding)
        raise InvalidArgumentError(f"rounding must be one of {allowed}; got {rounding!r}") from None


# ---- multipliers --------------------------------------------------------------------------------
def _quantize_one(d: float, mode: DyadicRounding) -> tuple[int, int]:
    if d == 0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = math.floor(q * 2**31 + 0.5)  # exact: q * 2^31 < 2^31 has at most 22 fraction bits
    if q_fixed == 1 << 31:
        q_fixed, shift = 1 << 30, shift + 1
    if mode is not DyadicRounding.HAWQ and shift < -31:
        return 0, 0  # TFLite flushes multipliers below 2^-32 to zero
    if mode is DyadicRounding.SINGLE and shift > 30:
        return MULTIPLIER_MAX, 30
    return q_fixed, shift


def quantize_multiplier(real_multiplier: float | Any, rounding: str | DyadicRounding = "double"
                        ) -> tuple[int, int] | tuple[np.ndarray, np.ndarray]:
    """The (multiplier, shift) of a real multiplier: ``real ~ multiplier * 2^(shift - 31)``.

    ``real = q * 2^shift`` with ``q`` in [1/2, 1) (``frexp``); ``multiplier`` is ``q * 2^31``
    rounded half away from zero; a result of ``2^31`` becomes ``(2^30, shift + 1)``; 0 gives
    ``(0, 0)``. The rounding selects the implementation being reproduced:

    * ``"double"``: TFLite ``QuantizeMultiplier``; a shift below -31 (``real < 2^-32``) gives
      ``(0, 0)``.
    * ``"single"``: TFLite with ``TFLITE_SINGLE_ROUNDING``: also, a shift above 30 saturates to
      ``(2^31 - 1, 30)``.
    * ``"hawq"``: HAWQ-V3 ``batch_frexp`` (``Decimal`` ROUND_HALF_UP of a positive value is the
      same rounding): no flush and no saturation; HAWQ keeps ``m = 2^31`` (it stores ``m`` in
      float64), lpemu returns ``(2^30, shift + 1)``, the same value, which ``fixedpoint_mul``
      rounds identically. HAWQ's exponent is ``e = 31 - shift``.

    Args:
        real_multiplier: a finite float >= 0, or an array of them (per-channel multipliers). A
            traced JAX float array (under ``jit``, e.g. scales computed from the data) is
            converted by the same rule with ``jnp.frexp``, giving the bits the concrete value
            gives; its values cannot be checked there (negative or NaN ones give meaningless
            results).
        rounding: ``"double"``, ``"single"`` or ``"hawq"`` (:class:`DyadicRounding`).

    Returns:
        ``(multiplier, shift)`` as Python ints for a scalar, as int32 arrays of the input's
        shape for an array (JAX arrays for a traced input).

    Raises:
        InvalidArgumentError: a negative, infinite or NaN multiplier, or a bad rounding.

    Examples:
        >>> quantize_multiplier(0.1), quantize_multiplier(1.0), quantize_multiplier(2.0**-32)
        ((1717986918, -3), (1073741824, 1), (1073741824, -31))
        >>> quantize_multiplier(2.0**-33), quantize_multiplier(2.0**-33, "hawq")
        ((0, 0), (1073741824, -32))
        >>> quantize_multiplier(2.0**40, "single")
        (2147483647, 30)
        >>> quantize_multiplier([0.5, 0.25])
        (array([1073741824, 1073741824], dtype=int32), array([ 0, -1], dtype=int32))
    """
    mode = dyadic_rounding(rounding)
    v = concrete(real_multiplier)
    if v is None and np.dtype(real_multiplier.dtype).kind == "f":
        return _quantize_traced(real_multiplier, mode)
    if v is None or v.dtype.kind not in "iuf":
        raise InvalidArgumentError(f"quantize_multiplier: real_multiplier must be a float or float array (traced: "
                                   f"floating point), got {real_multiplier!r}")
    v = v.astype(np.float64)
    if v.size and not (np.isfinite(v).all() and (v >= 0).all()):
        bad = v[~(np.isfinite(v) & (v >= 0))][0]
        raise InvalidArgumentError(f"quantize_multiplier: real_multiplier must be finite and >= 0, got {bad}")
    if v.ndim == 0:
        return _quantize_one(float(v), mode)
    pairs = [_quantize_one(float(d), mode) for d in v.reshape(-1)]
    m = np.array([p[0] for p in pairs], np.int64).reshape(v.shape).astype(np.int32)
    s = np.array([p[1] for p in pairs], np.int64).reshape(v.shape).astype(np.int32)
    return m, s


def _quantize_traced(d: Any, mode: DyadicRounding) -> tuple[Any, Any]:
    """:func:`_quantize_one` elementwise on a traced JAX float32/float64 array, from its bit
    fields (exact for subnormals too, which XLA's floating-point ``frexp`` flushes)."""
    import jax.numpy as jnp
    from jax import lax

    wide = jnp.dtype(d.dtype) == jnp.float64
    if not wide:
        d = d.astype(jnp.float32)
    utype, man_bits, width, bias = (jnp.uint64, 52, 64, 1023) if wide else (jnp.uint32, 23, 32, 127)
    bits = lax.bitcast_convert_type(d, utype)
    exp = (bits >> man_bits).astype(jnp.int32) & ((1 << (width - 1 - man_bits)) - 1)  # values are >= 0
    man = bits & utype((1 << man_bits) - 1)
    normal = exp != 0
    sig = jnp.where(normal, man | utype(1 << man_bits), man)  # d = sig * 2^(e - bias - man_bits)
    length = width - lax.clz(sig).astype(jnp.int32)  # bit length; 0 for d == 0
    shift = length + jnp.where(normal, exp, 1) - (bias + man_bits)
    up = jnp.clip(31 - length, 0, width - 1).astype(utype)
    down = jnp.clip(length - 31, 0, width - 1).astype(utype)
    half = jnp.where(length > 31, utype(1) << jnp.maximum(down, 1) - 1, 0).astype(utype)
    q_fixed = jnp.where(length > 31, (sig + half) >> down, sig << up)  # q * 2^31, ties up
    carry = q_fixed == utype(1 << 31)
    q_fixed = jnp.where(carry, utype(1 << 30), q_fixed).astype(jnp.int32)
    shift = jnp.where(carry, shift + 1, shift)
    zero = length == 0
    if mode is not DyadicRounding.HAWQ:
        zero = zero | (shift < -31)
    q_fixed, shift = jnp.where(zero, 0, q_fixed), jnp.where(zero, 0, shift)
    if mode is DyadicRounding.SINGLE:
        big = shift > 30
        q_fixed, shift = jnp.where(big, MULTIPLIER_MAX, q_fixed), jnp.where(big, 30, shift)
    return q_fixed.astype(jnp.int32), shift.astype(jnp.int32)


# ---- gemmlowp primitives ------------------------------------------------------------------------
def saturating_rounding_doubling_high_mul(a: Any, b: Any) -> Any:
    """gemmlowp ``SaturatingRoundingDoublingHighMul`` (ARM ``VQRDMULH``) of int32 values.

    ``a * b / 2^31`` rounded to nearest with ties toward +inf, i.e. ``floor(a b / 2^31 + 1/2)``;
    ``(INT32_MIN, INT32_MIN)`` saturates to ``INT32_MAX``, the only case that overflows.

    Args:
        a, b: int32 arrays (numpy or JAX) or Python ints in the int32 range; they broadcast.

    Returns:
        An int32 array of the broadcast shape (a numpy scalar for scalar inputs).

    Raises:
        InvalidArgumentError: a non-int32 array, a Python int outside int32, or shapes that do
            not broadcast.

    Examples:
        >>> import numpy as np
        >>> a = np.array([-2**31, 2**31 - 1, -2**31, 2**30, 3, -3], np.int32)
        >>> b = np.array([-2**31, 2**31 - 1, 2**31 - 1, 2**30, 2**30, 2**30], np.int32)
        >>> saturating_rounding_doubling_high_mul(a, b)
        array([ 2147483647,  2147483646, -2147483647,   536870912,           2,
                        -1], dtype=int32)
    """
    op = "saturating_rounding_doubling_high_mul"
    a = _int32_operand(op, "a", a)
    b = _int32_operand(op, "b", b)
    return elementwise(op, "srdhm", (a, b), np.dtype(np.int32))


def _int32_operand(op: str, name: str, x: Any, allowed: tuple[str, ...] = ("int32",)) -> Any:
    """An operand: a Python int is an int32 value (checked), anything else an array of an
    ``allowed`` dtype."""
    if isinstance(x, int) and not isinstance(x, bool):
        check_int(f"{op}: {name}", x, INT32_MIN, INT32_MAX)
        return np.int32(x)
    return int_array(op, name, x, allowed)


def rounding_divide_by_pot(x: Any, exponent: Any) -> Any:
    """gemmlowp ``RoundingDivideByPOT``: ``x / 2^exponent`` rounded half away from zero.

    Computed as ``(x >> e) + ((x & mask) > (mask >> 1) + (x < 0))`` with ``mask = 2^e - 1``
    and an arithmetic shift, so it never overflows.

    Args:
        x: an int32 or int64 array (numpy or JAX), or a Python int (taken as int32).
        exponent: an int or integer array broadcasting against ``x``, in [0, 31] for int32
            ``x`` and [0, 63] for int64.

    Returns:
        An array of ``x``'s dtype and the broadcast shape.

    Raises:
        InvalidArgumentError: a bad dtype, an exponent out of range, shapes that do not
            broadcast.

    Examples:
        >>> import numpy as np
        >>> x = np.array([5, -5, 10, -10, -3, -2**31, 2**31 - 1], np.int32)
        >>> rounding_divide_by_pot(x, np.array([1, 1, 2, 2, 1, 31, 31]))
        array([ 3, -3,  3, -3, -2, -1,  1], dtype=int32)
    """
    op = "rounding_divide_by_pot"
    x = _int32_operand(op, "x", x, ("int32", "int64"))
    bits = 64 if x.dtype == np.int64 else 32
    e = int_param(op, "exponent", exponent, 0, bits - 1)
    return elementwise(op, "rdbpot", (x, e), np.dtype(x.dtype))


def _check_multiplier_shift(op: str, multiplier: Any, shift: Any, lo: int, hi: int) -> tuple[Any, Any]:
    m = int_param(op, "multiplier", multiplier, 0, MULTIPLIER_MAX)
    s = int_param(op, "shift", shift, lo, hi)
    return m, s


def _multiply_kernel(mode: DyadicRounding, wide: bool) -> str:
    if mode is DyadicRounding.HAWQ:
        return "hawq_mul"
    return "mbqm_int64" if wide else {DyadicRounding.DOUBLE: "mbqm_double", DyadicRounding.SINGLE: "mbqm_single"}[mode]


def _shift_range(mode: DyadicRounding, wide: bool) -> tuple[int, int]:
    return INT64_SHIFT_RANGE if wide and mode is not DyadicRounding.HAWQ else SHIFT_RANGE[mode]


def multiply_by_quantized_multiplier(x: Any, multiplier: Any, shift: Any, *,
                                     rounding: str | DyadicRounding = "double") -> Any:
    """TFLite ``MultiplyByQuantizedMultiplier``: ``x * multiplier * 2^(shift - 31)`` rounded.

    For int32 ``x``:

    * ``"double"``: ``RDBPOT(SRDHM(x * 2^max(shift, 0), multiplier), max(-shift, 0))``; the
      left shift wraps silently, as in TFLite.
    * ``"single"``: ``(int64(x) * multiplier + 2^(30 - shift)) >> (31 - shift)``, cast (wrapping)
      to int32: ties toward +inf.
    * ``"hawq"``: ``rint(fl64(x * multiplier) / 2^(31 - shift))``, ties to even (HAWQ's
      ``fixedpoint_mul`` before its clamp); returned as int64, unclamped.

    For int64 ``x`` (TFLite's overload for int64 accumulators, the same in both builds),
    ``"double"`` and ``"single"`` reduce the multiplier to 16 bits, ``min((multiplier + 2^15)
    >> 16, 0x7FFF)``, and compute ``(x * reduced + 2^(14 - shift)) >> (15 - shift)`` cast to
    int32; ``x`` must lie in [-2^47, 2^47) and ``shift`` in [-31, 7].

    Args:
        x: an int32 or int64 array (numpy or JAX) or a Python int (int32).
        multiplier: an int or integer array in [0, 2^31 - 1], broadcasting against ``x``.
        shift: an int or integer array, broadcasting against ``x``: [-31, 30] (``double``,
            ``single``), [-63, 30] (``hawq``), [-31, 7] (int64 ``x``).
        rounding: ``"double"`` (default), ``"single"`` or ``"hawq"``.

    Returns:
        int32 (int64 for ``hawq``) array of the broadcast shape.

    Raises:
        InvalidArgumentError: a bad dtype, rounding, multiplier or shift (concrete values are
            checked), an int64 ``x`` outside [-2^47, 2^47), shapes that do not broadcast.

    Examples:
        >>> import numpy as np
        >>> x = np.array([15, -15, 1000], np.int32)
        >>> multiply_by_quantized_multiplier(x, 1 << 30, 0)  # 0.5, double rounding
        array([ 8, -7, 500], dtype=int32)
        >>> multiply_by_quantized_multiplier(x, 1 << 30, 0, rounding="hawq")  # ties to even
        array([  8,  -8, 500])
        >>> multiply_by_quantized_multiplier(np.int32(2**20), 1288490189, -1)  # 0.3
        np.int32(314573)
    """
    op = "multiply_by_quantized_multiplier"
    mode = dyadic_rounding(rounding)
    x = _int32_operand(op, "x", x, ("int32", "int64"))
    wide = x.dtype == np.int64
    m, s = _check_multiplier_shift(op, multiplier, shift, *_shift_range(mode, wide))
    if wide and mode is not DyadicRounding.HAWQ:
        check_values(op, "x (int64)", x, *INT64_ACC_RANGE)
    dtype = np.dtype(np.int64 if mode is DyadicRounding.HAWQ else np.int32)
    return elementwise(op, _multiply_kernel(mode, wide), (x, m, s), dtype)


# ---- requantization ------------------------------------------------------------------------------
def requantize(acc: Any, multiplier: Any, shift: Any, zero_point: int = 0, out: IntFormat | str = IntFormat(8),
               *, rounding: str | DyadicRounding = "double", axis: int = -1) -> Any:
    """Requantize integer accumulators: ``clamp(MBQM(acc, multiplier, shift) + zero_point)``.

    TFLite's output stage: :func:`multiply_by_quantized_multiplier` with ``rounding``, plus the
    output zero point (an exact sum), clamped to the range of ``out``. Per-tensor (scalar
    ``multiplier`` and ``shift``) or per-channel along ``axis`` (arrays of length
    ``acc.shape[axis]``). With ``rounding="hawq"`` and zero point 0 this is HAWQ's
    ``fixedpoint_mul`` given the multiplier (see :func:`fixedpoint_mul` for the scale form).

    Args:
        acc: int32 accumulators (numpy or JAX), or int64 (TFLite's int64 overload for
            ``double``/``single``, values in [-2^47, 2^47)).
        multiplier: int or integer array (per channel), each in [0, 2^31 - 1]; may be a traced
            JAX array under ``jit``.
        shift: int or integer array like ``multiplier`` (ranges as in
            :func:`multiply_by_quantized_multiplier`).
        zero_point: the output zero point, inside the range of ``out``.
        out: the output :class:`~lpemu.IntFormat` (or its name), at most 32 bits; default int8.
        rounding: ``"double"`` (default), ``"single"`` or ``"hawq"``.
        axis: the channel axis of per-channel multipliers (default -1).

    Returns:
        An array of ``acc``'s shape in the smallest numpy dtype holding ``out`` (int8 for
        IntFormat(8), uint8 for IntFormat(8, signed=False), ...).

    Raises:
        InvalidArgumentError: a bad dtype, rounding, axis, multiplier, shift or zero point, or
            per-channel arrays whose length is not ``acc.shape[axis]``.
        InvalidFormatError: ``out`` is not an IntFormat of at most 32 bits.

    Examples:
        >>> import numpy as np
        >>> acc = np.array([[1000, -1000], [15, -15]], np.int32)
        >>> requantize(acc, 1717986918, -3)  # 0.1 per tensor
        array([[ 100, -100],
               [   2,   -2]], dtype=int8)
        >>> requantize(acc, np.array([1 << 30, 1 << 30]), np.array([0, -2]), 10, "uint8")
        array([[255,   0],
               [ 18,   8]], dtype=uint8)
        >>> requantize(np.array([5, -5, 7, 3], np.int32), 1 << 30, 0, rounding="hawq")
        array([ 2, -2,  4,  2], dtype=int8)
    """
    op = "requantize"
    acc = int_array(op, "acc", acc, ("int32", "int64"))
    mode = dyadic_rounding(rounding)
    fmt = int_format(op, out)
    lo, hi = int(fmt.min), int(fmt.max)
    zp = check_int(f"{op}: zero_point", zero_point, lo, hi)
    wide = acc.dtype == np.int64 and mode is not DyadicRounding.HAWQ
    m, s = _check_multiplier_shift(op, multiplier, shift, *_shift_range(mode, wide))
    if wide:
        check_values(op, "acc (int64)", acc, *INT64_ACC_RANGE)
    ndim = len(acc.shape)
    per_channel = np.ndim(m) > 0 or np.ndim(s) > 0
    ax = check_axis(op, axis, ndim) if per_channel else 0
    channels = acc.shape[ax] if per_channel else 1
    for name, v in (("multiplier", m), ("shift", s)):
        if np.ndim(v) > 0 and (np.ndim(v) != 1 or np.shape(v)[0] != channels):
            raise InvalidArgumentError(f"{op}: per-channel {name} must have shape ({channels},) "
                                       f"(acc.shape[{ax}]); got {np.shape(v)}")
    name = _multiply_kernel(mode, acc.dtype == np.int64)
    dtype = container(fmt)
    if is_jax(acc, m, s):
        import jax.numpy as jnp

        k = kernels(True)
        tail = (1,) * (ndim - ax - 1)
        mj, sj = (jnp.reshape(jnp.asarray(v), (channels,) + tail) if np.ndim(v) else v for v in (m, s))
        return k.requantize_elements(getattr(k, name), acc, mj, sj, zp, lo, hi, dtype)
    k = kernels(False)
    a = np.ascontiguousarray(acc)
    outer = int(np.prod(a.shape[:ax])) if per_channel else a.size
    inner = int(np.prod(a.shape[ax + 1:])) if per_channel else 1
    ms = [np.array(np.broadcast_to(np.asarray(v, np.int64), (channels,))) for v in (m, s)]
    res = np.empty(a.shape, dtype)
    k.requantize_elements(getattr(k, name))(a.reshape(outer, channels, inner), ms[0], ms[1], zp, lo, hi,
                                            res.reshape(outer, channels, inner))
    return res


def fixedpoint_mul(z: Any, scale_in: Any, scale_out: float, *, bits: int = 8, signed: bool = True,
                   axis: int = -1) -> Any:
    """HAWQ-V3 / I-BERT / I-ViT ``fixedpoint_mul``: integers ``z`` at scale ``scale_in``
    requantized to ``bits``-bit integers at scale ``scale_out``.

    As HAWQ computes it: the scales are held in float32 tensors, so
    ``ratio = float64(float32(scale_in)) / float64(float32(scale_out))``; ``(m, e) =
    batch_frexp(ratio)`` (:func:`quantize_multiplier` with ``"hawq"``); ``out = clamp(round(
    z * m / 2^e))`` with the product in float64 and ties to even, clamped to
    [-2^(bits-1), 2^(bits-1) - 1] (``symmetric``) or [0, 2^bits - 1] (``signed=False``). HAWQ's
    optional residual input (``identity``) is not modelled: requantize it separately.

    Args:
        z: int32 or int64 integers (numpy or JAX).
        scale_in: the input scale, a float or a per-channel array along ``axis``.
        scale_out: the output scale, a float.
        bits: output width, 2..32.
        signed: symmetric (True) or unsigned output.
        axis: the channel axis of a per-channel ``scale_in``.

    Returns:
        The requantized integers in the container of ``IntFormat(bits, signed)``.

    Raises:
        InvalidArgumentError: bad scales, bits, dtype or axis.

    Examples:
        >>> import numpy as np
        >>> fixedpoint_mul(np.array([5, -5, 7, 3, 1000], np.int32), 1.0, 2.0)
        array([  2,  -2,   4,   2, 127], dtype=int8)
    """
    op = "fixedpoint_mul"
    b = check_int(f"{op}: bits", bits, 2, 32)
    s_in = concrete(scale_in)
    if s_in is None or s_in.dtype.kind not in "iuf" or not (np.isfinite(s_in).all() and (s_in > 0).all()):
        raise InvalidArgumentError(f"{op}: scale_in must be a concrete positive float or float array, got {scale_in!r}")
    s_out = check_scale(op, scale_out, "scale_out")
    ratio = s_in.astype(np.float32).astype(np.float64) / float(np.float32(s_out))
    m, s = quantize_multiplier(ratio if ratio.ndim else float(ratio), "hawq")
    return requantize(z, m, s, 0, IntFormat(b, signed=bool(signed)), rounding="hawq", axis=axis)
