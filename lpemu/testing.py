"""Test your own rounding against lpemu: hypothesis strategies and a bit-exact checker.

For users who implement a low-precision format themselves (a CUDA kernel, a custom cast, another
library) and want to know whether it rounds exactly as the format's specification says.
:func:`check_rounding` compares a vectorised function with :func:`lpemu.quantize` on the inputs
where rounding goes wrong (the format's values, the exact midpoints between neighbours and the
floats next to them, the subnormal and overflow boundaries, +-0, +-Inf, NaN), on hypothesis-drawn
inputs, or on every float32 bit pattern, and reports the smallest input that differs.

The strategies build the same inputs for your own hypothesis tests:

* :func:`float_formats` -- random :class:`~lpemu.FloatFormat` descriptors that a container holds.
* :func:`codes_of`, :func:`values_of` -- codes and finite values of a format.
* :func:`halfway_points` -- exact midpoints between neighbouring values (the ties).
* :func:`interesting_floats` -- a mix of all of the above and their float neighbours, in a dtype.
* :func:`rounding_modes` -- rounding modes (all, or the deterministic ones).

Requires hypothesis (a test dependency of lpemu, not a run-time one).

Examples:
    >>> import ml_dtypes, numpy as np
    >>> from lpemu.testing import check_rounding
    >>> to_fp8 = lambda x: x.astype(ml_dtypes.float8_e4m3fn).astype(np.float32)
    >>> check_rounding(to_fp8, "e4m3", max_examples=0)  # the systematic inputs only
    CheckResult(PASS float8_e4m3fn nearest_even overflow=infinity float32: 0 of 2,600 inputs differ)
    >>> check_rounding(to_fp8, "e4m3", max_examples=100).passed  # and 100 hypothesis examples
    True
"""

from __future__ import annotations

import dataclasses
import math
import random
import time
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
from hypothesis import HealthCheck, Phase, find
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample

from ._container import check_fits, container_of, resolve_overflow
from ._formats import FixedFormat, FloatFormat, Specials
from ._modes import Overflow, RoundingMode, rounding_mode
from ._quantize import quantize
from .errors import InvalidArgumentError, InvalidFormatError, check_int
from .formats import lookup

__all__ = [
    "float_formats", "codes_of", "values_of", "halfway_points", "interesting_floats", "rounding_modes",
    "check_rounding", "CheckResult", "Mismatch", "RoundingCheckError",
]

Format = FloatFormat | FixedFormat

#: Elements per call of the exhaustive check (2^22: large enough for lpemu's specialised loop).
EXHAUSTIVE_CHUNK = 1 << 22
#: Formats with at most this many bits contribute every code to the systematic inputs.
_ALL_CODES_BITS = 16
#: Mismatches kept in a :class:`CheckResult` (the smallest inputs first).
_KEEP = 10

_DETERMINISTIC = tuple(m for m in RoundingMode if not m.is_stochastic)


# =============================================================================================
# Strategies
# =============================================================================================
def _families(families: Iterable[Specials | str] | None) -> tuple[Specials, ...]:
    if families is None:
        return tuple(Specials)
    if isinstance(families, (str, Specials)):
        families = [families]
    out = []
    for fam in families:
        try:
            out.append(Specials(fam))
        except ValueError:
            allowed = ", ".join(s.value for s in Specials)
            raise InvalidArgumentError(f"float_formats families must be among {allowed}; got {fam!r}") from None
    if not out:
        raise InvalidArgumentError("float_formats needs at least one family, got none")
    return tuple(dict.fromkeys(out))


def _bias_range(exp_bits: int, man_bits: int, specials: Specials, signed: bool, subnormals: bool,
                infinities: bool, dtype: np.dtype) -> tuple[int, int, FloatFormat] | None:
    """The biases for which this format shape fits ``dtype`` exactly, or None (no bias does)."""
    try:
        probe = FloatFormat(exp_bits, man_bits, bias=0, signed=signed, subnormals=subnormals,
                            specials=specials, infinities=infinities)
    except InvalidFormatError:
        return None
    if probe.zero and not probe.subnormals and probe.max_code < (1 << man_bits):
        return None  # every finite code is a flushed subnormal: zero is the only value
    c = container_of(dtype)
    top_field = probe.max_code >> man_bits  # exponent field of the largest value: emax = top_field - bias
    # check_fits: man_bits <= mc, (1 - bias) - man_bits >= (1 - bias_c) - mc, emax <= bias_c.
    lo = max(top_field - c.bias, -1100)
    hi = min(c.bias + c.mc - man_bits, 1100)
    if man_bits > c.mc or lo > hi:
        return None
    return lo, hi, probe


@st.composite
def _float_format(draw, shapes_by_bits: dict[int, list[tuple]]) -> FloatFormat:
    bits = draw(st.sampled_from(sorted(shapes_by_bits)))
    exp_bits, man_bits, specials, signed, subnormals, infinities, lo, hi = draw(
        st.sampled_from(shapes_by_bits[bits]))
    default = min(max(2 ** (exp_bits - 1) - 1, lo), hi)
    # Half the draws keep the IEEE default bias; shrinking moves towards it.
    offset = draw(st.one_of(st.just(0), st.integers(lo - default, hi - default)))
    return FloatFormat(exp_bits, man_bits, bias=default + offset, signed=signed, subnormals=subnormals,
                       specials=specials, infinities=infinities)


def float_formats(max_bits: int = 16, families: Iterable[Specials | str] | None = None,
                  container: Any = np.float32) -> st.SearchStrategy[FloatFormat]:
    """Random :class:`~lpemu.FloatFormat` descriptors that ``container`` can emulate exactly.

    Draws the width (1..``max_bits`` bits, uniformly over the widths that exist), then the
    exponent and mantissa widths, the family (``specials``), the sign, subnormals, P3109
    infinities, and a bias (half the time the IEEE default ``2^(E-1) - 1``, otherwise any bias
    that keeps every value inside the container's range). Every drawn format passes
    ``lpemu.quantize``'s container check. Formats without a zero (OCP E8M0 style) are not drawn.
    Shrinks towards narrow, signed IEEE formats with subnormals and the default bias.

    Args:
        max_bits: the widest format, 1..64 (float32 holds at most 32-bit formats, float64 64-bit).
        families: the :class:`~lpemu.Specials` families (or their names) to draw from; default all
            five (``ieee``, ``fn``, ``fnuz``, ``p3109``, ``none``).
        container: ``np.float32`` or ``np.float64``, the dtype the format must fit.

    Returns:
        A hypothesis strategy of :class:`~lpemu.FloatFormat`.

    Raises:
        InvalidArgumentError: ``max_bits`` out of range, an unknown family, or no format fits.
        UnsupportedContainerError: ``container`` is not float32 or float64.

    Examples:
        >>> from hypothesis import given, settings
        >>> import numpy as np, lpemu
        >>> @given(float_formats(max_bits=8, families=["fn", "none"]))
        ... @settings(max_examples=20, deadline=None)
        ... def test_max_is_a_fixed_point(fmt):
        ...     x = np.array([fmt.max, fmt.min_subnormal], np.float32)
        ...     assert (lpemu.quantize(x, fmt) == x).all()
        >>> test_max_is_a_fixed_point()
    """
    max_bits = check_int("float_formats max_bits", max_bits, 1, 64)
    fams = _families(families)
    dtype = np.dtype(container)
    container_of(dtype)
    shapes: dict[int, list[tuple]] = {}
    for specials in fams:
        for signed in (True, False):
            for exp_bits in range(1, 12):
                for man_bits in range(0, max_bits - exp_bits - int(signed) + 1):
                    for subnormals in (True, False):
                        infs = (True, False) if specials is Specials.P3109 else (specials is Specials.IEEE,)
                        for infinities in infs:
                            fit = _bias_range(exp_bits, man_bits, specials, signed, subnormals, infinities, dtype)
                            if fit is None:
                                continue
                            lo, hi, probe = fit
                            shape = (exp_bits, man_bits, specials, signed, subnormals, infinities, lo, hi)
                            shapes.setdefault(probe.bits, []).append(shape)
    if not shapes:
        raise InvalidArgumentError(
            f"float_formats: no format of at most {max_bits} bits in families "
            f"{[f.value for f in fams]} fits {dtype}")
    order = {s: i for i, s in enumerate(Specials)}
    for lst in shapes.values():  # shrink towards IEEE, signed, with subnormals, wide exponent
        lst.sort(key=lambda s: (order[s[2]], not s[3], not s[4], not s[5], -s[0]))
    return _float_format(shapes)


def _check_format(fmt: Any, where: str) -> Format:
    f = lookup(fmt)
    if isinstance(f, FloatFormat) and f.bits > 64:
        raise InvalidArgumentError(f"{where}: formats wider than 64 bits are not supported, got {f.name}")
    return f


def codes_of(fmt: Format | str, *, finite: bool = False) -> st.SearchStrategy[int]:
    """Codes of ``fmt`` as ints in ``[0, 2^bits)``, shrinking towards code 0.

    Args:
        fmt: a format object or name.
        finite: only codes whose value is finite (no NaN, no Inf).

    Returns:
        A hypothesis strategy of Python ints (two's-complement bit patterns for integers).

    Examples:
        >>> from hypothesis import given, settings
        >>> import numpy as np, lpemu
        >>> @given(codes_of("e5m2"))
        ... @settings(max_examples=20, deadline=None)
        ... def test_encode_decode(code):
        ...     x = lpemu.decode(np.array([code], np.uint8), "e5m2")
        ...     assert lpemu.encode(x, "e5m2")[0] == code or np.isnan(x[0])
        >>> test_encode_decode()
    """
    fmt = _check_format(fmt, "codes_of")
    if isinstance(fmt, FixedFormat) or not finite:
        return st.integers(0, fmt.num_codes - 1)

    def combine(sm: tuple[bool, int]) -> int:
        neg, mag = sm
        code = (fmt.sign_mask if neg else 0) | mag
        return mag if fmt.is_nan_code(code) else code  # fnuz/P3109: the "-0" code is NaN

    sign = st.booleans() if fmt.signed else st.just(False)
    return st.tuples(sign, st.integers(0, fmt.max_code)).map(combine)


def values_of(fmt: Format | str) -> st.SearchStrategy[float]:
    """Finite values of ``fmt`` (both zeros where -0 exists), shrinking towards zero.

    Values are Python floats, exact for every format that fits a float64 container.

    Examples:
        >>> from hypothesis import given, settings
        >>> import numpy as np, lpemu
        >>> @given(values_of("e2m1"))
        ... @settings(max_examples=20, deadline=None)
        ... def test_values_are_fixed_points(v):
        ...     x = np.array([v], np.float32)
        ...     assert lpemu.quantize(x, "e2m1")[0] == v
        >>> test_values_are_fixed_points()
    """
    fmt = _check_format(fmt, "values_of")
    if isinstance(fmt, FixedFormat):
        return st.integers(fmt.min_int, fmt.max_int).map(lambda k: math.ldexp(float(k), -fmt.frac_bits))
    return codes_of(fmt, finite=True).map(fmt.code_value)


def _first_distinct_mag(fmt: FloatFormat) -> int:
    """The lowest magnitude code whose successor has a different value."""
    return (1 << fmt.man_bits) - 1 if fmt.zero and not fmt.subnormals else 0


def _exact_float(q: Fraction) -> float | None:
    try:
        f = float(q)
    except OverflowError:
        return None
    return f if math.isfinite(f) and Fraction(f) == q else None


def halfway_points(fmt: Format | str) -> st.SearchStrategy[float]:
    """Exact midpoints between neighbouring finite values of ``fmt`` (the ties of nearest rounding).

    Only midpoints that a float64 holds exactly are drawn (all of them for every format that fits
    a float32 container). Both signs; shrinks towards the midpoint next to zero. The tie between
    ``max`` and the next grid point above it (the overflow threshold of nearest rounding) is not a
    midpoint between two values; :func:`interesting_floats` includes it.

    Examples:
        >>> from hypothesis import given, settings
        >>> import numpy as np, lpemu
        >>> @given(halfway_points("e4m3"))
        ... @settings(max_examples=20, deadline=None)
        ... def test_ties(t):
        ...     x = np.array([t], np.float32)
        ...     lo, hi = lpemu.quantize(x, "e4m3", "toward_zero")[0], lpemu.quantize(x, "e4m3", "nearest_away")[0]
        ...     assert abs(hi) > abs(lo) and 2 * t == lo + hi
        >>> test_ties()
    """
    fmt = _check_format(fmt, "halfway_points")
    if isinstance(fmt, FixedFormat):
        def mid_fixed(k: int) -> float | None:
            return _exact_float((Fraction(k) + Fraction(1, 2)) * Fraction(2) ** -fmt.frac_bits)
        return st.integers(fmt.min_int, fmt.max_int - 1).map(mid_fixed).filter(lambda v: v is not None)
    lo = _first_distinct_mag(fmt)
    if lo >= fmt.max_code:
        raise InvalidArgumentError(f"halfway_points: {fmt.name} has fewer than two distinct values")

    def mid_float(sm: tuple[bool, int]) -> float | None:
        neg, mag = sm
        v = _exact_float((fmt._mag_value(mag) + fmt._mag_value(mag + 1)) / 2)
        return None if v is None else (-v if neg else v)

    sign = st.booleans() if fmt.signed else st.just(False)
    return st.tuples(sign, st.integers(lo, fmt.max_code - 1)).map(mid_float).filter(lambda v: v is not None)


def _cast(values: Any, dtype: np.dtype) -> np.ndarray:
    """Cast to ``dtype`` rounding to nearest (too large -> +-Inf), without warnings."""
    with np.errstate(all="ignore"):
        return np.asarray(values, dtype=np.float64).astype(dtype)


def _boundaries(fmt: Format, dtype: np.dtype) -> list[float]:
    """Positive thresholds where rounding changes regime (both signs are added by the callers)."""
    fi = np.finfo(dtype)
    out = [1.0, float(fi.max), float(fi.tiny), float(fi.smallest_subnormal)]
    if isinstance(fmt, FixedFormat):
        q = fmt.quantum
        out += [q, q / 2, 1.5 * q, fmt.max, fmt.max + q / 2, fmt.max + q, 2 * fmt.max + 2 * q,
                -fmt.min, -fmt.min + q / 2, -fmt.min + q]
        return out
    sub, nrm, top = fmt.min_subnormal, fmt.min_normal, fmt.max
    ulp_top = math.ldexp(1.0, fmt.emax - fmt.man_bits)
    out += [sub, sub / 2, sub / 4, 1.5 * sub, nrm, nrm / 2, nrm * 1.5,
            top, top + ulp_top / 2, top + ulp_top, 2 * top, top + ulp_top / 4]
    if not fmt.zero:  # no zero: below the smallest value
        out += [nrm / 4, nrm * 0.75]
    return [v for v in out if math.isfinite(v)]


def interesting_floats(fmt: Format | str, dtype: Any = np.float32) -> st.SearchStrategy[np.floating]:
    """Inputs where rounding into ``fmt`` is easy to get wrong, as scalars of ``dtype``.

    A mix of: the format's values (:func:`values_of`); the midpoints between neighbours
    (:func:`halfway_points`); the subnormal, underflow and overflow thresholds (``min_subnormal``
    and half of it, ``min_normal``, ``max``, ``max`` plus half a unit in the last place, the
    container's largest and smallest numbers); each of those moved by one or two
    ``nextafter`` steps in ``dtype``; +-0, +-Inf and NaN; and arbitrary floats of ``dtype``,
    inside the format's range and outside it. Values a float32 cannot hold are rounded to the
    nearest float32 (to +-Inf beyond its range). Shrinks towards the format's values near zero.

    Args:
        fmt: a format object or name.
        dtype: ``np.float32`` (default) or ``np.float64``.

    Returns:
        A hypothesis strategy of numpy scalars of ``dtype``.

    Examples:
        >>> from hypothesis import given, settings
        >>> import numpy as np, lpemu
        >>> @given(interesting_floats("bf16"))
        ... @settings(max_examples=20, deadline=None)
        ... def test_bf16_rounding_is_idempotent(x):
        ...     once = lpemu.quantize(np.array([x]), "bf16")
        ...     np.testing.assert_array_equal(lpemu.quantize(once, "bf16"), once)
        >>> test_bf16_rounding_is_idempotent()
    """
    fmt = _check_format(fmt, "interesting_floats")
    dtype = np.dtype(dtype)
    container_of(dtype)
    scalar = dtype.type

    def to_dtype(v: float) -> np.floating:
        return _cast(v, dtype)[()]

    bounds = _boundaries(fmt, dtype)
    bounds = bounds + [-v for v in bounds]
    specials = [0.0, -0.0, math.inf, -math.inf, math.nan]
    width = dtype.itemsize * 8
    top = min(2.0 * float(fmt.max), float(np.finfo(dtype).max))
    base = st.one_of(
        values_of(fmt).map(to_dtype),
        st.sampled_from(specials + bounds).map(to_dtype),
        *( [halfway_points(fmt).map(to_dtype)]
           if not (isinstance(fmt, FloatFormat) and _first_distinct_mag(fmt) >= fmt.max_code) else []),
        st.floats(-top, top, width=width).map(scalar),
    )

    def step(pair: tuple[np.floating, int]) -> np.floating:
        v, k = pair
        toward = scalar(math.inf if k > 0 else -math.inf)
        with np.errstate(all="ignore"):
            for _ in range(abs(k)):
                v = np.nextafter(v, toward)
        return scalar(v)

    return st.one_of(
        base,
        st.tuples(base, st.sampled_from([1, -1, 2, -2])).map(step),
        st.floats(width=width, allow_nan=True, allow_infinity=True, allow_subnormal=True).map(scalar),
    )


def rounding_modes(deterministic_only: bool = False) -> st.SearchStrategy[RoundingMode]:
    """Rounding modes, shrinking towards ``nearest_even``.

    Args:
        deterministic_only: leave out the three stochastic modes.

    Examples:
        >>> from hypothesis import given, settings
        >>> import numpy as np, lpemu
        >>> @given(rounding_modes(deterministic_only=True))
        ... @settings(max_examples=20, deadline=None)
        ... def test_values_are_fixed_points(mode):
        ...     v = np.array([0.5, -3.0], np.float32)
        ...     assert (lpemu.quantize(v, "e2m1", mode) == v).all()
        >>> test_values_are_fixed_points()
    """
    return st.sampled_from(_DETERMINISTIC if deterministic_only else tuple(RoundingMode))


# =============================================================================================
# The checker
# =============================================================================================
class Mismatch(NamedTuple):
    """One input on which the checked function and :func:`lpemu.quantize` differ."""

    #: The input, a scalar of the checked dtype.
    x: np.floating
    #: What :func:`lpemu.quantize` gives.
    expected: np.floating
    #: What the checked function gave.
    actual: np.floating

    def __str__(self) -> str:
        return f"x = {_show(self.x)}: expected {_show(self.expected)}, got {_show(self.actual)}"


def _show(v: np.floating) -> str:
    """``repr``-style value with its bit pattern, e.g. ``0.0009765625 (0x3a800000)``."""
    v = v if isinstance(v, np.floating) else np.float64(v)
    itype = {2: np.uint16, 4: np.uint32, 8: np.uint64}.get(v.dtype.itemsize)
    bits = f" (0x{int(np.asarray(v).view(itype)):0{2 * v.dtype.itemsize}x})" if itype else ""
    return f"{float(v)!r}{bits}"


class RoundingCheckError(AssertionError):
    """Raised by :meth:`CheckResult.raise_if_failed` when the checked rounding differs from lpemu."""


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_rounding`; true when nothing differed.

    Examples:
        >>> import numpy as np
        >>> r = check_rounding(lambda x: x, "e2m1", max_examples=20)
        >>> bool(r), r.mismatches > 0, r.counterexample
        (False, True, Mismatch(x=np.float32(1e-45), expected=np.float32(0.0), actual=np.float32(1e-45)))
    """

    #: The format checked against.
    fmt: Format
    #: The rounding mode.
    rounding: RoundingMode
    #: The overflow policy (the format's default resolved).
    overflow: Overflow
    #: The input dtype.
    dtype: np.dtype
    #: Whether every bit pattern of the dtype was checked.
    exhaustive: bool
    #: Number of distinct inputs (bit patterns) compared.
    checked: int
    #: How many of them differed.
    mismatches: int
    #: Up to 10 differing inputs, smallest ``|x|`` first (NaN inputs last, + before -).
    examples: tuple[Mismatch, ...]
    #: Wall-clock time of the check in seconds.
    seconds: float

    @property
    def passed(self) -> bool:
        """True when no input differed."""
        return self.mismatches == 0

    @property
    def counterexample(self) -> Mismatch | None:
        """The differing input of smallest magnitude, or None when the check passed."""
        return self.examples[0] if self.examples else None

    def __bool__(self) -> bool:
        return self.passed

    def _header(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        how = "exhaustive " if self.exhaustive else ""
        return (f"{verdict} {self.fmt.name} {self.rounding.value} overflow={self.overflow.value} "
                f"{self.dtype}: {self.mismatches:,} of {self.checked:,} {how}inputs differ")

    def __repr__(self) -> str:
        tail = f"; smallest {self.counterexample}" if self.counterexample else ""
        return f"CheckResult({self._header()}{tail})"

    def report(self) -> str:
        """A multi-line description: the verdict, then each kept mismatch."""
        lines = [self._header() + f" ({self.seconds:.1f} s)"]
        lines += [f"  {m}" for m in self.examples]
        return "\n".join(lines)

    def raise_if_failed(self) -> CheckResult:
        """Raise :class:`RoundingCheckError` (an ``AssertionError``) listing the smallest mismatches.

        Returns:
            ``self`` when the check passed, so calls can be chained.
        """
        if not self.passed:
            raise RoundingCheckError(self.report())
        return self


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise equality of values: -0 != +0, any NaN equals any NaN (payload and sign ignored)."""
    if a.dtype == b.dtype and a.dtype in (np.float32, np.float64):  # bit patterns: fewer passes
        itype = np.uint32 if a.dtype == np.float32 else np.uint64
        return (a.view(itype) == b.view(itype)) | (np.isnan(a) & np.isnan(b))
    return ((a == b) & (np.signbit(a) == np.signbit(b))) | (np.isnan(a) & np.isnan(b))


def _order(x: np.ndarray) -> np.ndarray:
    """Indices sorting inputs smallest ``|x|`` first, + before -, NaNs last."""
    mag = np.abs(x.astype(np.float64))
    nan = np.isnan(mag)
    return np.lexsort((np.signbit(x), np.where(nan, 0.0, mag), nan))


class _Comparer:
    """Runs ``fn`` and lpemu on arrays and collects the differing inputs."""

    def __init__(self, fn: Callable[[np.ndarray], Any], fmt: Format, mode: RoundingMode,
                 overflow: Overflow, dtype: np.dtype) -> None:
        self.fn, self.fmt, self.mode, self.overflow, self.dtype = fn, fmt, mode, overflow, dtype
        self.itype = np.dtype(np.uint32 if dtype == np.float32 else np.uint64)
        self.kept: list[Mismatch] = []
        self.count = 0
        self._buf: np.ndarray | None = None

    def _actual(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # casts of the Inf/NaN/overflow inputs warn by design
            y = np.asarray(self.fn(x.copy()))
        if y.shape != x.shape:
            raise InvalidArgumentError(
                f"check_rounding: fn must return an array of the input's shape {x.shape}, got shape {y.shape}")
        if y.dtype.kind != "f":
            if y.dtype.kind == "V" and y.dtype.name.startswith(("float", "bfloat")):  # ml_dtypes
                y = y.astype(np.float64)
            else:
                raise InvalidArgumentError(f"check_rounding: fn must return a float array, got {y.dtype}")
        return y

    def compare(self, x: np.ndarray) -> np.ndarray:
        """The mask of inputs where ``fn`` differs; records the mismatches."""
        if self._buf is None or self._buf.shape != x.shape:
            self._buf = np.empty_like(x)
        expected = quantize(x, self.fmt, self.mode, self.overflow, out=self._buf)
        actual = self._actual(x)
        bad = ~_same(expected, actual)
        n = int(bad.sum())
        if n:
            self.count += n
            idx = np.flatnonzero(bad)
            idx = idx[_order(x[idx])[:_KEEP]]
            new = [Mismatch(x[i], expected[i], actual[i]) for i in idx]
            self._merge(new)
        return bad

    def _merge(self, new: list[Mismatch]) -> None:
        seen: set[int] = set()
        allm = []
        for m in self.kept + new:  # distinct inputs only
            b = int(np.asarray(m.x).view(self.itype))
            if b not in seen:
                seen.add(b)
                allm.append(m)
        xs = np.array([m.x for m in allm], dtype=self.dtype)
        self.kept = [allm[i] for i in _order(xs)[:_KEEP]]


def _systematic_inputs(fmt: Format, dtype: np.dtype) -> np.ndarray:
    """Every code's value (a seeded sample of 2^16 codes for wider formats), every midpoint,
    the boundaries, each moved by up to two ``nextafter`` steps, +-0, +-Inf, NaNs; distinct."""
    rng = np.random.default_rng(0x1B3E)
    if fmt.bits <= _ALL_CODES_BITS:
        vals = fmt.values()
    elif isinstance(fmt, FixedFormat):
        k = rng.integers(fmt.min_int, fmt.max_int, 1 << _ALL_CODES_BITS, endpoint=True)
        vals = np.ldexp(k.astype(np.float64), -fmt.frac_bits)
    else:
        codes = rng.integers(0, fmt.num_codes, 1 << _ALL_CODES_BITS, dtype=np.uint64)
        vals = np.array([fmt.code_value(int(c)) for c in codes], np.float64)
    mags = np.unique(np.abs(vals[np.isfinite(vals)]))
    lo, hi = mags[:-1], mags[1:]
    with np.errstate(over="ignore"):
        mids = (lo + hi) / 2  # exact for every format a float32 holds
    top = ~np.isfinite(mids)  # near the float64 limit: a + (b - a) / 2 cannot overflow
    mids[top] = lo[top] + (hi[top] - lo[top]) / 2
    pos = np.concatenate([mags, mids, np.array(_boundaries(fmt, dtype), np.float64)])
    base = _cast(np.concatenate([pos, -pos]), dtype)
    inf = np.array(np.inf, dtype)
    with np.errstate(all="ignore"):
        up1, dn1 = np.nextafter(base, inf), np.nextafter(base, -inf)
        up2, dn2 = np.nextafter(up1, inf), np.nextafter(dn1, -inf)
    itype = np.uint32 if dtype == np.float32 else np.uint64
    qnan = np.array(np.nan, dtype).view(itype)
    sign = np.array(-0.0, dtype).view(itype)
    nans = np.array([qnan, qnan | sign, qnan + 1, (qnan | sign) + 1], itype).view(dtype)
    specials = np.array([0.0, -0.0, np.inf, -np.inf], dtype)
    allx = np.concatenate([base, up1, dn1, up2, dn2, specials, nans])
    return np.unique(allx.view(itype)).view(dtype)


def _hypothesis_phase(comparer: _Comparer, fmt: Format, dtype: np.dtype, max_examples: int,
                      seed: int) -> dict[int, bool]:
    """Hypothesis-drawn lists of inputs; on a mismatch, hypothesis shrinks to a minimal one.

    Calling ``fn`` once per example is slow (lpemu's parallel loop has a launch cost), so the
    examples are first generated without looking at them and compared in one batch; only when
    some differ does a second search replay them (answered from the batch) and shrink.
    Returns ``{input bit pattern: whether it differed}`` for every distinct input compared.
    """
    itype = comparer.itype
    strategy = st.lists(interesting_floats(fmt, dtype), min_size=1, max_size=16)
    conf = Settings(max_examples=max_examples, derandomize=False, deadline=None, database=None,
                    phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    drawn: list[np.ndarray] = []

    def collect(xs: list) -> bool:
        drawn.append(np.array(xs, dtype))
        return False

    try:
        find(strategy, collect, settings=conf, random=random.Random(seed))
    except NoSuchExample:
        pass
    if not drawn:
        return {}
    batch = np.unique(np.concatenate(drawn).view(itype))
    bad = comparer.compare(batch.view(dtype))
    verdict = dict(zip(batch.tolist(), bad.tolist()))
    if not bad.any():
        return verdict

    def differs(xs: list) -> bool:
        bits = np.array(xs, dtype).view(itype)
        new = np.unique(bits[[b not in verdict for b in bits.tolist()]]) if bits.size else bits
        if new.size:
            verdict.update(zip(new.tolist(), comparer.compare(new.view(dtype)).tolist()))
        return any(verdict[b] for b in bits.tolist())

    try:
        find(strategy, differs, settings=conf, random=random.Random(seed))
    except NoSuchExample:  # the replay drew other examples; the batch's mismatches stand
        pass
    return verdict


def _check_bit_range(comparer: _Comparer, start: int, stop: int, chunk: int = EXHAUSTIVE_CHUNK) -> int:
    """Compare every float32 bit pattern in ``[start, stop)``; returns how many were compared."""
    for lo in range(start, stop, chunk):
        hi = min(lo + chunk, stop)
        comparer.compare(np.arange(lo, hi, dtype=np.uint64).astype(np.uint32).view(np.float32))
    return stop - start


def check_rounding(
    fn: Callable[[np.ndarray], Any],
    fmt: Format | str,
    rounding: str | RoundingMode = "nearest_even",
    overflow: str | Overflow | None = None,
    *,
    exhaustive: bool = False,
    max_examples: int = 2000,
    dtype: Any = np.float32,
    seed: int = 0,
) -> CheckResult:
    """Compare a rounding function with :func:`lpemu.quantize` bit for bit and report the differences.

    ``fn(x)`` receives a 1-D numpy array of ``dtype`` and must return the rounded values as an
    array of the same shape: a float array of any width (compared by value, so a float64 result
    for float32 input is fine) or an ml_dtypes array (``x.astype(ml_dtypes.float8_e4m3fn)``).
    A result is correct when it equals ``lpemu.quantize(x, fmt, rounding, overflow)``: the same
    value, the same sign of zero (+0 and -0 differ), and NaN where lpemu gives NaN (any payload
    and sign). Formats without NaN map NaN inputs to zero (lpemu's ``nan="zero"``, as ml_dtypes).
    ``fn`` runs under ``np.errstate(all="ignore")``: the inputs include Inf, NaN and overflowing
    values on purpose, and numpy's cast warnings about them are not failures.

    Without ``exhaustive`` the inputs are: every value of the format (a seeded sample of 2^16
    codes for formats wider than 16 bits), every midpoint between neighbours, the subnormal and
    overflow boundaries, each of them moved by one and two ``nextafter`` steps, +-0, +-Inf and
    NaNs, all in one call of ``fn``; then ``max_examples`` hypothesis-drawn lists of
    :func:`interesting_floats`, which hypothesis shrinks to a minimal failing input when one
    differs. About 10^4 inputs for an 8-bit format, 10^6 for a 16-bit one; a second or two for
    a numpy-speed ``fn``.

    With ``exhaustive=True`` (float32 only) every one of the 2^32 float32 bit patterns is checked,
    in chunks of 2^22 elements (:data:`EXHAUSTIVE_CHUNK`). Measured on a shared 2-core machine:
    about 1 minute for an ml_dtypes round trip or XLA ``reduce_precision`` and up to 2 minutes for
    a jitted JAX ``astype`` round trip (lpemu's side runs at about 1000 M elements/s; ``fn``'s
    speed and the comparison dominate).

    Args:
        fn: the rounding to check, vectorised over a numpy array.
        fmt: the format (object or name, e.g. ``"e4m3"``).
        rounding: a deterministic rounding mode (stochastic results depend on lpemu's random bits
            and cannot be compared element by element; compare their statistics instead).
        overflow: ``"infinity"``, ``"saturate"``, ``"propagate"`` or None for the format's default
            (``lpemu.quantize``'s ``overflow``).
        exhaustive: check all 2^32 float32 inputs.
        max_examples: hypothesis examples (lists of up to 16 inputs) after the systematic inputs;
            0 for the systematic inputs only.
        dtype: the input dtype, ``np.float32`` (default) or ``np.float64``.
        seed: seed of the hypothesis search (the result is reproducible for a given seed).

    Returns:
        A :class:`CheckResult`: ``checked`` distinct inputs, ``mismatches`` of them differing,
        ``counterexample`` the differing input of smallest ``|x|``; true when all agreed.

    Raises:
        InvalidArgumentError: a stochastic mode, ``exhaustive`` with float64, a bad argument, or
            ``fn`` returning the wrong shape or a non-float array.
        UnsupportedContainerError: ``fmt`` cannot be emulated exactly in ``dtype``.

    Examples:
        A cast that rounds ties away from zero instead of to even; the smallest input where it
        differs is the tie between 0 and the smallest subnormal 2^-9:

        >>> import numpy as np, lpemu
        >>> ties_away = lambda x: lpemu.quantize(x, "e4m3", "nearest_away")
        >>> r = check_rounding(ties_away, "e4m3", max_examples=0)
        >>> r.passed, r.mismatches, r.checked
        (False, 128, 2600)
        >>> print(r.counterexample)
        x = 0.0009765625 (0x3a800000): expected 0.0 (0x00000000), got 0.001953125 (0x3b000000)
        >>> r.raise_if_failed()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        lpemu.testing.RoundingCheckError: FAIL float8_e4m3fn nearest_even overflow=infinity float32: 128 of 2,600 inputs differ (... s)
          x = 0.0009765625 (0x3a800000): expected 0.0 (0x00000000), got 0.001953125 (0x3b000000)
          x = -0.0009765625 (0xba800000): expected -0.0 (0x80000000), got -0.001953125 (0xbb000000)
        ...
    """
    fmt = lookup(fmt)
    mode = rounding_mode(rounding)
    if mode.is_stochastic:
        raise InvalidArgumentError(
            f"check_rounding compares deterministic modes only, got {mode.value!r} (stochastic results depend "
            "on lpemu's random bits; compare their statistics instead)")
    dtype = np.dtype(dtype)
    check_fits(fmt, dtype)
    policy = resolve_overflow(fmt, overflow)
    max_examples = check_int("check_rounding max_examples", max_examples, 0, 10**7)
    seed = check_int("check_rounding seed", seed, 0, 2**64 - 1)
    if not callable(fn):
        raise InvalidArgumentError(f"check_rounding: fn must be callable, got {fn!r}")
    if exhaustive and dtype != np.float32:
        raise InvalidArgumentError(f"check_rounding: exhaustive=True needs dtype float32 (2^32 inputs), got {dtype}")

    t0 = time.perf_counter()
    comparer = _Comparer(fn, fmt, mode, policy, dtype)
    if exhaustive:
        checked = _check_bit_range(comparer, 0, 1 << 32)
        mismatches = comparer.count
    else:
        systematic = _systematic_inputs(fmt, dtype)
        bad = comparer.compare(systematic)
        sys_bits = systematic.view(comparer.itype)
        verdict = _hypothesis_phase(comparer, fmt, dtype, max_examples, seed) if max_examples else {}
        extra = np.array(list(verdict), comparer.itype)
        extra_bad = np.array(list(verdict.values()), bool)
        new = ~np.isin(extra, sys_bits)
        checked = sys_bits.size + int(new.sum())
        mismatches = int(bad.sum()) + int((extra_bad & new).sum())
    return CheckResult(fmt=fmt, rounding=mode, overflow=policy, dtype=dtype, exhaustive=exhaustive,
                       checked=checked, mismatches=mismatches, examples=tuple(comparer.kept),
                       seconds=time.perf_counter() - t0)

