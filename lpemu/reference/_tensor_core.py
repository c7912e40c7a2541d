"""The exact tensor-core dot product: the oracle of ``lpemu.tc_matmul``.

A scalar restatement of shared/specs/tensor-cores.md with Python ints and Fractions, written
independently of the kernels (it never shifts bits: every step is a floor or a comparison of
exact rationals). The model and its choices are described in ``lpemu._tensor_cores``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from fractions import Fraction

from .._formats import FloatFormat
from ..errors import InvalidArgumentError

__all__ = ["tc_dot"]

#: fp32's smallest normal exponent: an addend c's exponent is never below it (spec step 2).
_C_EMIN = -126


def _floor_log2(x: Fraction) -> int:
    """floor(log2(x)) for x > 0, exactly."""
    e = x.numerator.bit_length() - x.denominator.bit_length()
    return e - 1 if Fraction(2) ** e > x else e


def _exponent(x: Fraction, emin: int) -> int:
    """The exponent a value enters the adder with: its binade, but at least ``emin``."""
    return max(_floor_log2(abs(x)), emin)


def _round(x: Fraction, frac: int, emin: int, emax: int, nearest: bool) -> Fraction | float:
    """``x`` on the grid with ``frac`` fraction bits per binade (binades below ``emin`` share
    its quantum), toward zero or to nearest even; +-inf from ``2^(emax + 1)`` up. A zero
    result is +0, also for a negative ``x`` (measured on an H100)."""
    if x == 0:
        return Fraction(0)
    quantum = Fraction(2) ** (max(_floor_log2(abs(x)), emin) - frac)
    y = abs(x) / quantum
    k = math.floor(y)
    f = y - k
    if nearest and (f > Fraction(1, 2) or (f == Fraction(1, 2) and k % 2 == 1)):
        k += 1
    r = k * quantum
    if r >= Fraction(2) ** (emax + 1):
        return math.copysign(math.inf, x)
    return -r if x < 0 else r


def _nan(model) -> float:
    """NVIDIA's NaN as a float64 whose float32 conversion has the bits 0x7FFFFFFF (fp32 output)
    or 0x7FFFE000 (fp16 output: 0x7FFF widened), whatever NaNs went in (measured on an H100)."""
    bits32 = 0x7FFFFFFF if model.out == "fp32" else 0x7FFFE000
    return struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000000 | (bits32 & 0x7FFFFF) << 29))[0]


def _out_grid(model) -> tuple[int, int, int, bool]:
    """(fraction bits, emin, emax, nearest) of a block's result (spec step 5)."""
    if model.out == "fp16":
        return 10, -14, 15, True
    return 23 + min(model.neab, 0), -126, 127, False


def _block(pairs: list[tuple[float, float]], c: Fraction, model, fmt: FloatFormat) -> Fraction | float:
    """One block FMA: ``sum(x * y) + c``, aligned, truncated, summed and rounded once."""
    terms = []
    for x, y in pairs:
        fx, fy = Fraction(x), Fraction(y)
        if fx * fy != 0:  # step 1: zero products are dropped
            terms.append((fx * fy, _exponent(fx, fmt.emin) + _exponent(fy, fmt.emin)))
    if c != 0:  # step 2
        terms.append((c, _exponent(c, _C_EMIN)))
    e_top = max([e for _, e in terms] + [model.min_exp_limit])  # step 3
    unit = Fraction(2) ** (e_top - (23 + model.neab))
    total = 0
    for v, _ in terms:  # step 4: truncate each magnitude to the alignment grid
        t = math.floor(abs(v) / unit)
        total += t if v > 0 else -t
    return _round(total * unit, *_out_grid(model))  # step 5


def tc_dot(a: Sequence[float], b: Sequence[float], c: float, model) -> float:
    """The tensor-core result of ``sum(a[i] * b[i]) + c``, exactly as the model defines it.

    Args:
        a, b: equally long sequences of floats, each a value of ``model.in_fmt`` (not checked).
        c: the addend (a float32 value); for fp16 output it is first rounded to fp16.
        model: a :class:`lpemu.TensorCore` (read: ``in_fmt``, ``n``, ``neab``,
            ``min_exp_limit``, ``out``, ``interleave``).

    Returns:
        The result as a Python float (an fp32 or fp16 value, or +-Inf). A NaN carries NVIDIA's
        payload: ``numpy.float32(result)`` has the bits 0x7FFFFFFF (0x7FFFE000 for fp16 output).

    Raises:
        InvalidArgumentError: ``a`` and ``b`` differ in length.

    Examples:
        >>> from lpemu._tensor_cores import tensor_core
        >>> a, b = [1.0, -2.0**-12], [1.0, 2.0**-12]  # 1 - 2^-24: V100 aligns to 23 bits, A100 to 24
        >>> tc_dot(a, b, 0.0, tensor_core("V100", "fp16")), tc_dot(a, b, 0.0, tensor_core("A100", "fp16")).hex()
        (1.0, '0x1.fffffe0000000p-1')
        >>> tc_dot([0.5], [0.5], 1 + 2.0**-20, tensor_core("H100", "e4m3"))
        1.25
        >>> tc_dot([float("inf"), 1.0], [1.0, float("-inf")], 0.0, tensor_core("H100", "fp16"))
        nan
    """
    if len(a) != len(b):
        raise InvalidArgumentError(f"tc_dot: a and b must have the same length, got {len(a)} and {len(b)}")
    fmt = model.in_fmt
    if model.out == "fp16" and math.isfinite(c):
        c = float(_round(Fraction(c), 10, -14, 15, True))
    # step 7: NaN and Inf, from the exact products (in double: finite products cannot overflow)
    specials = [float(x) * float(y) for x, y in zip(a, b)] + [float(c)]
    if any(math.isnan(v) for v in specials) or (math.inf in specials and -math.inf in specials):
        return _nan(model)
    if math.inf in specials or -math.inf in specials:
        return math.inf if math.inf in specials else -math.inf
    n = model.n
    blocks = max(1, -(-len(a) // n))  # step 6: whole blocks, zero-padded
    pairs = list(zip(a, b)) + [(0.0, 0.0)] * (blocks * n - len(a))
    acc: Fraction | float = Fraction(c)
    for i in range(blocks):
        block = pairs[i * n:(i + 1) * n]
        addend = Fraction(acc)
        if model.interleave:
            first = [p for j, p in enumerate(block) if j % 4 < 2]
            second = [p for j, p in enumerate(block) if j % 4 >= 2]
            d = _block(first, Fraction(0), model, fmt)
            if not math.isinf(d):
                d = _block(second, Fraction(d), model, fmt)
            if not math.isinf(d):
                frac, emin, emax, _ = _out_grid(model)
                d = _round(Fraction(d) + addend, frac, emin, emax, True)
        else:
            d = _block(block, addend, model, fmt)
        if isinstance(d, float) and math.isinf(d):
            return d  # overflow: +-Inf from here on
        acc = d
    return float(acc)
