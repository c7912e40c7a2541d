"""Integer-only products for emulation policies: int8 GEMM, int32 accumulation (and bias),
dyadic requantization (HAWQ-V3 / TFLite), then back to the float container.

:class:`IntegerMatmul` is the ``integer`` field of a :class:`~lpemu.jax.Policy`; with it every
dot_general and convolution the policy covers runs as the integer pipeline of a quantized dense
or convolutional layer, built from :func:`lpemu.integer.int_matmul`,
:func:`lpemu.dyadic.quantize_multiplier` and :func:`lpemu.dyadic.requantize` (the same kernels,
so the same bits, as calling them by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from .._formats import IntFormat
from ..errors import InvalidArgumentError, check_int
from ..kernels.jax.block import div  # IEEE division (XLA turns x / scalar into x * (1 / scalar))

__all__ = ["IntegerMatmul", "integer_product"]

_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class IntegerMatmul:
    """Products as an integer-only layer: symmetric int8 operands, int32 accumulator, dyadic
    requantization of the accumulator to an integer output.

    For operands ``x`` (activations) and ``w`` (weights) the product is computed as

    1. ``S_x`` = ``x_scale``, or (dynamic) ``max|x| / qmax`` over the whole tensor, with
       ``qmax = 2^(bits-1) - 1``; ``q_x = clip(rint(x / S_x), -qmax, qmax)`` (float32, ties to
       even, as HAWQ-V3's ``linear_quantize``). The one floating-point step of the layer: the
       input quantization (``QuantAct``) of an integer-only network.
    2. ``S_w`` = ``max|w| / qmax`` per output channel (``per_channel``) or per tensor;
       ``q_w`` likewise.
    3. ``acc = int_matmul(q_x, q_w, bias=rint(bias / (S_x S_w)))``: int32, the bias (when the
       layer's bias add follows the product, see :func:`lpemu.emulate`) at the accumulator's
       scale, ``overflow`` as in :func:`lpemu.integer.int_matmul`.
    4. ``S_y`` = ``out_scale``, or (dynamic) ``max|acc S_x S_w| / (2^(out_bits-1) - 1)``;
       ``(m, s) = quantize_multiplier(S_x S_w / S_y)`` (float32 ratio, per channel);
       ``q_y = requantize(acc, m, s, out=IntFormat(out_bits), rounding=rounding)``.
    5. The result is ``q_y * S_y`` in float32 (rounded into the policy's ``format`` if it has
       one).

    A zero scale (an all-zero tensor or channel) becomes 1. Non-finite operands make the whole
    result NaN: the integer pipeline has no code for them.

    Attributes:
        bits: operand bits, 2 to 8 (int8 containers).
        weight_operand: which dot_general operand holds the weights, 1 (``x @ W``, Flax's
            kernel; default) or 0 (``W @ x``, Equinox's Linear). Convolutions: always the kernel.
        per_channel: one weight scale per output channel (default) or one per tensor.
        x_scale, out_scale: static scales (calibrated, > 0), or None for dynamic ones (from the
            tensor itself, every call). Give per-layer values with the policy's ``rules``.
        out_bits: bits of the requantized output, 2 to 16.
        rounding: the dyadic rounding, ``"double"`` (TFLite, default), ``"single"`` or ``"hawq"``.
        overflow: the int32 accumulator's policy, ``"wrap"`` (default) or ``"saturate"``.

    Examples:
        >>> import jax.numpy as jnp
        >>> from lpemu.jax import IntegerMatmul, Policy
        >>> p = Policy(integer=IntegerMatmul())
        >>> x = jnp.array([[0.5, -1.0, 0.25]])
        >>> w = jnp.array([[1.0], [0.5], [-2.0]])
        >>> x @ w, p.matmul(x, w)  # S_y = 0.49997/127: -127 * S_y
        (Array([[-0.5]], dtype=float32), Array([[-0.499969]], dtype=float32))
        >>> p.dot_general(x, w, (((1,), (0,)), ((), ())), bias=jnp.array([0.3]))
        Array([[-0.2000124]], dtype=float32)

    Raises:
        InvalidArgumentError: a field out of its range (named).
    """

    bits: int = 8
    weight_operand: int = 1
    per_channel: bool = True
    x_scale: float | None = None
    out_scale: float | None = None
    out_bits: int = 8
    rounding: str = "double"
    overflow: str = "wrap"

    def __post_init__(self) -> None:
        from ..dyadic import dyadic_rounding

        check_int("IntegerMatmul.bits", self.bits, 2, 8)
        check_int("IntegerMatmul.out_bits", self.out_bits, 2, 16)
        check_int("IntegerMatmul.weight_operand", self.weight_operand, 0, 1)
        if not isinstance(self.per_channel, bool):
            raise InvalidArgumentError(f"IntegerMatmul: per_channel must be True or False, got {self.per_channel!r}")
        for name in ("x_scale", "out_scale"):
            v = getattr(self, name)
            if v is not None:
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
                    raise InvalidArgumentError(f"IntegerMatmul: {name} must be None or a finite float > 0, got {v!r}")
                object.__setattr__(self, name, float(v))
        object.__setattr__(self, "rounding", dyadic_rounding(self.rounding).value)
        if self.overflow not in ("wrap", "saturate"):
            raise InvalidArgumentError(f"IntegerMatmul: overflow must be 'wrap' or 'saturate' (an emulated model "
                                       f"cannot raise under jit), got {self.overflow!r}")


def _scale(amax: Any, qmax: int) -> Any:
    s = div(amax, qmax)
    return jnp.where(s > 0, s, jnp.float32(1.0))


def _to_int(x: Any, scale: Any, qmax: int) -> Any:
    return jnp.clip(jnp.rint(div(x, scale)), -qmax, qmax).astype(jnp.int8)


def integer_product(cfg: IntegerMatmul, act: Any, wgt: Any, bias: Any = None) -> Any:
    """The integer-only product of (B, R, K) activations and (B, K, C) weights, (B, R, C) float32.

    ``bias`` is None or (B, C): the bias of each batch's output channels. Steps as in
    :class:`IntegerMatmul`; the weight scales are per (batch, channel) with ``per_channel``.
    """
    from ..dyadic import quantize_multiplier, requantize
    from ..integer import int_matmul

    act, wgt = act.astype(jnp.float32), wgt.astype(jnp.float32)
    qmax, qmax_out = 2 ** (cfg.bits - 1) - 1, 2 ** (cfg.out_bits - 1) - 1
    s_x = jnp.float32(cfg.x_scale) if cfg.x_scale is not None else _scale(jnp.max(jnp.abs(act)), qmax)
    amax_w = jnp.max(jnp.abs(wgt), axis=1) if cfg.per_channel else jnp.broadcast_to(
        jnp.max(jnp.abs(wgt)), (wgt.shape[0], wgt.shape[2]))
    s_w = _scale(amax_w, qmax)  # (B, C)
    q_x, q_w = _to_int(act, s_x, qmax), _to_int(wgt, s_w[:, None, :], qmax)
    s_acc = s_x * s_w  # (B, C): the accumulator's scale
    if bias is None:
        b32 = jnp.zeros(s_w.shape, jnp.int32)
    else:
        b32 = jnp.clip(jnp.rint(div(bias, s_acc)), -_INT32_MAX - 1, _INT32_MAX).astype(jnp.int32)

    def gemm(qa: Any, qb: Any, b: Any) -> Any:
        return int_matmul(qa, qb, bias=b, overflow=cfg.overflow)

    acc = gemm(q_x[0], q_w[0], b32[0])[None] if act.shape[0] == 1 else jax.vmap(gemm)(q_x, q_w, b32)
    if cfg.out_scale is not None:
        s_y = jnp.float32(cfg.out_scale)
    else:
        s_y = _scale(jnp.max(jnp.abs(acc.astype(jnp.float32)) * s_acc[:, None, :]), qmax_out)
    ratio = div(s_acc, s_y)
    m, s = quantize_multiplier(jnp.where(jnp.isfinite(ratio), ratio, 0.0), cfg.rounding)  # NaN results below
    out_fmt = IntFormat(cfg.out_bits)

    def requant(a: Any, mb: Any, sb: Any) -> Any:
        return requantize(a, mb, sb, 0, out_fmt, rounding=cfg.rounding, axis=-1)

    m, s = jnp.asarray(m), jnp.asarray(s)
    q_y = requant(acc[0], m[0], s[0])[None] if act.shape[0] == 1 else jax.vmap(requant)(acc, m, s)
    y = q_y.astype(jnp.float32) * s_y
    finite = jnp.isfinite(jnp.max(jnp.abs(act))) & jnp.isfinite(jnp.max(jnp.abs(wgt)))
    if bias is not None:
        finite = finite & jnp.isfinite(jnp.max(jnp.abs(bias)))
    return jnp.where(finite, y, jnp.float32(jnp.nan))
