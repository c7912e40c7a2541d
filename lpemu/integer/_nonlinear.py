"""Integer-only nonlinearities of I-ViT (Shiftmax, ShiftGELU, I-LayerNorm) and I-BERT (i-exp,
i-GELU, i-softmax, i-sqrt, i-LayerNorm).

Each function takes integers at a known scale and returns integers plus the output scale,
computing exactly the integer meaning of the published code (I-ViT's PyTorch modules and, as
``variant="tvm"``, its TVM graphs with their int32 arithmetic; I-BERT's PyTorch modules). The
constants derived from the scale are in :mod:`lpemu.integer._constants`; the step-by-step
definitions in :mod:`lpemu.reference` (``_integer.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, check_int
from . import _constants as K
from ._common import (
    INT16,
    INT32,
    INT64,
    bits_dtype,
    check_axis,
    check_scale,
    check_values,
    concrete,
    elementwise,
    int_array,
    kernels,
    run_rows,
)

__all__ = ["shift_exp", "shiftmax", "shiftgelu", "ivit_sqrt", "ivit_layernorm",
           "ibert_exp", "ibert_gelu", "ibert_softmax", "ibert_sqrt", "ibert_layernorm"]

VARIANTS = ("pytorch", "tvm")
INT64_MIN = -(1 << 63)


def _variant(op: str, variant: object) -> bool:
    """Whether ``variant`` is ``"tvm"`` (after checking it is one of :data:`VARIANTS`)."""
    if variant not in VARIANTS:
        raise InvalidArgumentError(f"{op}: variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    return variant == "tvm"


def _rows_input(op: str, x: Any, axis: object, allowed: tuple[str, ...]) -> tuple[Any, int]:
    x = int_array(op, "x", x, allowed)
    ax = check_axis(op, axis, len(x.shape)) if len(x.shape) else 0
    if len(x.shape) == 0 or x.shape[ax] == 0:
        raise InvalidArgumentError(f"{op}: x must have at least one element along axis {axis}; got shape "
                                   f"{tuple(x.shape)}")
    return x, ax


def _check_exponent_range(op: str, x0: int, n: int, limit_bits: int, scale: float) -> None:
    """The exponentials reach ``|x0| 2^n``: require it below ``2^limit_bits``."""
    if -x0 << n >= 1 << limit_bits:
        raise InvalidArgumentError(f"{op}: scale {scale!r} is too small for n = {n}: the exponentials "
                                   f"floor(1/S) 2^n = {-x0 << n} must stay below 2^{limit_bits} "
                                   f"(scale > about {2.0**n / 2**limit_bits:.3g})")


def _ivit_params(op: str, scale: object, n: object, output_bits: object, tvm: bool, limit_bits: int,
                 gelu: bool = False) -> tuple[float, int, int, int]:
    s = check_scale(op, scale)
    n = check_int(f"{op}: n", n, 1, 31)
    bits = check_int(f"{op}: output_bits", output_bits, 2, 16)
    x0 = K.ivit_x0(K.gelu_scale(s) if gelu else s, "tvm" if tvm else "pytorch")
    _check_exponent_range(op, x0, n, limit_bits, s)
    if tvm and x0 < -K.INT32_MAX:
        raise InvalidArgumentError(f"{op}: scale {s!r} is too small for the TVM variant: x0 = {x0} is not an int32")
    return s, n, bits, x0


# ---- I-ViT --------------------------------------------------------------------------------------
def shift_exp(x: Any, scale: float, *, n: int = 15) -> tuple[Any, float]:
    """I-ViT's shift exponential ``int_exp_shift``: ``exp(x S)`` for integers ``x <= 0``.

    With ``x0 = floor(-1/S)``: ``x <- x + floor(x/2) - floor(x/16)`` (``x log2(e)`` with
    ``log2(e) ~ 1.4375``), ``x <- max(x, n x0)``, ``q = floor(x / x0)``, ``r = x - x0 q``, and
    ``floor((r/2 - x0) 2^(n - q))`` (``r/2`` is not floored: I-ViT's PyTorch code). The result
    approximates ``exp(x S) / S' `` with output scale ``S / 2^n``.

    Args:
        x: integers <= 0 (int8/uint8/int16/uint16/int32, numpy or JAX).
        scale: the input scale ``S`` (a positive float).
        n: the exponent range (15 for Shiftmax, 23 for ShiftGELU), 1..31.

    Returns:
        (int64 array of ``x``'s shape, output scale ``S / 2^n``).

    Raises:
        InvalidArgumentError: a bad dtype, scale or n; a positive element (concrete inputs; traced
            positive inputs give the formula's value capped at 2^62).

    Examples:
        >>> import numpy as np
        >>> shift_exp(np.array([0, -10, -15, -30], np.int32), 0.1)
        (array([327680, 131072,  73728,  17408]), 3.0517578125e-06)
    """
    op = "shift_exp"
    x = int_array(op, "x", x, INT32)
    s, n, _, x0 = _ivit_params(op, scale, n, 8, False, 61)
    check_values(op, "x", x, INT64_MIN, 0)
    args = (x0, n, 1 << 62)
    y = run_rows(x, -1, kernels(False).shift_exp_rows, args, kernels(True).shift_exp_rows, args, np.dtype(np.int64))
    return y, s / 2**n


def shiftmax(x: Any, scale: float, *, axis: int = -1, output_bits: int = 8, n: int | None = None,
             variant: str = "pytorch") -> tuple[Any, float]:
    """I-ViT Shiftmax: an integer-only softmax along ``axis``.

    PyTorch (default): ``e = shift_exp(x - max(x))`` with ``n = 15``;
    ``s = min(sum(e), 2^31 - 1)``; ``f = floor((2^31 - 1) / s)``;
    ``y = floor(e f / 2^(32 - output_bits))``, so ``0 <= y < 2^(output_bits - 1)``.
    ``variant="tvm"``: I-ViT's TVM graph: ``n = 16``, ``x0 = int32(-1/S - 1)``, the floored
    ``(r >> 1) - x0``, a truncating ``q``, int32 sums and products that wrap, no clamp of the sum,
    and a final wrap to ``output_bits`` (the cast to int8).

    Args:
        x: integers (int8/uint8/int16/uint16/int32, numpy or JAX).
        scale: the input scale ``S``; ``floor(1/S) 2^n`` must stay below 2^31.
        axis: the softmax axis.
        output_bits: 2..16 (8 in I-ViT).
        n: the exponent range; default 15 (PyTorch) or 16 (TVM).
        variant: ``"pytorch"`` or ``"tvm"``.

    Returns:
        (integers in int8 (int16 above 8 bits) of ``x``'s shape, output scale
        ``2^(1 - output_bits)``).

    Raises:
        InvalidArgumentError: a bad dtype, axis, scale, n, output_bits or variant.

    Examples:
        >>> import numpy as np
        >>> shiftmax(np.array([[10, 0, -5, -20], [3, 3, 3, 3]], np.int8), 0.1)
        (array([[76, 30, 17,  4],
               [31, 31, 31, 31]], dtype=int8), 0.0078125)
        >>> shiftmax(np.array([10, 0, -5, -20], np.int8), 0.1, variant="tvm")[0]
        array([74, 30, 18,  5], dtype=int8)
    """
    op = "shiftmax"
    tvm = _variant(op, variant)
    x, ax = _rows_input(op, x, axis, INT32)
    n = (16 if tvm else 15) if n is None else n
    _, n, bits, x0 = _ivit_params(op, scale, n, output_bits, tvm, 31)
    dtype = bits_dtype(bits)
    nk, jk = kernels(False), kernels(True)
    if tvm:
        y = run_rows(x, ax, nk.shiftmax_rows_tvm, (x0, n, 32 - bits, bits), jk.shiftmax_rows_tvm,
                     (x0, n, 32 - bits, bits, dtype), dtype)
    else:
        y = run_rows(x, ax, nk.shiftmax_rows, (x0, n, 32 - bits), jk.shiftmax_rows, (x0, n, 32 - bits, dtype), dtype)
    return y, 2.0 ** (1 - bits)


def shiftgelu(x: Any, scale: float, *, axis: int = -1, output_bits: int = 8, n: int = 23,
              variant: str = "pytorch") -> tuple[Any, float]:
    """I-ViT ShiftGELU: ``x sigmoid(1.702 x)`` with an integer-only sigmoid.

    With ``x_max`` the maximum along ``axis`` and the shift exponential at scale ``1.702 S``:
    ``e = shift_exp(x - x_max)``, ``e' = shift_exp(-x_max)`` (so ``e / (e + e')`` is the
    sigmoid); PyTorch: ``sig = floor(e floor((2^31 - 1) / min(e + e', 2^31 - 1)) /
    2^(32 - output_bits))``, ``y = x sig`` (exact, int64). ``variant="tvm"``: int32 arithmetic
    that wraps throughout (no clamp), truncating divisions, an int32 result.

    Args:
        x: integers (int8/uint8/int16/uint16/int32, numpy or JAX).
        scale: the input scale ``S``; ``floor(1/(1.702 S)) 2^n`` must stay below 2^40.
        axis: the axis ``x_max`` is taken along (I-ViT: the last).
        output_bits: the sigmoid's bits, 2..16 (8 in I-ViT).
        n: the exponent range (23 in I-ViT).
        variant: ``"pytorch"`` or ``"tvm"``.

    Returns:
        (int64 (TVM: int32) integers of ``x``'s shape, output scale ``S / 2^(output_bits - 1)``).

    Raises:
        InvalidArgumentError: a bad dtype, axis, scale, n, output_bits or variant.

    Examples:
        >>> import numpy as np
        >>> shiftgelu(np.array([-100, -50, 0, 50, 100], np.int8), 0.02)
        (array([ -400,  -950,     0,  5350, 12000]), 0.00015625)
    """
    op = "shiftgelu"
    tvm = _variant(op, variant)
    x, ax = _rows_input(op, x, axis, INT32)
    s, n, bits, x0 = _ivit_params(op, scale, n, output_bits, tvm, 40, gelu=True)
    nk, jk = kernels(False), kernels(True)
    if tvm:
        y = run_rows(x, ax, nk.shiftgelu_rows_tvm, (x0, n, 32 - bits), jk.shiftgelu_rows_tvm, (x0, n, 32 - bits),
                     np.dtype(np.int32))
    else:
        y = run_rows(x, ax, nk.shiftgelu_rows, (x0, n, 32 - bits), jk.shiftgelu_rows, (x0, n, 32 - bits),
                     np.dtype(np.int64))
    return y, s / 2 ** (bits - 1)


def _sqrt_input(op: str, v: Any) -> Any:
    v = int_array(op, "v", v, INT64)
    check_values(op, "v", v, 0, (1 << 63) - 1)
    return v


def ivit_sqrt(v: Any) -> Any:
    """I-ViT's integer square root (I-LayerNorm): exactly ten steps
    ``k = floor((k + floor(v / k)) / 2)`` from ``k = 2^16``.

    The steps converge to ``floor(sqrt(v))`` only for variances near 2^32; for small ones the
    iterate is still halving (var 100 gives 64). lpemu reproduces this, as the published model's
    accuracy was measured with it.

    Args:
        v: integers >= 0 (any integer dtype up to int64, numpy or JAX).

    Returns:
        int64 array of ``v``'s shape.

    Raises:
        InvalidArgumentError: a bad dtype or a negative element (concrete inputs).

    Examples:
        >>> import numpy as np
        >>> ivit_sqrt(np.array([100, 10000, 2**20, 2**32 - 1]))
        array([   64,   108,  1024, 65536])
    """
    return elementwise("ivit_sqrt", "ivit_sqrt", (_sqrt_input("ivit_sqrt", v),), np.dtype(np.int64))


def _affine_param(op: str, name: str, v: Any, default: float, channels: int) -> np.ndarray:
    """gamma or beta: None (``default``), a float or a concrete array (C,), all finite."""
    c = np.asarray(default) if v is None else concrete(v)
    ok = c is not None and c.dtype.kind in "iuf" and (c.ndim == 0 or c.shape == (channels,))
    if ok:
        c = c.astype(np.float64)
        ok = bool(np.isfinite(c).all())
    if not ok:
        raise InvalidArgumentError(f"{op}: {name} must be a finite float or a concrete array of shape ({channels},); "
                                   f"got {v!r}")
    return c


def _layernorm_affine(op: str, gamma: Any, beta: Any, channels: int, bias_bits: int
                      ) -> tuple[np.ndarray, float | np.ndarray]:
    """(integer bias per channel, output scale): ``floor((beta/gamma) / s0)`` and ``s0 gamma``
    with ``s0 = sqrt(C) / 2^30`` (float64)."""
    s0 = K.layernorm_scale(channels)
    g, b = _affine_param(op, "gamma", gamma, 1.0, channels), _affine_param(op, "beta", beta, 0.0, channels)
    if (g == 0).any():
        raise InvalidArgumentError(f"{op}: gamma must be non-zero (the bias is beta / gamma)")
    bias = np.floor((b / g) / s0)
    limit = 2.0 ** (bias_bits - 1)
    if not (np.abs(bias) < limit).all():
        raise InvalidArgumentError(f"{op}: beta / gamma is too large: the integer bias floor((beta/gamma) / "
                                   f"(sqrt(C)/2^30)) must be below 2^{bias_bits - 1} in magnitude")
    bias = np.ascontiguousarray(np.broadcast_to(bias.astype(np.int64), (channels,)))
    scale = s0 * g
    return bias, float(scale) if scale.ndim == 0 else scale


def ivit_layernorm(x: Any, gamma: Any = None, beta: Any = None, *, axis: int = -1,
                   variant: str = "pytorch") -> tuple[Any, float | np.ndarray]:
    """I-ViT I-LayerNorm: integer-only layer normalisation along ``axis``.

    PyTorch (default): ``y = x - round(mean(x))`` (ties to even), ``v = sum(y^2)``,
    ``k = ivit_sqrt(v)`` (ten steps from 2^16), ``out = floor(y floor((2^31 - 1) / k) / 2) +
    floor((beta/gamma) / (sqrt(C)/2^30))``, output scale ``sqrt(C)/2^30 * gamma``.
    ``variant="tvm"``: the TVM graph: a truncated int32 mean, squares wrapped to int32 and summed
    as uint32 (mod 2^32), uint32 square-root steps, int32 products that wrap, a truncating ``/ 2``.
    The input scale does not enter (the output is scale-free).

    Args:
        x: integers (int8/uint8/int16/uint16, numpy or JAX).
        gamma, beta: None (1 and 0), floats, or concrete arrays of shape (C,); gamma non-zero.
        axis: the normalised axis (length C).
        variant: ``"pytorch"`` or ``"tvm"``.

    Returns:
        (int64 (TVM: int32) integers of ``x``'s shape, output scale: a float, or an array (C,)
        for a per-channel gamma).

    Raises:
        InvalidArgumentError: a bad dtype, axis, gamma, beta or variant; an integer bias that
            does not fit (int32 for TVM).

    Examples:
        >>> import numpy as np
        >>> y, s = ivit_layernorm(np.array([[-100, -20, 30, 90]], np.int8))
        >>> y, s
        (array([[-756156200, -151231240,  226846860,  680540580]]), 1.862645149230957e-09)
        >>> np.round(y * s, 3)
        array([[-1.408, -0.282,  0.423,  1.268]])
    """
    op = "ivit_layernorm"
    tvm = _variant(op, variant)
    x, ax = _rows_input(op, x, axis, INT16)
    bias, scale = _layernorm_affine(op, gamma, beta, x.shape[ax], 32 if tvm else 63)  # TVM adds it in int32
    nk, jk = kernels(False), kernels(True)
    if tvm:
        y = run_rows(x, ax, nk.layernorm_rows_tvm, (bias,), jk.layernorm_rows_tvm, (bias,), np.dtype(np.int32))
    else:
        y = run_rows(x, ax, nk.layernorm_rows, (bias, 0, 0), jk.layernorm_rows, (bias, 0, 0), np.dtype(np.int64))
    return y, scale


# ---- I-BERT -------------------------------------------------------------------------------------
def _iexp_constants(op: str, scale: object) -> tuple[float, K.IExpConstants]:
    s = check_scale(op, scale)
    k = K.iexp_constants(s)
    if k.c >= 1 << 32:
        raise InvalidArgumentError(f"{op}: scale {s!r} is too small: floor(c/S^2) 2^30 = {k.c << 30} must stay "
                                   f"below 2^62 (scale > about 2.6e-05)")
    if k.c < 1:
        raise InvalidArgumentError(f"{op}: scale {s!r} is too large: floor(c/S^2) = 0 leaves no exponential "
                                   f"(scale < about 1.67)")
    return s, k


def ibert_exp(x: Any, scale: float) -> tuple[Any, float]:
    """I-BERT i-exp: ``exp(x S)`` for integers ``x <= 0`` with a second-order polynomial.

    With ``x0 = floor(-0.6931 / S)`` (the integer ln 2): ``x <- max(x, 30 x0)``,
    ``q = floor(x / x0)``, ``r = x - x0 q`` (in (x0, 0]),
    ``z = r (r + floor(b/S)) + floor(c/S^2)`` (``a (r + b)^2 + c`` with a = 0.35815147,
    b = 0.96963238/a, c = 1/a), and ``max(floor(z 2^(30 - q)), 0)``. I-BERT's float32 tensors
    round ``z 2^(30 - q)`` above 2^24; lpemu keeps the exact integer.

    Args:
        x: integers <= 0 (int8/uint8/int16/uint16/int32, numpy or JAX).
        scale: the input scale ``S``, about 2.6e-5 to 1.67 (the result fits in int64 and the
            polynomial's constant ``floor(c/S^2)`` is positive).

    Returns:
        (int64 array of ``x``'s shape, output scale ``0.35815147 S^2 / 2^30``).

    Raises:
        InvalidArgumentError: a bad dtype or scale; a positive element (concrete inputs; traced
            positive inputs count as 0).

    Examples:
        >>> import numpy as np
        >>> ibert_exp(np.array([0, -10, -50, -100], np.int16), 0.01)
        (array([29979945467904, 27188216725504, 18168785403904, 11124502167552]), 3.3355454914271835e-14)
    """
    op = "ibert_exp"
    x = int_array(op, "x", x, INT32)
    _, k = _iexp_constants(op, scale)
    check_values(op, "x", x, INT64_MIN, 0)
    y = run_rows(x, -1, kernels(False).ibert_exp_rows, (k.x0, k.b, k.c),
                 kernels(True).ibert_exp_rows, (k.x0, k.b, k.c), np.dtype(np.int64))
    return y, k.scale


def ibert_softmax(x: Any, scale: float, *, axis: int = -1, output_bits: int = 8) -> tuple[Any, float]:
    """I-BERT i-softmax along ``axis``.

    ``e = ibert_exp(x - max(x))``; a 16-bit requantization of the exponentials,
    ``e16 = clamp(round(e m / 2^(31 - s)), -2^15, 2^15 - 1)`` with HAWQ's float64 rounding
    (ties to even) and ``(m, s) = quantize_multiplier(32767 / e_max, "hawq")``, where
    ``e_max = floor(c/S^2) 2^30`` is the exponential of the row maximum; ``f = floor(2^32 /
    sum(e16))``; ``y = floor(e16 f / 2^(32 - output_bits))``. I-BERT's 16-bit stage is a
    ``QuantAct(16)`` whose scale follows a running maximum of the exponentials; at inference
    that maximum is ``e_max`` (every row contains its maximum), which lpemu uses directly.

    Args:
        x: integers (int8/uint8/int16/uint16/int32, numpy or JAX).
        scale: the input scale ``S``, about 2.6e-5 to 1.67 (as :func:`ibert_exp`).
        axis: the softmax axis.
        output_bits: 2..16 (8 in I-BERT); results lie in [0, 2^output_bits].

    Returns:
        (int32 integers of ``x``'s shape, output scale ``2^-output_bits``).

    Raises:
        InvalidArgumentError: a bad dtype, axis, scale or output_bits.

    Examples:
        >>> import numpy as np
        >>> ibert_softmax(np.array([0, -69, -1000], np.int16), 0.01)
        (array([170,  85,   0], dtype=int32), 0.00390625)
    """
    op = "ibert_softmax"
    x, ax = _rows_input(op, x, axis, INT32)
    _, k = _iexp_constants(op, scale)
    bits = check_int(f"{op}: output_bits", output_bits, 2, 16)
    from ..dyadic import quantize_multiplier  # lpemu.dyadic imports this package's helpers

    m, s = quantize_multiplier(K.softmax16_ratio(k.c << K.IEXP_N), "hawq")
    args = (k.x0, k.b, k.c, m, s, 32 - bits)
    y = run_rows(x, ax, kernels(False).ibert_softmax_rows, args, kernels(True).ibert_softmax_rows, args,
                 np.dtype(np.int32))
    return y, 2.0**-bits


def ibert_gelu(x: Any, scale: float) -> tuple[Any, float]:
    """I-BERT i-GELU: ``x (1 + erf(x / sqrt 2)) / 2`` with an integer-only erf.

    With ``S' = S / 1.4142`` and the constants of ``_constants.igelu_constants``:
    ``y = sign(x) ((min(|x|, -b) + b)^2 + c)`` (``b = floor(-1.769/S')``,
    ``c = floor((1/-0.2888)/S'^2)``), ``y = floor(y / 2^14)``, ``out = x (y + floor(1/s))`` with
    the erf scale ``s = -0.2888 S'^2 2^14``. The output scale ``S s / 2`` is negative, as in
    I-BERT (the integers carry the opposite sign).

    Args:
        x: integers (int8/uint8/int16/uint16/int32, numpy or JAX).
        scale: the input scale ``S`` (> about 2.5e-6).

    Returns:
        (int64 array of ``x``'s shape, output scale).

    Raises:
        InvalidArgumentError: a bad dtype or scale.

    Examples:
        >>> import numpy as np
        >>> y, s = ibert_gelu(np.array([-3000, -1000, 0, 1000, 3000], np.int16), 0.001)
        >>> y, s
        (array([    3000,   139000,        0,  -708000, -2538000]), -1.182947488932838e-06)
        >>> np.round(y * s, 3)
        array([-0.004, -0.164, -0.   ,  0.838,  3.002])
    """
    op = "ibert_gelu"
    x = int_array(op, "x", x, INT32)
    s = check_scale(op, scale)
    k = K.igelu_constants(s)
    if -k.b >= 1 << 20 or -k.c >= 1 << 40:
        raise InvalidArgumentError(f"{op}: scale {s!r} is too small: the erf constants floor(b/S') = {k.b} and "
                                   f"floor(c/S'^2) = {k.c} must stay below 2^20 and 2^40 (scale > about 2.5e-06)")
    y = run_rows(x, -1, kernels(False).ibert_gelu_rows, (k.b, k.c, k.shift),
                 kernels(True).ibert_gelu_rows, (k.b, k.c, k.shift), np.dtype(np.int64))
    return y, k.scale


def ibert_sqrt(v: Any) -> Any:
    """I-BERT's integer square root (the paper's Algorithm 4): ``floor(sqrt(v))``.

    Newton's iteration ``x <- floor((x + floor(v / x)) / 2)`` from ``x = 2^ceil(bits(v)/2)``
    until it stops decreasing; 0 for ``v = 0``. (I-BERT's code uses ``floor(torch.sqrt)``, equal
    while ``v`` is exact in float32.)

    Args:
        v: integers >= 0 (any integer dtype up to int64, numpy or JAX).

    Returns:
        int64 array of ``v``'s shape.

    Raises:
        InvalidArgumentError: a bad dtype or a negative element (concrete inputs; traced
            negative inputs give 0).

    Examples:
        >>> import numpy as np
        >>> ibert_sqrt(np.array([15, 16, 24, 99, 2**31 - 1, 2**62]))
        array([         3,          4,          4,          9,      46340, 2147483648])
    """
    return elementwise("ibert_sqrt", "ibert_sqrt", (_sqrt_input("ibert_sqrt", v),), np.dtype(np.int64))


def ibert_layernorm(x: Any, gamma: Any = None, beta: Any = None, *, axis: int = -1,
                    shift: int = 0) -> tuple[Any, float | np.ndarray]:
    """I-BERT i-LayerNorm along ``axis``.

    ``y = x - round(mean(x))`` (ties to even); ``v = sum(floor(y / 2^shift)^2)``;
    ``std = ibert_sqrt(v) 2^shift``; ``f = floor(2^31 / (std + 0.0001))``, evaluated exactly as
    ``floor(2^31 10^4 / (10^4 std + 1))``; ``out = floor(y f / 2) + floor((beta/gamma) /
    (sqrt(C)/2^30))``; output scale ``sqrt(C)/2^30 * gamma``. ``shift`` is I-BERT's overflow
    shift (a buffer the training run raises until the variance fits 32 bits), fixed at inference.

    Args:
        x: integers (int8/uint8/int16/uint16, numpy or JAX).
        gamma, beta: None (1 and 0), floats, or concrete arrays of shape (C,); gamma non-zero.
        axis: the normalised axis.
        shift: 0..31.

    Returns:
        (int64 integers of ``x``'s shape, output scale: a float or an array (C,)).

    Raises:
        InvalidArgumentError: a bad dtype, axis, gamma, beta or shift.

    Examples:
        >>> import numpy as np
        >>> y, s = ibert_layernorm(np.array([[-100, -20, 30, 90]], np.int8))
        >>> np.round(y * s, 3)
        array([[-1.439, -0.288,  0.432,  1.295]])
    """
    op = "ibert_layernorm"
    x, ax = _rows_input(op, x, axis, INT16)
    sh = check_int(f"{op}: shift", shift, 0, 31)
    bias, scale = _layernorm_affine(op, gamma, beta, x.shape[ax], 63)
    y = run_rows(x, ax, kernels(False).layernorm_rows, (bias, 2, sh), kernels(True).layernorm_rows, (bias, 2, sh),
                 np.dtype(np.int64))
    return y, scale
