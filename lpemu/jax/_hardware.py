"""Where hardware float arithmetic *is* the emulated arithmetic, bit for bit, and runs at its speed.

lpemu's general kernels compute every operation exactly in float64 with error-free
transformations and integer rounding; they are exact for every format and mode but cost about
ten float operations per result. Two classical facts let a policy use the hardware instead,
under conditions checked per format before tracing (never per value):

* Double rounding is innocuous (Figueroa, "When is double rounding innocuous?", SIGNUM 1995):
  for operands of precision p, rounding x + y, x - y, x * y, x / y first to nearest in a
  format of precision q >= 2p + 2 (q >= 2p + 1 for sqrt) and then to nearest-even in p bits
  gives the correctly rounded result. float32 (q = 24) covers p <= 11 (fp16, FP8, FP6, FP4),
  float64 (q = 53) p <= 25 (fp32). :func:`arith_container` also requires that no result can be
  subnormal (XLA on CPU flushes subnormal float results to zero) or overflow in that type, except
  for formats of at most 11 bits with float32's exponent range (bf16, tf32): float32 arithmetic
  on operands split into normal significands and integer exponents (:data:`SCALED`).
* Sequential fp32 accumulation of exact products is what float32 does: :func:`sequential_fp32`.

tests/test_emulate.py checks both against lpemu's kernels (every operand pair of the 8-bit
formats, random and edge-case operands of bf16, fp16 and fp32).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._formats import FloatFormat
from .._modes import RoundingMode, rounding_mode

__all__ = ["extent", "arith_container", "hardware_arith", "fp32_is_exact", "sequential_fp32", "SCALED"]

#: :func:`arith_container`'s answer for formats that float32 rounds innocuously but whose range
#: reaches float32's subnormals (bf16, tf32): float32 arithmetic on operands rescaled to the
#: normal range, the result's exponent handled in integers (:func:`_scaled_float32`).
SCALED = "float32, rescaled"

#: Iterations of the fast path's loop over k fused into one: fewer passes over the (M, N)
#: accumulator (16 measured best at 256x256x256 on a 2-core CPU: 2.2x np.matmul; 1: 4.7x).
UNROLL = 16

#: (type, precision, smallest normal exponent, largest exponent) of the hardware float types.
_CONTAINERS = ((np.float32, 24, -126, 127), (np.float64, 53, -1022, 1023))

_OPS = {"add": jnp.add, "sub": jnp.subtract, "mul": jnp.multiply, "div": jnp.divide, "sqrt": jnp.sqrt}


def extent(f: FloatFormat) -> tuple[int, int, int]:
    """(precision, quantum exponent, emax) of a float format: its values are multiples of
    2^quantum below 2^(emax + 1)."""
    return f.precision, f.emin - f.man_bits, f.emax


def _fits(op: str, fmt: tuple[int, int, int], q: int, lo: int, hi: int) -> bool:
    """Whether ``op`` on values of ``fmt`` rounds innocuously through a type of precision q and
    normal exponents lo..hi: every non-zero exact result is normal and finite there."""
    p, quantum, emax = fmt
    if quantum < lo or q < (2 * p + 1 if op == "sqrt" else 2 * p + 2):
        return False
    if op in ("add", "sub"):  # multiples of 2^quantum, below 2^(emax + 2)
        return emax + 1 <= hi
    if op == "mul":  # at least 2^(2 quantum), below 2^(2 emax + 2)
        return 2 * quantum >= lo and 2 * emax + 1 <= hi
    if op == "div":  # at least 2^(quantum - emax - 1), below 2^(emax + 1 - quantum)
        return quantum - emax - 1 >= lo and emax - quantum <= hi
    return True  # sqrt: between 2^(quantum / 2) and 2^((emax + 1) / 2)


def arith_container(op: str, fmt: Any, rounding: Any, dtype: Any) -> Any:
    """The hardware type (np.float32 or np.float64, or :data:`SCALED`) in which ``op`` followed
    by one rounding into ``fmt`` is the correctly rounded result, or None (use lpemu's kernels).

    Only nearest-even results in a float32 container qualify."""
    if (not isinstance(fmt, FloatFormat) or op not in _OPS or np.dtype(dtype) != np.float32
            or rounding_mode(rounding) is not RoundingMode.NEAREST_EVEN):
        return None
    if _fits(op, extent(fmt), 24, -126, 127):
        return np.float32
    if op != "sqrt" and fmt.precision <= 11 and fmt.emin == -126 and fmt.emax <= 127:
        return SCALED
    for ctype, q, lo, hi in _CONTAINERS:
        if _fits(op, extent(fmt), q, lo, hi):
            return ctype
    return None


def hardware_arith(op: str, container: Any, operands: tuple, round_out: Any, precision: int) -> Any:
    """``op`` of float32 operands (already values of a format of ``precision`` bits) computed in
    ``container``, then rounded by ``round_out`` (a function rounding an array into the format),
    returned as float32.

    In float64, formats of at most 22 bits are rounded from float32: the float64 result is first
    rounded to odd into float32, which keeps the bits a later rounding to nearest reads (Boldo &
    Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to
    odd", IEEE TC 2008); the float32 rounding kernel is about twice as fast as the float64 one.

    A NaN result is made the positive quiet NaN first, as lpemu's kernels make it (formats
    without NaN map it to -0 then, ml_dtypes' rule). float32 subnormals move between float32
    and float64 through their bits: XLA's conversions would flush them."""
    if container == np.float32:
        return round_out(_positive_nan(_compute(op, operands)))
    if container == SCALED:
        return round_out(_positive_nan(_scaled_float32(op, *operands, precision)))
    with jax.enable_x64(True):
        wide = _positive_nan(_compute(op, [_widen(jnp.asarray(x, jnp.float32)) for x in operands]))
        if precision <= 22:  # round to odd into float32 keeps the information the rounding needs
            return round_out(_narrow_to_odd(wide))
        return _narrow(round_out(wide))


def _pow2(e: Any) -> Any:
    """2^e as float32 for integer arrays e, 0 where e < -126 (e <= 127)."""
    return lax.bitcast_convert_type(jnp.maximum(e + 127, 0) << 23, jnp.float32)


def _split(x: Any) -> tuple[Any, Any]:
    """(s, k) with x = s * 2^-k exactly and s a normal float32 or zero carrying x's sign:
    normal x has s in [1, 2), subnormal x the integer of its mantissa bits (XLA would read the
    subnormal itself as zero); Inf and NaN are themselves with k = 0."""
    bits = lax.bitcast_convert_type(x, jnp.int32)
    e = (bits >> 23) & 0xFF
    man = bits & 0x7FFFFF
    normal = lax.bitcast_convert_type((bits & jnp.int32(-(1 << 31))) | man | 0x3F800000, jnp.float32)
    sub = man.astype(jnp.float32)
    s = jnp.where(e == 0, jnp.where(bits < 0, -sub, sub), normal)
    return jnp.where(e == 255, x, s), jnp.where(e == 0, 149, jnp.where(e == 255, 0, 127 - e))


def _scaled_float32(op: str, x: Any, y: Any, precision: int) -> Any:
    """``x op y`` (add, sub, mul, div) of values of a format with at most 11 bits and float32's
    exponent range, as a float32 that the format's nearest-even rounding turns into the
    correctly rounded result, without float64 and without ever handing XLA a subnormal:

    * the operands are split into normal significands and integer exponents (:func:`_split`);
      the significands are multiplied, divided, or added after scaling both by the larger
      operand's exponent (a much smaller operand may flush to zero there: it lies below half a
      unit of the larger, a value of the format, which the rounding then returns): one float32
      operation, correctly rounded to 24 >= 2p + 2 bits, so the final rounding is innocuous;
    * the result's exponent is put back in integers: in float32's normal range by subtracting
      from the exponent field; below it the result is rounded here, once, to the format's
      quantum (``rint`` of the significand scaled to it: the format's subnormals are float32
      subnormals, built from their bits); beyond float32's range it becomes float32's largest
      value, which the format's rounding overflows as it would the exact result.
    * Inf and NaN operands enter as themselves (a subnormal beside them as its normal
      significand: the same Inf, NaN or zero); results that are Inf or NaN (x / 0 too) are kept.
    """
    x, y = jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32)
    (sx, kx), (sy, ky) = _split(x), _split(y)
    if op in ("add", "sub"):
        k = jnp.minimum(kx, ky)
        sy = -sy if op == "sub" else sy
        r = sx * _pow2(k - kx) + sy * _pow2(k - ky)
    elif op == "mul":
        r, k = sx * sy, kx + ky
    else:
        r, k = _compute("div", (sx, sy)), kx - ky
    rbits = lax.bitcast_convert_type(r, jnp.int32)
    sign = rbits & jnp.int32(-(1 << 31))
    e = jnp.where(rbits & 0x7FFFFFFF == 0, 0, ((rbits >> 23) & 0xFF) - k)  # the result's exponent field
    normal = rbits - (k << 23)
    quantum_shift = 23 - (precision - 1)  # the format's smallest quantum is 2^-149 * 2^this
    n = jnp.rint(jnp.abs(r) * _pow2(precision - 1 + 126 - k)).astype(jnp.int32)
    low = (n << quantum_shift) | sign
    out = jnp.where(e >= 1, jnp.where(e > 254, 0x7F7FFFFF | sign, normal), low)
    return jnp.where(jnp.isfinite(r), lax.bitcast_convert_type(out, jnp.float32), r)


_TINY = 2.0**-126  # the smallest normal float32
_SUBNORMAL_QUANTUM = 2.0**-149


def _widen(x: Any) -> Any:
    """float32 to float64 exactly. XLA's conversion reads float32 subnormals as zero; those (all
    magnitudes below 2^-126) are rebuilt from their bits: an integer times 2^-149."""
    bits = lax.bitcast_convert_type(x, jnp.int32)
    mag = (bits & 0x7FFFFFFF).astype(jnp.float64) * _SUBNORMAL_QUANTUM
    return jnp.where(jnp.abs(x) < _TINY, jnp.where(bits < 0, -mag, mag), x.astype(jnp.float64))


def _narrow_to_odd(x: Any) -> Any:
    """float64 to float32 rounded to odd: toward zero, then the last bit set if inexact (finite
    values beyond float32's range become its largest value, odd; Inf and NaN stay)."""
    a = jnp.abs(x)
    r32 = x.astype(jnp.float32)
    back = jnp.abs(r32.astype(jnp.float64))
    mag = lax.bitcast_convert_type(r32, jnp.int32) & 0x7FFFFFFF
    mag = jnp.where(back > a, mag - 1, mag) | (back != a).astype(jnp.int32)  # toward zero, sticky bit
    scaled = a * (1.0 / _SUBNORMAL_QUANTUM)  # below 2^-126: an exact float64 number of quanta
    whole = jnp.floor(scaled)
    tiny = whole.astype(jnp.int32) | (whole != scaled).astype(jnp.int32)
    mag = jnp.where(a < _TINY, tiny, jnp.where(jnp.isnan(x), 0x7FC00000, mag))
    return lax.bitcast_convert_type(jnp.where(jnp.signbit(x), mag | jnp.int32(-(1 << 31)), mag), jnp.float32)


def _narrow(x: Any) -> Any:
    """float64 values that float32 holds exactly to float32. XLA's conversion flushes results
    below 2^-126 to zero; those are built from their bits (multiples of 2^-149)."""
    mag = (jnp.abs(x) * (1.0 / _SUBNORMAL_QUANTUM)).astype(jnp.int32)
    sub = lax.bitcast_convert_type(jnp.where(jnp.signbit(x), mag | jnp.int32(-(1 << 31)), mag), jnp.float32)
    return jnp.where(jnp.abs(x) < _TINY, sub, x.astype(jnp.float32))


def _compute(op: str, operands: Any) -> Any:
    if op == "div":
        # XLA on CPU divides by a broadcast (or constant) divisor as a multiplication by its
        # reciprocal, which is not correctly rounded: hand it a full-shape divisor it cannot see into.
        x, y = jnp.broadcast_arrays(*operands)
        return x / lax.optimization_barrier(y)
    return _OPS[op](*operands)


def _positive_nan(x: Any) -> Any:
    return jnp.where(jnp.isnan(x), jnp.array(np.nan, x.dtype), x)


def fp32_is_exact(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    """Whether float32 hardware arithmetic *is* sequential fp32 accumulation (nearest-even) of
    exact products, for operands described by their :func:`extent`.

    Conditions: products have at most 24 significant bits (exact in float32); no operand,
    product or partial sum is a float32 subnormal, which XLA on CPU flushes to zero (every
    product and partial sum is a multiple of 2^(qa + qb) >= 2^-126, so a non-zero one is
    normal); no product overflows float32 (a finite product the model keeps would become Inf).
    Under them ``acc + a * b`` in float32, fused or not, rounds exactly as the model does.
    """
    (pa, qa, ea), (pb, qb, eb) = a, b
    return pa + pb <= 24 and qa >= -126 and qb >= -126 and qa + qb >= -126 and ea + eb + 2 <= 128


def sequential_fp32(a: Any, b: Any) -> Any:
    """``a @ b`` for float32 (..., M, K) and (..., K, N), summed over k = 0..K-1 in float32.

    Bit for bit ``lpemu.matmul(..., accumulator=Sequential("fp32"))`` when :func:`fp32_is_exact`
    holds for the operands' formats, at close to XLA's own matmul speed: a loop over k of
    ``acc = acc + a[..., k] * b[..., k, :]`` on the whole (M, N) accumulator.
    """
    k = a.shape[-1]
    acc = jnp.zeros((*a.shape[:-1], b.shape[-1]), jnp.float32)
    if k == 0:
        return acc

    def step(acc: Any, i: Any) -> tuple[Any, None]:
        col = lax.dynamic_index_in_dim(a, i, axis=a.ndim - 1, keepdims=True)  # (..., M, 1)
        row = lax.dynamic_index_in_dim(b, i, axis=b.ndim - 2, keepdims=True)  # (..., 1, N)
        return acc + col * row, None

    return lax.scan(step, acc, jnp.arange(k), unroll=min(k, UNROLL))[0]
