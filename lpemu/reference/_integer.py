"""Reference integer-only pipelines (shared/specs/integer-pipelines.md): the exact scalar oracle
the Numba and JAX kernels of :mod:`lpemu.dyadic` and :mod:`lpemu.integer` are tested against.

Written from the definitions with Python ints (unbounded, so nothing overflows unless a rule
says it wraps) and :class:`~fractions.Fraction`, one element or one row at a time, without the
kernels' shift tricks: a rounding is written as the real quotient it rounds (``floor(v + 1/2)``
rather than a nudge and a truncating shift). Where a reference implementation computes in
float32 tensors (I-ViT, I-BERT), the integer meaning of its formula is reproduced, as the spec
asks; the places where float32 evaluation would differ are listed in ``docs/semantics.md``
("Integer-only pipelines"). The scale-derived constants come from
:mod:`lpemu.integer._constants`, the one definition every implementation reads.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import InvalidArgumentError
from ..integer import _constants as K

__all__ = [
    "INT32_MIN", "INT32_MAX", "wrap", "srdhm", "rdbpot", "mbqm", "mbqm_int64", "hawq_mul", "requantize",
    "quantize_multiplier", "int_dot", "shift_exp", "shiftmax", "shiftgelu", "ivit_sqrt", "ivit_layernorm",
    "ibert_exp", "ibert_gelu", "ibert_softmax", "ibert_sqrt", "ibert_layernorm",
]

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap(v: int, bits: int = 32) -> int:
    """``v`` modulo ``2^bits`` as a two's complement integer (what a C cast to intN_t does)."""
    half = 1 << (bits - 1)
    return (v + half) % (1 << bits) - half


def _round_half_up(v: Fraction) -> int:
    return math.floor(v + Fraction(1, 2))


def _round_half_away(v: Fraction) -> int:
    m = math.floor(abs(v) + Fraction(1, 2))
    return -m if v < 0 else m


# ---- gemmlowp fixed point ------------------------------------------------------------------------
def srdhm(a: int, b: int) -> int:
    """gemmlowp SaturatingRoundingDoublingHighMul of int32 ``a``, ``b``: ``a b / 2^31`` rounded to
    nearest with ties toward +inf; ``(INT32_MIN, INT32_MIN)`` saturates to ``INT32_MAX``.

    Examples:
        >>> srdhm(INT32_MIN, INT32_MIN), srdhm(3, 1 << 30), srdhm(-3, 1 << 30)
        (2147483647, 2, -1)
    """
    if a == b == INT32_MIN:
        return INT32_MAX
    return _round_half_up(Fraction(a * b, 1 << 31))


def rdbpot(x: int, exponent: int) -> int:
    """gemmlowp RoundingDivideByPOT: ``x / 2^exponent`` rounded half away from zero.

    Examples:
        >>> rdbpot(5, 1), rdbpot(-5, 1), rdbpot(-3, 1), rdbpot(INT32_MIN, 31)
        (3, -3, -2, -1)
    """
    return _round_half_away(Fraction(x, 1 << exponent))


def mbqm(x: int, multiplier: int, shift: int, rounding: str = "double") -> int:
    """TFLite MultiplyByQuantizedMultiplier of an int32 ``x``, the real multiplier being
    ``multiplier * 2^(shift - 31)``.

    * ``"double"`` (gemmlowp, the TFLite default): ``x * 2^max(shift, 0)`` wraps to int32, then
      :func:`srdhm` with ``multiplier``, then :func:`rdbpot` by ``max(-shift, 0)``.
    * ``"single"`` (``TFLITE_SINGLE_ROUNDING``): ``x * multiplier / 2^(31 - shift)`` rounded half
      up, wrapped to int32 (the C ``static_cast``).
    * ``"hawq"``: :func:`hawq_mul` (HAWQ-V3 / I-BERT ``fixedpoint_mul``: float64, ties to even).

    Examples:
        >>> mbqm(15, 1 << 30, 0), mbqm(-15, 1 << 30, 0), mbqm(-15, 1 << 30, 0, "single")
        (8, -7, -7)
        >>> mbqm(5, 1 << 30, 0, "hawq"), mbqm(7, 1 << 30, 0, "hawq")
        (2, 4)
    """
    if rounding == "double":
        return rdbpot(srdhm(wrap(x << max(shift, 0)), multiplier), max(-shift, 0))
    if rounding == "single":
        return wrap(_round_half_up(Fraction(x * multiplier, 1 << (31 - shift))))
    if rounding == "hawq":
        return hawq_mul(x, multiplier, shift)
    raise InvalidArgumentError(f"rounding must be double, single or hawq; got {rounding!r}")


def mbqm_int64(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier for an int64 ``x`` (both rounding builds): the
    multiplier is reduced to 16 bits, ``min((multiplier + 2^15) >> 16, 0x7FFF)``, then
    ``x * reduced / 2^(15 - shift)`` is rounded half up and wrapped to int32.

    Examples:
        >>> mbqm_int64(1 << 40, 1 << 30, -10), mbqm_int64(1 << 40, 1 << 30, 0), mbqm_int64(-3, 1 << 30, -1)
        (536870912, 0, -1)
    """
    reduced = min((multiplier + (1 << 15)) >> 16, 0x7FFF)
    return wrap(_round_half_up(Fraction(x * reduced, 1 << (15 - shift))))


def _to_float64(v: int) -> int:
    """The integer ``v`` rounded to float64's 53 significant bits, ties to even (exact Python int)."""
    extra = abs(v).bit_length() - 53
    if extra <= 0:
        return v
    return round(Fraction(v, 1 << extra)) << extra  # round() on a Fraction: ties to even


def hawq_mul(z: int, multiplier: int, shift: int) -> int:
    """HAWQ-V3 / I-BERT ``fixedpoint_mul``'s rounding: ``round(z * m / 2^e)`` in float64 with
    ``m = multiplier`` and ``e = 31 - shift``: ``z`` and the product ``z * m`` are rounded to
    float64 (ties to even; exact while ``|z * m| <= 2^53``), the division by ``2^e`` is exact, and
    the quotient is rounded to the nearest integer, ties to even (``torch.round``).

    Examples:
        >>> hawq_mul(5, 1 << 30, 0), hawq_mul(-5, 1 << 30, 0), hawq_mul(3, 1 << 30, 0)
        (2, -2, 2)
        >>> hawq_mul((1 << 31) - 1, (1 << 31) - 1, 0) == 2**31 - 1  # float64 rounds the product
        False
    """
    product = _to_float64(_to_float64(z) * multiplier)
    return round(Fraction(product, 1 << (31 - shift)))


def requantize(acc: int, multiplier: int, shift: int, zero_point: int, lo: int, hi: int,
               rounding: str = "double") -> int:
    """``clamp(mbqm(acc, multiplier, shift) + zero_point, lo, hi)`` (TFLite's requantization; int64
    ``acc`` outside the int32 range takes :func:`mbqm_int64` for ``double``/``single``). The sum
    with the zero point is exact.

    Examples:
        >>> requantize(1000, 1717986918, -3, 0, -128, 127), requantize(1000, 1717986918, -2, 0, -128, 127)
        (100, 127)
    """
    if rounding != "hawq" and not INT32_MIN <= acc <= INT32_MAX:
        v = mbqm_int64(acc, multiplier, shift)
    else:
        v = mbqm(acc, multiplier, shift, rounding)
    return min(max(v + zero_point, lo), hi)


def quantize_multiplier(real: float, rounding: str = "double") -> tuple[int, int]:
    """(multiplier, shift) with ``real ~ multiplier * 2^(shift - 31)``, from the exact value of the
    float ``real >= 0``: ``real = q 2^shift`` with ``q`` in [1/2, 1) (frexp), ``multiplier`` is
    ``q 2^31`` rounded half away from zero, and ``2^31`` becomes ``(2^30, shift + 1)``.
    ``real = 0`` gives ``(0, 0)``. The rounding names the implementation:

    * ``"double"``: TFLite QuantizeMultiplier: a shift below -31 gives ``(0, 0)``.
    * ``"single"``: TFLite with TFLITE_SINGLE_ROUNDING: also, a shift above 30 saturates to
      ``(2^31 - 1, 30)``.
    * ``"hawq"``: HAWQ batch_frexp (ROUND_HALF_UP of a positive value: the same rounding):
      neither; HAWQ keeps ``m = 2^31`` in a float64 tensor, where ``(2^30, shift + 1)`` is the
      same value.

    Examples:
        >>> quantize_multiplier(0.1), quantize_multiplier(1.0), quantize_multiplier(2.0**-33)
        ((1717986918, -3), (1073741824, 1), (0, 0))
        >>> quantize_multiplier(2.0**-33, "hawq"), quantize_multiplier(2.0**40, "single")
        ((1073741824, -32), (2147483647, 30))
    """
    d = Fraction(real)
    if d == 0:
        return 0, 0
    shift = math.floor(math.log2(d)) + 1  # a first guess, corrected exactly below
    while d >= Fraction(2) ** shift:
        shift += 1
    while d < Fraction(2) ** (shift - 1):
        shift -= 1
    q = _round_half_away(d * Fraction(2) ** (31 - shift))
    if q == 1 << 31:
        q, shift = 1 << 30, shift + 1
    if rounding != "hawq" and shift < -31:
        return 0, 0
    if rounding == "single" and shift > 30:
        return (1 << 31) - 1, 30
    return q, shift


# ---- integer GEMM ----------------------------------------------------------------------------------
def int_dot(a: list[int], b: list[int], a_zero_point: int = 0, b_zero_point: int = 0, bias: int = 0,
            overflow: str = "wrap") -> tuple[int, bool]:
    """One element of the integer GEMM: ``sum_k (a_k - za)(b_k - zb) + bias`` in an int32
    accumulator, summed in ``k`` order from 0 with the bias added last (TFLite's reference
    kernels), each partial sum under ``overflow``: ``"wrap"`` (two's complement), ``"saturate"``
    (clamped to int32 after every addition) or ``"raise"`` (exact). Returns (value, whether any
    partial sum left the int32 range).

    Examples:
        >>> int_dot([127] * 3, [127] * 3, bias=-5)
        (48382, False)
        >>> int_dot([2**15] * 2, [2**15] * 2, overflow="saturate"), int_dot([2**15] * 2, [2**15] * 2)
        ((2147483647, True), (-2147483648, True))
    """
    acc, hit = 0, False
    for t in [(x - a_zero_point) * (y - b_zero_point) for x, y in zip(a, b)] + [bias]:
        acc += t
        if not INT32_MIN <= acc <= INT32_MAX:
            hit = True
            acc = wrap(acc) if overflow == "wrap" else min(max(acc, INT32_MIN), INT32_MAX) \
                if overflow == "saturate" else acc
    return acc, hit


# ---- int32 C semantics of the TVM graphs -----------------------------------------------------------
def _tdiv32(a: int, b: int) -> int:
    """int32 division truncating toward zero; ``x / 0 = -1`` and ``INT32_MIN / -1 = INT32_MIN``
    (lpemu's definition of what C and TVM leave undefined; XLA's)."""
    if b == 0:
        return -1
    q = abs(a) // abs(b)
    return wrap(q if (a < 0) == (b < 0) else -q)


def _shl32(v: int, s: int) -> int:
    """int32 left shift: ``v * 2^s`` modulo 2^32; 0 for ``s`` outside [0, 31]."""
    return wrap(v << s) if 0 <= s <= 31 else 0


# ---- I-ViT --------------------------------------------------------------------------------------
def shift_exp(x: int, x0: int, n: int, cap: int = 1 << 62) -> int:
    """I-ViT's ``int_exp_shift`` of one integer ``x`` (PyTorch; ``x0 < 0``):
    ``x + floor(x/2) - floor(x/16)`` (``x log2 e``), clamped below at ``n x0``;
    ``q = floor(x / x0)``, ``r = x - x0 q``; ``floor((r/2 - x0) 2^(n - q))`` (``r/2`` not floored),
    at most ``cap`` (positive ``x``, which ShiftGELU's ``exp(-x_max)`` meets, can exceed any width).

    Examples:
        >>> [shift_exp(x, -10, 15) for x in (0, -10, -15, -30)]
        [327680, 131072, 73728, 17408]
    """
    x = x + math.floor(Fraction(x, 2)) - math.floor(Fraction(x, 16))
    x = max(x, n * x0)
    q = math.floor(Fraction(x, x0))
    r = x - x0 * q
    return min(math.floor((Fraction(r, 2) - x0) * Fraction(2) ** (n - q)), cap)


def _shift_exp_tvm(x: int, x0: int, n: int) -> int:
    """The TVM graph's ``shift_exp``: the same steps in int32 (wrapping) with ``>>`` for the
    floors, a truncating ``q = x / x0`` and the floored ``(r >> 1) - x0``."""
    x = wrap(x + (x >> 1) - (x >> 4))
    x = max(x, wrap(n * x0))
    q = _tdiv32(x, x0)
    r = wrap(x - wrap(q * x0))
    return _shl32(wrap((r >> 1) - x0), wrap(n - q))


def _check_variant(variant: str) -> None:
    if variant not in ("pytorch", "tvm"):
        raise InvalidArgumentError(f"variant must be pytorch or tvm; got {variant!r}")


def shiftmax(row: list[int], scale: float, variant: str = "pytorch", n: int | None = None,
             output_bits: int = 8) -> tuple[list[int], float]:
    """I-ViT Shiftmax of one row of integers with input scale ``scale``.

    PyTorch: ``e = shift_exp(x - max(x))`` with ``n = 15``; ``s = min(sum(e), 2^31 - 1)``;
    ``f = floor((2^31 - 1) / s)``; ``y = floor(e f / 2^(32 - output_bits))``.
    TVM: ``n = 16``, int32 wrapping arithmetic (:func:`_shift_exp_tvm`), truncating division,
    an arithmetic shift, and a final wrap to ``output_bits`` (the cast to int8).
    Returns (y, output scale ``2^(1 - output_bits)``).

    Examples:
        >>> shiftmax([10, 0, -5, -20], 0.1)
        ([76, 30, 17, 4], 0.0078125)
    """
    _check_variant(variant)
    n = (16 if variant == "tvm" else 15) if n is None else n
    x0 = K.ivit_x0(scale, variant)
    out_shift = 32 - output_bits
    top = max(row)
    if variant == "tvm":
        e = [_shift_exp_tvm(wrap(x - top), x0, n) for x in row]
        f = _tdiv32(INT32_MAX, wrap(sum(e)))
        y = [wrap(wrap(f * v) >> out_shift, output_bits) for v in e]
    else:
        e = [shift_exp(x - top, x0, n) for x in row]
        f = INT32_MAX // min(sum(e), INT32_MAX)
        y = [v * f >> out_shift for v in e]
    return y, 2.0 ** (1 - output_bits)


def shiftgelu(row: list[int], scale: float, variant: str = "pytorch", n: int = 23,
              output_bits: int = 8) -> tuple[list[int], float]:
    """I-ViT ShiftGELU of one row: ``x sigmoid(1.702 x)`` with the sigmoid as
    ``e / (e + e')``, ``e = shift_exp(x - x_max)``, ``e' = shift_exp(-x_max)`` at scale
    ``1.702 S``; PyTorch: ``s = min(e + e', 2^31 - 1)``, ``sig = floor(e floor((2^31 - 1) / s) /
    2^(32 - output_bits))``, ``y = x sig`` (exact). TVM: int32 wrapping arithmetic throughout.
    Returns (y, output scale ``S / 2^(output_bits - 1)``).

    Examples:
        >>> shiftgelu([-100, -50, 0, 50, 100], 0.02)
        ([-400, -950, 0, 5350, 12000], 0.00015625)
    """
    _check_variant(variant)
    s1 = K.gelu_scale(scale)
    x0 = K.ivit_x0(s1, variant)
    out_shift = 32 - output_bits
    top = max(row)
    if variant == "tvm":
        e_max = _shift_exp_tvm(wrap(-top), x0, n)
        out = []
        for x in row:
            e = _shift_exp_tvm(wrap(x - top), x0, n)
            sig = wrap(_tdiv32(INT32_MAX, wrap(e + e_max)) * e) >> out_shift
            out.append(wrap(x * sig))
    else:
        e_max = shift_exp(-top, x0, n, cap=INT32_MAX)
        out = []
        for x in row:
            e = shift_exp(x - top, x0, n)
            sig = e * (INT32_MAX // min(e + e_max, INT32_MAX)) >> out_shift
            out.append(x * sig)
    return out, scale / 2 ** (output_bits - 1)


def ivit_sqrt(v: int, variant: str = "pytorch") -> int:
    """I-LayerNorm's integer square root: exactly ten steps ``k = floor((k + floor(v / k)) / 2)``
    from ``k = 2^16`` (uint32 arithmetic in TVM, where ``v`` has wrapped to 32 bits already).

    Examples:
        >>> [ivit_sqrt(v) for v in (100, 10000, 2**20, 2**32 - 1)]
        [64, 108, 1024, 65536]
    """
    k = 1 << 16
    for _ in range(10):
        k = (k + v // k) // 2
    return k


def _mean_half_even(row: list[int]) -> int:
    """``round(mean(row))``, ties to even (``torch.round``), exactly."""
    return round(Fraction(sum(row), len(row)))


def ivit_layernorm(row: list[int], bias: list[int], variant: str = "pytorch") -> list[int]:
    """I-ViT I-LayerNorm of one row before scaling: ``y = x - round_half_even(mean)``,
    ``v = sum(y^2)``, ``k = ivit_sqrt(v)``, ``out = floor(y floor((2^31 - 1) / k) / 2) + bias``.
    TVM: ``mean = sum / C`` truncated (int32), squares wrap to int32 and are summed as uint32,
    uint32 square root steps, int32 products that wrap and a truncating ``/ 2``.

    Examples:
        >>> ivit_layernorm([1, 2, 3, 4], [0] * 4), ivit_layernorm([1, 2, 3, 4], [0] * 4, "tvm")
        ([-16777216, 0, 16777215, 33554431], [-16777215, 0, 16777215, 33554431])
    """
    _check_variant(variant)
    c = len(row)
    if variant == "tvm":
        mean = _tdiv32(wrap(sum(row)), c)
        y = [wrap(x - mean) for x in row]
        var = sum(wrap(d * d) % (1 << 32) for d in y) % (1 << 32)
        f = _tdiv32(INT32_MAX, wrap(ivit_sqrt(var)))
        return [wrap(_tdiv32(wrap(f * d), 2) + b) for d, b in zip(y, bias)]
    mean = _mean_half_even(row)
    y = [x - mean for x in row]
    f = INT32_MAX // ivit_sqrt(sum(d * d for d in y))
    return [math.floor(Fraction(d * f, 2)) + b for d, b in zip(y, bias)]


# ---- I-BERT -------------------------------------------------------------------------------------
def ibert_exp(x: int, scale: float) -> int:
    """I-BERT i-exp of one integer ``x <= 0`` at input scale ``S``: with
    ``x0 = floor(-0.6931 / S)``, ``x = max(x, 30 x0)``, ``q = floor(x / x0)``, ``r = x - x0 q``,
    ``z = r (r + floor(b / S)) + floor(c / S^2)``; ``max(floor(z 2^(30 - q)), 0)``. The output
    scale is ``0.35815147 S^2 / 2^30``.

    Examples:
        >>> [ibert_exp(x, 0.01) for x in (0, -10, -50, -100)]
        [29979945467904, 27188216725504, 18168785403904, 11124502167552]
    """
    k = K.iexp_constants(scale)
    x = max(x, K.IEXP_N * k.x0)
    q = math.floor(Fraction(x, k.x0))
    r = x - k.x0 * q
    z = r * (r + k.b) + k.c
    return max(math.floor(z * Fraction(2) ** (K.IEXP_N - q)), 0)


def ibert_gelu(x: int, scale: float) -> int:
    """I-BERT i-GELU of one integer at input scale ``S``: with ``S' = S / 1.4142`` and the
    constants of :func:`lpemu.integer._constants.igelu_constants`,
    ``y = sign(x) ((min(|x|, -b) + b)^2 + c)``, ``y = floor(y / 2^14)``, ``out = x (y + shift)``;
    the output scale is ``S s / 2`` (negative).

    Examples:
        >>> [ibert_gelu(x, 0.001) for x in (-3000, -1000, 0, 1000, 3000)]
        [3000, 139000, 0, -708000, -2538000]
    """
    k = K.igelu_constants(scale)
    sign = (x > 0) - (x < 0)
    y = sign * ((min(abs(x), -k.b) + k.b) ** 2 + k.c)
    y = math.floor(Fraction(y, 1 << K.IGELU_N))
    return x * (y + k.shift)


def ibert_softmax(row: list[int], scale: float, output_bits: int = 8) -> tuple[list[int], float]:
    """I-BERT i-softmax of one row: ``e = ibert_exp(x - max(x))``; a 16-bit requantization
    ``e16 = clamp(hawq_mul(e, m, s), -2^15, 2^15 - 1)`` with ``(m, s) = quantize_multiplier(
    32767 / e_max, "hawq")``, ``e_max = floor(c / S^2) 2^30`` the largest exponential (I-BERT's
    QuantAct(16) at its running maximum); ``f = floor(2^32 / sum(e16))``;
    ``y = floor(e16 f / 2^(32 - output_bits))``. Returns (y, ``2^-output_bits``).

    Examples:
        >>> ibert_softmax([0, -69, -1000], 0.01)
        ([170, 85, 0], 0.00390625)
    """
    k = K.iexp_constants(scale)
    m, s = quantize_multiplier(K.softmax16_ratio(k.c << K.IEXP_N), "hawq")
    top = max(row)
    e16 = [min(max(hawq_mul(ibert_exp(x - top, scale), m, s), -(1 << 15)), (1 << 15) - 1) for x in row]
    f = (1 << 32) // sum(e16)
    return [v * f >> (32 - output_bits) for v in e16], 2.0**-output_bits


def ibert_sqrt(v: int) -> int:
    """I-BERT's integer square root (the paper's Algorithm 4, Newton's iteration from
    ``2^ceil(bits(v) / 2)`` until it stops decreasing): ``floor(sqrt(v))``, 0 for ``v <= 0``.

    Examples:
        >>> [ibert_sqrt(v) for v in (15, 16, 24, 99, 2**31 - 1)]
        [3, 4, 4, 9, 46340]
    """
    return math.isqrt(v) if v > 0 else 0


def ibert_layernorm(row: list[int], bias: list[int], shift: int = 0) -> list[int]:
    """I-BERT i-LayerNorm of one row before scaling: ``y = x - round_half_even(mean)``,
    ``v = sum(floor(y / 2^shift)^2)``, ``std = floor(sqrt(v)) 2^shift``,
    ``f = floor(2^31 / (std + 1/10000))`` (the reference's ``+ 0.0001``, exactly),
    ``out = floor(y f / 2) + bias``.

    Examples:
        >>> ibert_layernorm([1, 2, 3, 4], [0] * 4)
        [-536844070, 0, 536844069, 1073688139]
    """
    mean = _mean_half_even(row)
    y = [x - mean for x in row]
    std = ibert_sqrt(sum((d >> shift) ** 2 for d in y)) << shift
    f = math.floor(Fraction(1 << 31) / (std + Fraction(1, 10000)))
    return [math.floor(Fraction(d * f, 2)) + b for d, b in zip(y, bias)]
