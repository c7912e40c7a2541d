"""The exact reference oracle: what "correct" means for every lpemu kernel.

A scalar, pure-Python implementation of the contract in ``docs/semantics.md``, written with
Python ints and :class:`fractions.Fraction` only and independently of the vectorized kernels.
It is slow by design; the kernels are tested against it.

Public functions:

* :func:`round_to_code` -- the code a real number rounds to.
* :func:`decode_code` -- the exact value of a code.
* :func:`round_value` -- the rounded value as a Python float.
* :func:`random_bits` -- the random integer stochastic rounding uses for an element and seed.
* :func:`arith` -- a correctly rounded add, sub, mul, div, sqrt or fma.

Choices where the contract is silent (see each function): a NaN produced by overflow or by an
infinite input takes the sign of x in IEEE and ``fn`` formats (the NaN-input rule); a format
without NaN that would need one (an unsigned ``specials="none"`` format given a negative x) gives
code 0. (``zero=False`` formats must have a NaN: ``FloatFormat`` rejects the others.)
"""

from __future__ import annotations

import math
from fractions import Fraction

from .._formats import FixedFormat, FloatFormat
from .._modes import Overflow, RoundingMode, overflow_policy, rounding_mode
from ..errors import InvalidArgumentError, InvalidFormatError
from . import _arith
from ._common import check_random, parse_input
from ._fixed import fixed_check_overflow, fixed_decode, fixed_round_to_code
from ._float import float_check_overflow, float_decode, float_default_overflow, float_round_to_code
from ._random import random_bits

__all__ = ["round_to_code", "decode_code", "round_value", "random_bits", "default_overflow", "arith", "dot", "scaled_block_dot"]

Number = float | int | Fraction


def _check_format(fmt: object) -> FloatFormat | FixedFormat:
    if not isinstance(fmt, (FloatFormat, FixedFormat)):
        raise InvalidFormatError(f"fmt must be a FloatFormat, FixedFormat or IntFormat, got {fmt!r}")
    return fmt


def default_overflow(fmt: FloatFormat | FixedFormat) -> Overflow:
    """The overflow policy ``overflow=None`` stands for.

    ``infinity`` for float formats with Inf or NaN; ``saturate`` for float formats with neither
    and for integers and fixed point.

    Examples:
        >>> from lpemu.formats import E4M3, E2M1, INT8
        >>> [default_overflow(f).value for f in (E4M3, E2M1, INT8)]
        ['infinity', 'saturate', 'saturate']
    """
    fmt = _check_format(fmt)
    if isinstance(fmt, FloatFormat):
        return float_default_overflow(fmt)
    return Overflow.SATURATE


def round_to_code(x: Number, fmt: FloatFormat | FixedFormat, rounding: str | RoundingMode = "nearest_even",
                  overflow: str | Overflow | None = None, *, rbits: int | None = None,
                  sr_bits: int = 30) -> int:
    """The code of ``fmt`` that ``x`` rounds to, exactly as ``docs/semantics.md`` defines it.

    Args:
        x: a Python float (NaN, +-Inf and -0.0 allowed; its sign is read with ``math.copysign``),
            an int or a Fraction. Floats (and numpy float scalars) convert to Fractions exactly.
            Integer and Fraction zeros are +0.
        fmt: a :class:`~lpemu.FloatFormat`, :class:`~lpemu.FixedFormat` or :class:`~lpemu.IntFormat`.
        rounding: a rounding mode name or alias (:func:`lpemu._modes.rounding_mode`).
        overflow: ``"infinity"``, ``"saturate"``, ``"propagate"``, ``"wrap"`` or None for the
            format's default (:func:`default_overflow`).
        rbits: the random integer ``r`` in ``[0, 2^sr_bits)``; required for the stochastic
            modes, ignored by the deterministic ones.
        sr_bits: ``n``, the number of random bits, 1..30.

    Returns:
        The code, an int in ``[0, 2^fmt.bits)`` (two's complement bit pattern for integers).

    Raises:
        InvalidArgumentError: a bad mode, policy or random argument; ``"infinity"`` or
            ``"propagate"`` for a format with neither Inf nor NaN; ``"wrap"`` for a float format;
            ``"infinity"``/``"propagate"`` for an integer format; a missing ``rbits``.

    Examples:
        >>> from lpemu.formats import E4M3, E5M2, INT8, p3109
        >>> hex(round_to_code(464.0, E4M3)), hex(round_to_code(464.5, E4M3))
        ('0x7e', '0x7f')
        >>> hex(round_to_code(464.5, E4M3, overflow="saturate"))
        '0x7e'
        >>> hex(round_to_code(float("-inf"), E5M2)), round_to_code(-2.5, INT8)
        ('0xfc', 254)
        >>> [round_to_code(1.0625, p3109(8, 3), "stochastic", rbits=r, sr_bits=2) for r in range(4)]
        [64, 64, 64, 65]
    """
    fmt = _check_format(fmt)
    mode = rounding_mode(rounding)
    policy = default_overflow(fmt) if overflow is None else overflow_policy(overflow)
    r, n = check_random(mode, rbits, sr_bits)
    ex = parse_input(x)
    if isinstance(fmt, FloatFormat):
        float_check_overflow(fmt, policy)
        return float_round_to_code(ex, fmt, mode, policy, r, n)
    fixed_check_overflow(fmt, policy)
    return fixed_round_to_code(ex, fmt, mode, policy, r, n)


def decode_code(code: int, fmt: FloatFormat | FixedFormat) -> Fraction | float:
    """The exact value of ``code``.

    Returns a :class:`~fractions.Fraction` for finite values, except that a negative zero is
    returned as the float ``-0.0`` (a Fraction has no sign of zero); +0 is ``Fraction(0)``.
    NaN and +-Inf are returned as floats; the NaN carries the code's sign bit.

    Examples:
        >>> from lpemu.formats import E4M3, E8M0, INT8, p3109
        >>> decode_code(0x7E, E4M3), decode_code(0x7F, E4M3), decode_code(0x80, E4M3)
        (Fraction(448, 1), nan, -0.0)
        >>> decode_code(0, E8M0) == Fraction(1, 2**127), decode_code(0xFF, INT8)
        (True, Fraction(-1, 1))
        >>> decode_code(0x7F, p3109(8, 3)), decode_code(0x01, p3109(8, 3))
        (inf, Fraction(1, 131072))
    """
    fmt = _check_format(fmt)
    if isinstance(fmt, FloatFormat):
        return float_decode(code, fmt)
    return fixed_decode(code, fmt)


def round_value(x: Number, fmt: FloatFormat | FixedFormat, rounding: str | RoundingMode = "nearest_even",
                overflow: str | Overflow | None = None, *, rbits: int | None = None,
                sr_bits: int = 30) -> float:
    """``x`` rounded to ``fmt``, as a Python float: ``decode_code(round_to_code(x, ...))``.

    Arguments as :func:`round_to_code`. A NaN result has the sign bit of its code: the input's
    sign for IEEE and ``fn`` formats, the NaN code's own sign for fnuz and signed P3109 (negative,
    0x80) and unsigned formats (positive). Every finite float-format value with at most 53
    significant bits is exact; 64-bit integer values above 2^53 are rounded by ``float()``.

    Examples:
        >>> from lpemu.formats import E2M1, E4M3FNUZ
        >>> round_value(2.5, E2M1), round_value(2.6, E2M1), round_value(100.0, E2M1), round_value(float("nan"), E2M1)
        (2.0, 3.0, 6.0, -0.0)
        >>> round_value(float("nan"), E4M3FNUZ)
        nan
    """
    v = decode_code(round_to_code(x, fmt, rounding, overflow, rbits=rbits, sr_bits=sr_bits), fmt)
    return float(v)


def _operand(x: Number, fmt: FloatFormat) -> Fraction | float:
    """``x`` rounded into ``fmt`` (nearest-even), as a Fraction, a signed float zero, +-Inf or NaN."""
    v = decode_code(round_to_code(x, fmt), fmt)
    return -0.0 if v == 0 and isinstance(v, float) else v


def arith(op: str, operands: tuple[Number, ...], fmt: FloatFormat, rounding: str | RoundingMode = "nearest_even",
          overflow: str | Overflow | None = None, *, in_fmt: FloatFormat | None = None,
          rbits: int | None = None, sr_bits: int = 30) -> float:
    """The correctly rounded result of ``op`` ("add", "sub", "mul", "div", "sqrt", "fma").

    Each operand is first rounded into ``in_fmt`` (default ``fmt``) with nearest-even; the exact
    IEEE 754 result of the operation on those values is then rounded once into ``fmt`` with
    ``rounding`` and ``overflow`` (arguments as :func:`round_to_code`). A NaN result is the
    positive canonical NaN before that rounding. Exact zero results take IEEE 754's signs:
    x - x = +0, (-0) + (-0) = -0, and -0 whenever rounding down, unless both addends are +0.

    Examples:
        >>> from lpemu.formats import E4M3, FP16
        >>> arith("add", (1.0, 0.0625), E4M3), arith("add", (1.0, 0.0625), E4M3, "up")
        (1.0, 1.125)
        >>> arith("sqrt", (2.0,), FP16), arith("fma", (3.0, 5.0, -15.0), FP16, "down")
        (1.4140625, -0.0)
    """
    in_fmt = fmt if in_fmt is None else in_fmt
    mode = rounding_mode(rounding)
    arity = {"add": 2, "sub": 2, "mul": 2, "div": 2, "sqrt": 1, "fma": 3}
    if op not in arity or len(operands) != arity[op]:
        raise InvalidArgumentError(f"op must be one of {sorted(arity)} with that many operands, got {op!r}"
                                   f" with {len(operands)}")
    v = [_operand(x, in_fmt) for x in operands]
    if op == "add":
        r = _arith.exact_add(v[0], v[1], mode)
    elif op == "sub":
        r = _arith.exact_add(v[0], _arith.negate(v[1]), mode)
    elif op == "mul":
        r = _arith.exact_mul(v[0], v[1])
    elif op == "div":
        r = _arith.exact_div(v[0], v[1])
    elif op == "sqrt":
        r = _arith.exact_sqrt(v[0])
    else:
        r = _arith.exact_fma(v[0], v[1], v[2], mode)
    return round_value(r, fmt, mode, overflow, rbits=rbits, sr_bits=sr_bits)


def _rounded(v, fmt, mode, overflow, index, seed, sr_bits):
    rbits = random_bits(index, seed, sr_bits) if mode.is_stochastic else None
    return round_value(v, fmt, mode, overflow, rbits=rbits, sr_bits=sr_bits)


def dot(a, b, c: Number = 0.0, *, accumulator, product: object = "exact", product_rounding: str = "nearest_even",
        index: int = 0, seed: int | None = None, sr_bits: int = 30) -> float:
    """One element of :func:`lpemu.matmul`: the dot product of ``a`` and ``b`` plus ``c``, summed
    as ``accumulator`` sums (``lpemu.Exact``, ``Sequential``, ``Pairwise``, ``Blocked`` or a
    ``TensorCore``).

    ``a`` and ``b`` are values of their formats already (the caller rounds them); ``c`` is rounded
    into the accumulator's format (nearest-even) first, as :func:`lpemu.matmul` does. ``index`` is
    the element's flat position ``i * N + j`` in the result, which selects its random bits.

    Examples:
        >>> from lpemu import Sequential, Exact
        >>> dot([1.0] + [2.0**-9] * 4, [1.0] * 5, accumulator=Sequential("bf16"))
        1.0
        >>> dot([1.0] + [2.0**-9] * 4, [1.0] * 5, accumulator=Exact("bf16"))
        1.0078125
    """
    from .._accumulators import Blocked, Exact, Pairwise, Sequential
    from .._tensor_cores import TensorCore
    from ._tensor_core import tc_dot

    k = len(a)
    if isinstance(accumulator, TensorCore):
        return tc_dot(list(a), list(b), float(c), accumulator)
    if isinstance(accumulator, Blocked):
        n_blocks = -(-k // accumulator.block)
        outer = accumulator.outer
        total = round_value(c, outer.fmt)
        for q in range(n_blocks):
            s = slice(q * accumulator.block, (q + 1) * accumulator.block)
            sub = None if seed is None else (seed + q + 1) % (1 << 64)
            part = dot(a[s], b[s], 0.0, accumulator=accumulator.inner, product=product,
                       product_rounding=product_rounding, index=index, seed=sub, sr_bits=sr_bits)
            add_seed = None if seed is None else (seed + n_blocks + q + 1) % (1 << 64)
            total = _rounded(_arith.exact_add(_signed(total), _signed(part), outer.rounding), outer.fmt,
                             outer.rounding, outer.overflow, index, add_seed, sr_bits)
        return total
    fmt, mode, overflow = accumulator.fmt, accumulator.rounding, accumulator.overflow
    prods = []
    for x, y in zip(a, b):
        p = _arith.exact_mul(_signed(x), _signed(y))
        if not (isinstance(product, str) and product in ("exact", "fused")):
            p = _signed(round_value(p, product, product_rounding))
        prods.append(p)
    acc = _signed(round_value(c, fmt))
    base = index * k
    if isinstance(accumulator, Exact):
        total = acc
        for p in prods:
            total = _arith.exact_add(total, p, mode)
        return round_value(total, fmt, mode, overflow) if not mode.is_stochastic else \
            _rounded(total, fmt, mode, overflow, index, seed, sr_bits)
    if isinstance(accumulator, Sequential):
        for t, p in enumerate(prods):
            acc = _signed(_rounded(_arith.exact_add(acc, p, mode), fmt, mode, overflow, base + t, seed, sr_bits))
        return float(acc)
    assert isinstance(accumulator, Pairwise)
    level, node = prods, 0
    while len(level) > 1:
        half = len(level) // 2
        nxt = [_signed(_rounded(_arith.exact_add(level[2 * s], level[2 * s + 1], mode), fmt, mode, overflow,
                                base + node + s, seed, sr_bits)) for s in range(half)]
        if len(level) % 2:
            nxt.append(level[-1])
        node += half
        level = nxt
    top = level[0] if level else Fraction(0)
    return _rounded(_arith.exact_add(acc, top, mode), fmt, mode, overflow, base + node, seed, sr_bits)


def scaled_block_dot(a, b, a_fmt, b_fmt, c: Number = 0.0, *, accumulator, product: object = "exact",
                     product_rounding: str = "nearest_even", index: int = 0, seed: int | None = None,
                     sr_bits: int = 30) -> float:
    """One element of ``lpemu.matmul(..., block_dot="scaled")``: OCP MX's scale-factored dot
    product of a row ``a`` and a column ``b`` in power-of-two block formats.

    Each block of K is quantized (:func:`lpemu.reference._block.quantize_block`); the element
    values go through :func:`dot` with the inner model; the block sum times the two scales is
    added (exactly, then rounded once) into the outer model. ``accumulator`` is split as
    ``lpemu.matmul`` splits it (a Blocked: inner and outer; a Sequential: both; other: inner, with
    an fp32 Sequential outer).

    Examples:
        >>> from lpemu import Sequential
        >>> from lpemu.block import MXFP4
        >>> scaled_block_dot([1.0, 0.3, 0.2, 0.125], [4.0] * 4, MXFP4, MXFP4, accumulator=Sequential("fp32"))
        6.5
    """
    from .._accumulators import Sequential
    from .._block_dot import _inner_outer
    from ._block import quantize_block

    size = a_fmt.block_size
    inner, outer = _inner_outer(accumulator, size)
    k = len(a)
    n_blocks = -(-k // size)
    total = round_value(c, outer.fmt)
    for q in range(n_blocks):
        s = slice(q * size, (q + 1) * size)
        parts = []
        for x, f in ((a[s], a_fmt), (b[s], b_fmt)):
            codes, scode, _ = quantize_block(list(x), f)
            parts.append(([decode_code(code, f.element) for code in codes], decode_code(scode, f.scale)))
        (ea, sa), (eb, sb) = parts
        sub = None if seed is None else (seed + q + 1) % (1 << 64)
        part = dot([float(v) for v in ea], [float(v) for v in eb], 0.0, accumulator=inner, product=product,
                   product_rounding=product_rounding, index=index, seed=sub, sr_bits=sr_bits)
        scaled = _signed(part) * Fraction(sa) * Fraction(sb) if math.isfinite(part) and part != 0 else \
            _signed(part * float(sa) * float(sb))
        add_seed = None if seed is None else (seed + n_blocks + q + 1) % (1 << 64)
        total = _rounded(_arith.exact_add(_signed(total), scaled, outer.rounding), outer.fmt, outer.rounding,
                         outer.overflow, index, add_seed, sr_bits)
    assert isinstance(outer, Sequential)
    return total


def _signed(v) -> Fraction | float:
    """A float or Fraction as the exact-arithmetic value: Fractions for finite non-zero values and
    +0, the float -0.0, +-Inf and NaN as floats."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf")) or (v == 0 and str(v)[0] == "-")):
        return v
    return Fraction(v)


# Integer-only pipelines (shared/specs/integer-pipelines.md): the Python-int oracle of
# lpemu.dyadic and lpemu.integer, as a submodule: ``from lpemu.reference import integer``.
from . import _integer as integer  # noqa: E402

__all__ += ["integer"]
