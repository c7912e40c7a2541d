"""Integer GEMM and convolution: int8/uint8 operands, zero points, an int32 accumulator."""

from __future__ import annotations

import math
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np

from .._dot import _in_threads
from .._formats import IntFormat
from ..errors import InvalidArgumentError
from ._common import INT8, concrete, int_array, int_param, is_jax

if TYPE_CHECKING:
    from ..dyadic import DyadicRounding

__all__ = ["AccumulatorOverflow", "int_matmul", "int_conv2d", "int_dense"]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


class AccumulatorOverflow(str, Enum):
    """What the int32 accumulator does when a partial sum leaves [-2^31, 2^31 - 1]."""

    #: Two's complement wraparound, as int32 hardware (and XLA, and C in practice) does; the
    #: result is the exact sum modulo 2^32 whatever the order.
    WRAP = "wrap"
    #: Every partial sum is clamped to int32 (a saturating MAC; VNNI ``vpdpbusds`` saturates in
    #: the same spirit): products in ``k`` order from 0, the bias added last. Order-dependent.
    SATURATE = "saturate"
    #: Raise :class:`~lpemu.InvalidArgumentError` if any partial sum (the same order) overflows,
    #: i.e. exactly when ``saturate`` would clamp; the result is then exact. Needs concrete
    #: (not traced) JAX arrays.
    RAISE = "raise"

    def __str__(self) -> str:
        return self.value


def accumulator_overflow(overflow: str | AccumulatorOverflow) -> AccumulatorOverflow:
    """An :class:`AccumulatorOverflow` from itself or its name."""
    try:
        return AccumulatorOverflow(overflow)
    except ValueError:
        allowed = ", ".join(o.value for o in AccumulatorOverflow)
        raise InvalidArgumentError(f"overflow must be one of {allowed}; got {overflow!r}") from None


def _zero_point(op: str, name: str, zp: Any, dtype: np.dtype, length: int | None) -> Any:
    """A zero point in ``dtype``'s range: a Python int, or (``length`` given) also an array of
    shape (length,) of per-channel zero points."""
    info = np.iinfo(dtype)
    if length is None and not isinstance(zp, (int, np.integer)):
        raise InvalidArgumentError(f"{op}: {name} must be a single integer (per tensor), got {zp!r}")
    v = int_param(op, name, zp, int(info.min), int(info.max))
    if np.ndim(v) and np.shape(v) != (length,):
        raise InvalidArgumentError(f"{op}: {name} must be an integer or have shape ({length},); got {np.shape(v)}")
    return v


def int_matmul(a: Any, b: Any, *, a_zero_point: int = 0, b_zero_point: Any = 0, bias: Any = None,
               overflow: str | AccumulatorOverflow = "wrap") -> Any:
    """Integer matrix product with an int32 accumulator: ``(a - za) @ (b - zb) + bias``.

    Each result element is ``sum_k (a[i, k] - za) (b[k, j] - zb[j]) + bias[j]``, accumulated in
    int32 in ``k`` order from 0 with the bias added last (TFLite's reference kernels), under the
    ``overflow`` policy (:class:`AccumulatorOverflow`). Each product is exact (at most 255^2 in
    magnitude). int8 x int8 is the TFLite / CMSIS-NN case, uint8 x int8 the x86 VNNI one
    (``vpdpbusd``); any mix of int8 and uint8 is accepted.

    Args:
        a: (..., K) int8 or uint8 (numpy or JAX); leading axes are batch axes.
        b: (K, N) int8 or uint8.
        a_zero_point: the activations' zero point, an int in ``a``'s dtype range.
        b_zero_point: the weights' zero point: an int, or an array of shape (N,) (per output
            channel), in ``b``'s dtype range.
        bias: None or an int32 array of shape (N,), at the accumulator's scale.
        overflow: ``"wrap"`` (default), ``"saturate"`` or ``"raise"``.

    Returns:
        int32 array of shape (..., N).

    Raises:
        InvalidArgumentError: bad dtypes, shapes, zero points or policy; with
            ``overflow="raise"``, an accumulator that overflows (naming the row) or traced arrays.

    Examples:
        >>> import numpy as np
        >>> a = np.array([[1, 2, 3], [-4, 5, -6]], np.int8)
        >>> b = np.array([[1, -1], [2, 0], [3, 1]], np.int8)
        >>> int_matmul(a, b, bias=np.array([100, -100], np.int32))
        array([[ 114,  -98],
               [  88, -102]], dtype=int32)
        >>> x = np.full((1, 140000), 127, np.int8)
        >>> w = np.full((140000, 1), -128, np.int8)
        >>> [int(int_matmul(x, w, overflow=o)[0, 0]) for o in ("wrap", "saturate")]
        [2019127296, -2147483648]
        >>> int_matmul(np.array([[200, 0]], np.uint8), np.array([[1], [1]], np.int8), a_zero_point=128)
        array([[-56]], dtype=int32)
    """
    op = "int_matmul"
    policy = accumulator_overflow(overflow)
    a = int_array(op, "a", a, INT8)
    b = int_array(op, "b", b, INT8)
    if len(b.shape) != 2 or len(a.shape) < 1 or a.shape[-1] != b.shape[0]:
        raise InvalidArgumentError(f"{op}: a must be (..., K) and b (K, N) with the same K; got shapes "
                                   f"{tuple(a.shape)} and {tuple(b.shape)}")
    n = b.shape[1]
    za = _zero_point(op, "a_zero_point", a_zero_point, np.dtype(a.dtype), None)
    zb = _zero_point(op, "b_zero_point", b_zero_point, np.dtype(b.dtype), n)
    if bias is not None:
        bias = int_array(op, "bias", bias, ("int32",))
        if tuple(bias.shape) != (n,):
            raise InvalidArgumentError(f"{op}: bias must have shape ({n},); got {tuple(bias.shape)}")
    lead = tuple(a.shape[:-1])
    if is_jax(a, b, zb, bias):
        out = _matmul_jax(a, b, za, zb, bias, policy)
    else:
        out = _matmul_numba(np.asarray(a), np.asarray(b), za, zb, bias, policy)
    return out.reshape(lead + (n,))


def _raise_overflow(op: str, hit: np.ndarray) -> None:
    if hit.any():
        row = int(np.flatnonzero(hit)[0])
        raise InvalidArgumentError(f"{op}: the int32 accumulator overflows (overflow='raise') in row {row} of the "
                                   f"flattened result; use overflow='wrap' or 'saturate'")


def _matmul_numba(a, b, za, zb, bias, policy) -> np.ndarray:
    from ..kernels.numba import integer as k

    k_dim, n = b.shape
    a32 = np.ascontiguousarray(a.reshape(math.prod(a.shape[:-1]), k_dim), np.int32) - np.int32(za)
    b32 = b.astype(np.int32) - np.asarray(zb, np.int32)
    bias32 = np.zeros(n, np.int32) if bias is None else np.ascontiguousarray(bias)
    m = a32.shape[0]
    out = np.empty((m, n), np.int32)
    work = m * n * max(k_dim, 1)
    if policy is AccumulatorOverflow.WRAP:
        _in_threads(lambda r: k.matmul_wrap(a32[r], b32, bias32, out[r]), m, work)
        return out
    hit = np.zeros(m, bool)
    _in_threads(lambda r: k.matmul_saturate(a32[r], b32, bias32, out[r], hit[r]), m, work)
    if policy is AccumulatorOverflow.RAISE:
        _raise_overflow("int_matmul", hit)
    return out


def _matmul_jax(a, b, za, zb, bias, policy):
    import jax.numpy as jnp

    from ..kernels.jax import integer as k

    k_dim, n = b.shape
    a2 = jnp.reshape(jnp.asarray(a), (math.prod(a.shape[:-1]), k_dim))
    b = jnp.asarray(b)
    bias = jnp.zeros(n, jnp.int32) if bias is None else jnp.asarray(bias)
    plain = za == 0 and isinstance(zb, int) and zb == 0 and a2.dtype == b.dtype == jnp.int8
    if policy is AccumulatorOverflow.WRAP:
        if plain:  # XLA's int8 dot with an int32 accumulator
            return k.matmul_wrap(a2, b, bias)
        # int16 holds uint8 values and zero-point differences (|v| <= 255) exactly
        return k.matmul_wrap(a2.astype(jnp.int16) - za, b.astype(jnp.int16) - jnp.asarray(zb, jnp.int16), bias)
    if policy is AccumulatorOverflow.RAISE and any(concrete(v) is None for v in (a2, b, bias, zb)):
        raise InvalidArgumentError("int_matmul: overflow='raise' needs concrete arrays (it cannot raise under "
                                   "jit or vmap); use 'wrap' or 'saturate' there")
    out, hit = k.matmul_saturate(a2.astype(jnp.int32) - za, b.astype(jnp.int32) - jnp.asarray(zb, jnp.int32), bias)
    if policy is AccumulatorOverflow.RAISE:
        _raise_overflow("int_matmul", np.asarray(hit))
    return out


def _pair(op: str, name: str, v: Any) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else tuple(v) \
        if isinstance(v, (tuple, list)) else None
    if pair is None or len(pair) != 2 or any(isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1
                                             for p in pair):
        raise InvalidArgumentError(f"{op}: {name} must be a positive int or a pair of them, got {v!r}")
    return int(pair[0]), int(pair[1])


def _padding(op: str, padding: Any, size: tuple[int, int], window: tuple[int, int],
             stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(padding, str) and padding.lower() in ("valid", "same"):
        if padding.lower() == "valid":
            return (0, 0), (0, 0)
        pads = []
        for n, w, s in zip(size, window, stride):  # TensorFlow's SAME: the extra pixel goes after
            total = max((-(-n // s) - 1) * s + w - n, 0)
            pads.append((total // 2, total - total // 2))
        return pads[0], pads[1]
    try:
        (t, bo), (le, r) = padding
        pads = tuple(int(p) for p in (t, bo, le, r))
    except (TypeError, ValueError):
        pads = None
    if pads is None or min(pads) < 0:
        raise InvalidArgumentError(f"{op}: padding must be 'valid', 'same' or ((top, bottom), (left, right)) of "
                                   f"non-negative ints, got {padding!r}")
    return (pads[0], pads[1]), (pads[2], pads[3])


def int_conv2d(x: Any, w: Any, *, stride: int | tuple[int, int] = 1, padding: Any = "valid",
               dilation: int | tuple[int, int] = 1, x_zero_point: int = 0, w_zero_point: Any = 0,
               bias: Any = None, overflow: str | AccumulatorOverflow = "wrap") -> Any:
    """2-D integer convolution (NHWC input, HWIO weights) with an int32 accumulator.

    The input is padded with ``x_zero_point`` (the real zero, as TFLite does), each window is
    flattened in (kh, kw, c) order and multiplied by the weights reshaped to (KH KW C, O) with
    :func:`int_matmul`, whose accumulation order and ``overflow`` policy apply.

    Args:
        x: (N, H, W, C) int8 or uint8 (numpy or JAX).
        w: (KH, KW, C, O) int8 or uint8.
        stride: an int or (sh, sw).
        padding: ``"valid"``, ``"same"`` (TensorFlow's: the odd pixel goes after) or
            ((top, bottom), (left, right)).
        dilation: an int or (dh, dw).
        x_zero_point, w_zero_point, bias, overflow: as in :func:`int_matmul` (``w_zero_point``
            per output channel has shape (O,)).

    Returns:
        int32 array (N, OH, OW, O).

    Raises:
        InvalidArgumentError: bad shapes, dtypes, stride, padding, dilation, zero points, policy,
            or an overflow under ``overflow="raise"``.

    Examples:
        >>> import numpy as np
        >>> x = np.arange(16, dtype=np.int8).reshape(1, 4, 4, 1)
        >>> w = np.ones((2, 2, 1, 1), np.int8)
        >>> int_conv2d(x, w, stride=2)[..., 0]
        array([[[10, 18],
                [42, 50]]], dtype=int32)
        >>> int_conv2d(x, w, padding="same", x_zero_point=1)[0, :, :, 0]
        array([[ 6, 10, 14,  8],
               [22, 26, 30, 16],
               [38, 42, 46, 24],
               [23, 25, 27, 14]], dtype=int32)
    """
    op = "int_conv2d"
    x = int_array(op, "x", x, INT8)
    w = int_array(op, "w", w, INT8)
    if len(x.shape) != 4 or len(w.shape) != 4 or x.shape[3] != w.shape[2]:
        raise InvalidArgumentError(f"{op}: x must be (N, H, W, C) and w (KH, KW, C, O) with the same C; got shapes "
                                   f"{tuple(x.shape)} and {tuple(w.shape)}")
    sh, sw = _pair(op, "stride", stride)
    dh, dw = _pair(op, "dilation", dilation)
    kh, kw, c, o = w.shape
    span = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    (pt, pb), (pl, pr) = _padding(op, padding, x.shape[1:3], span, (sh, sw))
    za = _zero_point(op, "x_zero_point", x_zero_point, np.dtype(x.dtype), None)
    hp, wp = x.shape[1] + pt + pb, x.shape[2] + pl + pr
    if hp < span[0] or wp < span[1]:
        raise InvalidArgumentError(f"{op}: the (dilated) window {span} is larger than the padded input {(hp, wp)}")
    oh, ow = (hp - span[0]) // sh + 1, (wp - span[1]) // sw + 1
    if is_jax(x, w):
        import jax.numpy as xp
    else:
        xp = np
    xpad = xp.pad(xp.asarray(x), ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=za)
    cols = [xpad[:, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw, :]
            for i in range(kh) for j in range(kw)]
    patches = xp.stack(cols, axis=3).reshape(x.shape[0], oh, ow, kh * kw * c)
    return int_matmul(patches, xp.asarray(w).reshape(kh * kw * c, o), a_zero_point=za, b_zero_point=w_zero_point,
                      bias=bias, overflow=overflow)


def int_dense(x: Any, w: Any, bias: Any, multiplier: Any, shift: Any, *, x_zero_point: int = 0,
              w_zero_point: Any = 0, zero_point: int = 0, out: IntFormat | str = IntFormat(8),
              rounding: str | DyadicRounding = "double", overflow: str | AccumulatorOverflow = "wrap") -> Any:
    """A fully connected layer, integer only: :func:`int_matmul` then
    :func:`~lpemu.dyadic.requantize` per output channel.

    ``y = clamp(MBQM((x - zx) @ (w - zw) + bias, multiplier, shift) + zero_point)``, the
    TFLite ``FullyConnected`` / HAWQ ``QuantLinear`` + ``QuantAct`` pair. Works on numpy arrays
    (Numba) and on JAX arrays under ``jit`` and ``vmap`` (multipliers and shifts may then be
    traced arrays), so a JAX model can call it as its dense layer.

    Args:
        x: (..., K) int8 or uint8 activations.
        w: (K, N) int8 or uint8 weights.
        bias: None or int32 (N,), at scale ``S_x S_w``.
        multiplier, shift: per-tensor ints or per-output-channel arrays (N,), from
            :func:`~lpemu.dyadic.quantize_multiplier` of ``S_x S_w / S_y``.
        x_zero_point, w_zero_point: as in :func:`int_matmul`.
        zero_point: the output zero point.
        out: output format (default int8).
        rounding: ``"double"``, ``"single"`` or ``"hawq"``.
        overflow: the accumulator policy.

    Returns:
        (..., N) integers in ``out``'s container.

    Raises:
        InvalidArgumentError, InvalidFormatError: as :func:`int_matmul` and
            :func:`~lpemu.dyadic.requantize`.

    Examples:
        >>> import numpy as np
        >>> from lpemu.dyadic import quantize_multiplier
        >>> x = np.array([[10, -20, 30]], np.int8)
        >>> w = np.array([[1, 2], [3, 4], [5, 6]], np.int8)
        >>> m, s = quantize_multiplier(0.05)
        >>> int_dense(x, w, np.array([0, 1000], np.int32), m, s)
        array([[ 5, 56]], dtype=int8)
    """
    from ..dyadic import requantize  # lpemu.dyadic imports this package's helpers

    acc = int_matmul(x, w, a_zero_point=x_zero_point, b_zero_point=w_zero_point, bias=bias, overflow=overflow)
    return requantize(acc, multiplier, shift, zero_point, out, rounding=rounding, axis=-1)
