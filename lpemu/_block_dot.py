"""Scale-factored dot products of power-of-two block formats (OCP MX section 6.2, BFP).

For MX operands the OCP spec defines the dot product of two blocks as ``X_A * X_B * sum_i
(P_A,i * P_B,i)``: the element products are summed first and the sum is multiplied by the two
shared scales; the dot products of the blocks along K are then summed in float32. That is what
``lpemu.matmul(..., block_dot="scaled")`` computes: per block of K, the element values (unscaled)
go through ``inner`` (any accumulator model, a tensor core included, with the element formats as
input formats), the block sum is multiplied exactly by the two scales, and the scaled block sums
are added into ``outer`` one by one, each addition rounded once.

With exact scaling this equals dequantize-then-multiply (``block_dot="dequantize"``) except where
the inner format's range clips: dequantized products can underflow or overflow the inner format
where the unscaled element products do not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._accumulators import Blocked, Sequential
from ._formats import FloatFormat
from ._quantize import decode
from ._tensor_cores import TensorCore
from .errors import InvalidArgumentError, InvalidFormatError

__all__ = ["scaled_block_matmul"]

#: The format scaled block sums are added from: float32-precision values with exponents in
#: [-277, 256]. Scaled sums beyond +-2^250 are clamped there first (see ``_clamp``).
SCALED_VALUES = FloatFormat(9, 23, name="scaled block sums")
_CLAMP = 250


def _inner_outer(acc: Any, block_size: int) -> tuple[Any, Sequential]:
    """The per-block model and the model adding the scaled block sums."""
    if isinstance(acc, Blocked):
        if acc.block != block_size:
            raise InvalidArgumentError(f"matmul: block_dot='scaled' sums blocks of {block_size} (the block size); "
                                       f"the Blocked accumulator has block={acc.block}")
        return acc.inner, acc.outer
    if isinstance(acc, Sequential):
        return acc, acc
    return acc, Sequential("fp32")


def _check_outer(outer: Sequential, sr_bits: int) -> None:
    """The clamp of ``_clamp`` leaves every rounding of ``outer`` unchanged when the outer format's
    range (and stochastic resolution) lies well inside +-2^250."""
    f = outer.fmt
    if f.emax + 4 > _CLAMP or f.emin - f.man_bits - sr_bits - 4 < -_CLAMP:
        raise InvalidFormatError(f"matmul: block_dot='scaled' needs an outer accumulator format within 2^+-{_CLAMP - 4} "
                                 f"(with its stochastic bits), got {f.name}")


def _clamp(xp, v):
    """Scaled block sums clamped to +-[2^-250, 2^250], keeping zeros, signs, Inf and NaN.

    Below 2^-250 a value is a sticky bit for every rounding of the outer format (it is far below
    its smallest subnormal and its stochastic resolution); above 2^250 it overflows the outer
    format in every mode. Clamping changes neither, and keeps the addend in SCALED_VALUES."""
    lo, hi = 2.0 ** -_CLAMP, 2.0 ** _CLAMP
    mag = xp.abs(v)
    fin = xp.isfinite(v) & (v != 0)
    clamped = xp.where(mag < lo, lo, xp.where(mag > hi, hi, mag))
    return xp.where(fin, xp.where(v < 0, -clamped, clamped), v)


def scaled_block_matmul(a, b, c, a_block, b_block, acc, product: Any, product_rounding: str, sr_bits: int,
                        seed: int | None, dtype, use_jax: bool) -> Any:
    """``a @ b + c`` (2-D a (M, K), b (K, N)) of block-format operands, scale-factored."""
    from . import block
    from ._arith import add
    from ._dot import _derived_seed, _matmul2

    for name, f in (("in_fmt", a_block), ("b_fmt", b_block)):
        if not f.pow2_scale or f.block_size is None:
            raise InvalidArgumentError(f"matmul: block_dot='scaled' needs power-of-two block scales (MX, BFP); "
                                       f"{name}={f.name} has {'one scale per tensor' if f.block_size is None else 'float scales'}")
    if a_block.block_size != b_block.block_size:
        raise InvalidArgumentError(f"matmul: block_dot='scaled' needs one block size, got {a_block.block_size} "
                                   f"and {b_block.block_size}")
    size = a_block.block_size
    inner, outer = _inner_outer(acc, size)
    _check_outer(outer, sr_bits)
    if not isinstance(inner, TensorCore) and inner.fmt.man_bits > SCALED_VALUES.man_bits:
        raise InvalidFormatError(f"matmul: block_dot='scaled' needs an inner format of at most 24 bits, got {inner.fmt.name}")

    def parts(x, f, axis):
        enc = block.encode(x, f, axis=axis)
        elements = decode(enc.elements, f.element, np.float64)
        return elements, decode(enc.scales, f.scale, np.float64)

    def elem_fmt(f):
        return f.element if isinstance(f.element, FloatFormat) else SCALED_VALUES

    def run(xp):
        ea, sa = parts(a, a_block, -1)
        eb, sb = parts(b, b_block, 0)
        m, n = a.shape[0], b.shape[1]
        prod = (product, product_rounding, elem_fmt(a_block), elem_fmt(b_block))
        k = a.shape[1]
        n_blocks = -(-k // size)
        f64 = np.dtype(np.float64)
        total = xp.zeros((m, n), f64) if c is None else block_quantize_addend(c, outer, xp)
        for q in range(n_blocks):
            s = slice(q * size, (q + 1) * size)
            part = _matmul2(ea[:, s], eb[s], None, inner, prod, sr_bits, _derived_seed(seed, q + 1), f64, use_jax)
            scaled = _clamp(xp, part * sa[:, q:q + 1] * sb[q:q + 1, :])
            total = add(total, scaled, outer.fmt, outer.rounding, outer.overflow, in_fmt=SCALED_VALUES,
                        sr_bits=sr_bits, seed=_derived_seed(seed, n_blocks + q + 1))
        return total.astype(dtype)

    if use_jax:
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):
            return run(jnp)
    return run(np)


def block_quantize_addend(c, outer: Sequential, xp) -> Any:
    """The addend rounded into the outer accumulator format, in float64."""
    from ._quantize import quantize

    return quantize(xp.asarray(c, np.float64), outer.fmt)
