"""Format descriptors: minifloats (:class:`FloatFormat`), integers and fixed point.

A descriptor is an immutable, hashable value object. It knows its encoding (which codes
are zero, subnormal, normal, infinite or NaN) and derived properties, but does no array
work: rounding lives in the kernels, the exact definition in :mod:`lpemu.reference`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from fractions import Fraction

import numpy as np

from .errors import InvalidFormatError, check_int

__all__ = ["Specials", "FloatFormat", "FixedFormat", "IntFormat", "Format"]


class Specials(str, Enum):
    """Which codes of a float format are infinities and NaNs (the format's *family*)."""

    #: IEEE 754: exponent all ones is Inf (mantissa 0) or NaN; has -0. fp16, bf16, OCP E5M2.
    IEEE = "ieee"
    #: OCP "fn" (finite): no Inf, the single code s.1..1.1..1 per sign is NaN; has -0. OCP E4M3.
    FN = "fn"
    #: "fnuz": no Inf, the single NaN is the negative-zero code 1000..0; no -0.
    FNUZ = "fnuz"
    #: IEEE P3109: one NaN (0x80 signed, all ones unsigned), no -0, Inf optional (``infinities``).
    P3109 = "p3109"
    #: No special values at all: every code is a finite number (OCP FP6, FP4).
    NONE = "none"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class FloatFormat:
    """A binary floating-point format with ``exp_bits`` exponent and ``man_bits`` mantissa bits.

    The value of a code ``s | e | m`` is ``(-1)^s * (1 + m / 2^M) * 2^(e - bias)`` for ``e > 0``
    and ``(-1)^s * m * 2^(1 - bias - M)`` for ``e = 0`` (subnormals; flushed to zero when
    ``subnormals=False``). Which codes are Inf and NaN is set by ``specials``.

    Args:
        exp_bits: exponent field width, 1..11.
        man_bits: stored mantissa (trailing significand) width, 0..52.
        bias: exponent bias; default ``2^(exp_bits-1) - 1``.
        signed: whether the format has a sign bit.
        subnormals: whether codes with a zero exponent field are subnormals (else they are zero).
        specials: the encoding family, a :class:`Specials` or its name.
        infinities: P3109 only: extended domain with +-Inf (default True).
        zero: False for exponent-only scale formats (OCP E8M0) whose code 0 is ``2^-bias``.
        name: display and lookup name.

    Raises:
        InvalidFormatError: a field is out of its allowed range or the combination has no
            finite values.

    Examples:
        >>> f = FloatFormat(4, 3, specials="fn", name="e4m3")
        >>> f.max, f.min_normal, f.min_subnormal
        (448.0, 0.015625, 0.001953125)
        >>> FloatFormat(5, 2).max
        57344.0
    """

    #: Exponent field width in bits.
    exp_bits: int
    #: Stored mantissa width in bits (precision is ``man_bits + 1``).
    man_bits: int
    #: Exponent bias (``None`` in the constructor means the IEEE default).
    bias: int = None  # type: ignore[assignment]
    #: Whether a sign bit exists.
    signed: bool = True
    #: Whether the format has subnormal numbers.
    subnormals: bool = True
    #: Encoding family for Inf and NaN.
    specials: Specials = Specials.IEEE
    #: P3109 extended domain (has +-Inf). Derived from ``specials`` for other families.
    infinities: bool = None  # type: ignore[assignment]
    #: False when code 0 is the smallest power of two instead of zero (E8M0).
    zero: bool = True
    #: Display and lookup name.
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        err = InvalidFormatError
        set_ = object.__setattr__
        set_(self, "exp_bits", check_int("FloatFormat.exp_bits", self.exp_bits, 1, 11, err))
        set_(self, "man_bits", check_int("FloatFormat.man_bits", self.man_bits, 0, 52, err))
        try:
            specials = Specials(self.specials)
        except ValueError:
            allowed = ", ".join(s.value for s in Specials)
            raise err(f"FloatFormat.specials must be one of {allowed}; got {self.specials!r}") from None
        set_(self, "specials", specials)
        for flag in ("signed", "subnormals", "zero"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise err(f"FloatFormat.{flag} must be a bool, got {getattr(self, flag)!r}")
            set_(self, flag, bool(getattr(self, flag)))
        if self.bias is None:
            set_(self, "bias", 2 ** (self.exp_bits - 1) - 1)
        set_(self, "bias", check_int("FloatFormat.bias", self.bias, -1100, 1100, err))
        if self.infinities is None:
            set_(self, "infinities", specials in (Specials.IEEE, Specials.P3109))
        elif specials is Specials.IEEE and not self.infinities:
            raise err("FloatFormat.infinities must be True for specials='ieee' (use 'fn' for no Inf)")
        elif specials not in (Specials.IEEE, Specials.P3109) and self.infinities:
            raise err(f"FloatFormat.infinities=True needs specials 'ieee' or 'p3109', got {specials.value!r}")
        set_(self, "infinities", bool(self.infinities))
        if specials is Specials.IEEE and self.man_bits == 0:
            raise err("FloatFormat.man_bits must be >= 1 for specials='ieee' (NaN needs a mantissa bit)")
        if specials is Specials.FNUZ and not self.signed:
            raise err("specials='fnuz' needs a sign bit (its NaN is the negative-zero code)")
        if not self.zero and (self.subnormals and self.man_bits > 0):
            raise err("FloatFormat.zero=False (exponent-only scale) needs subnormals=False or man_bits=0")
        if not self.zero:
            set_(self, "subnormals", False)
            if specials is Specials.NONE:
                raise err("FloatFormat.zero=False needs a NaN (specials 'fn', 'ieee' or 'p3109'): zero inputs become NaN")
        if self._max_mag_code() < 1:
            raise err(f"FloatFormat({self.exp_bits}, {self.man_bits}, specials={specials.value!r}) has no finite non-zero value")
        if self.emin - self.man_bits < -1100 or self.emax > 1100:
            raise err("FloatFormat.bias puts the exponent range outside [-1100, 1100]")
        if not self.name:
            set_(self, "name", self._default_name())

    # ---- encoding -------------------------------------------------------------------
    @property
    def bits(self) -> int:
        """Total width of a code in bits."""
        return int(self.signed) + self.exp_bits + self.man_bits

    @property
    def precision(self) -> int:
        """Significand precision p, counting the implicit bit."""
        return self.man_bits + 1

    @property
    def mag_bits(self) -> int:
        """Width of the magnitude field (exponent and mantissa)."""
        return self.exp_bits + self.man_bits

    @property
    def sign_mask(self) -> int:
        """The sign bit of a code (0 for unsigned formats)."""
        return (1 << self.mag_bits) if self.signed else 0

    def _max_mag_code(self) -> int:
        ones = (1 << self.mag_bits) - 1
        s = self.specials
        if s is Specials.IEEE:
            return ((1 << self.exp_bits) - 1 << self.man_bits) - 1
        if s is Specials.FN:
            return ones - 1
        if s is Specials.P3109:
            if self.signed:
                return ones - int(self.infinities)
            return ones - 1 - int(self.infinities)
        return ones  # FNUZ, NONE

    @property
    def max_code(self) -> int:
        """Code of the largest finite value."""
        return self._max_mag_code()

    @property
    def inf_code(self) -> int | None:
        """Code of +Inf, or None."""
        if not self.infinities:
            return None
        if self.specials is Specials.IEEE:
            return (1 << self.exp_bits) - 1 << self.man_bits
        return self.max_code + 1

    @property
    def nan_code(self) -> int | None:
        """Code of the canonical (positive, quiet) NaN, or None if the format has no NaN."""
        s = self.specials
        if s is Specials.IEEE:
            return self.inf_code | (1 << (self.man_bits - 1))  # type: ignore[operator]
        if s is Specials.FN:
            return (1 << self.mag_bits) - 1
        if s is Specials.FNUZ or (s is Specials.P3109 and self.signed):
            return 1 << self.mag_bits
        if s is Specials.P3109:
            return (1 << self.mag_bits) - 1
        return None

    @property
    def has_nan(self) -> bool:
        """Whether some code is NaN."""
        return self.nan_code is not None

    @property
    def has_negative_zero(self) -> bool:
        """Whether -0 is a distinct code."""
        return self.signed and self.zero and self.specials in (Specials.IEEE, Specials.FN, Specials.NONE)

    def is_nan_code(self, code: int) -> bool:
        """Whether ``code`` decodes to NaN."""
        code = int(code)
        s = self.specials
        mag = code & ((1 << self.mag_bits) - 1)
        if s is Specials.IEEE:
            return mag > self.inf_code  # type: ignore[operator]
        if s is Specials.FN:
            return mag == (1 << self.mag_bits) - 1
        if s is Specials.NONE:
            return False
        return code == self.nan_code

    # ---- exponent range and values --------------------------------------------------
    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number."""
        return (1 if self.zero else 0) - self.bias

    @property
    def emax(self) -> int:
        """Exponent of the largest finite number."""
        return (self.max_code >> self.man_bits) - self.bias

    def _mag_value(self, mag: int) -> Fraction:
        e, m = mag >> self.man_bits, mag & ((1 << self.man_bits) - 1)
        if e == 0 and self.zero:
            if not self.subnormals:
                return Fraction(0)
            return Fraction(m) * Fraction(2) ** (self.emin - self.man_bits)
        return Fraction((1 << self.man_bits) + m) * Fraction(2) ** (e - self.bias - self.man_bits)

    @property
    def max(self) -> float:
        """Largest finite value."""
        return float(self._mag_value(self.max_code))

    @property
    def min_normal(self) -> float:
        """Smallest positive normal value (``2^emin``)."""
        return math.ldexp(1.0, self.emin)

    @property
    def min_subnormal(self) -> float:
        """Smallest positive value (equal to ``min_normal`` without subnormals)."""
        if not self.subnormals or self.man_bits == 0:
            return self.min_normal
        return math.ldexp(1.0, self.emin - self.man_bits)

    @property
    def eps(self) -> float:
        """Distance from 1.0 to the next larger value, ``2^-man_bits``."""
        return math.ldexp(1.0, -self.man_bits)

    @property
    def num_codes(self) -> int:
        """Number of codes, ``2^bits``."""
        return 1 << self.bits

    @property
    def num_finite(self) -> int:
        """Number of codes that decode to a finite value (both zeros counted when -0 exists)."""
        per_sign = self.max_code + 1
        if not self.signed:
            return per_sign
        return 2 * per_sign - (0 if self.has_negative_zero or not self.zero else 1)

    def code_value(self, code: int) -> float:
        """The value of one code as a Python float (NaN, +-Inf included).

        Examples:
            >>> FloatFormat(2, 1, specials="none").code_value(0b0111)
            6.0
        """
        code = int(code)
        if not 0 <= code < self.num_codes:
            raise InvalidFormatError(f"code must be in [0, {self.num_codes - 1}] for {self.name}, got {code}")
        if self.is_nan_code(code):
            return math.nan
        neg = bool(code & self.sign_mask)
        mag = code & ((1 << self.mag_bits) - 1)
        if mag == self.inf_code:
            return -math.inf if neg else math.inf
        v = float(self._mag_value(mag))
        if v == 0 and not self.has_negative_zero:
            return 0.0  # fnuz/P3109 without subnormals: sign-bit codes of flushed subnormals are +0
        return -v if neg else v

    def values(self) -> np.ndarray:
        """Every code's value in code order, as float64 (NaN and +-Inf where they are).

        Examples:
            >>> FloatFormat(2, 1, specials="none", signed=False).values()
            array([0. , 0.5, 1. , 1.5, 2. , 3. , 4. , 6. ])
        """
        if self.bits > 20:
            raise InvalidFormatError(f"values() lists at most 2^20 codes; {self.name} has 2^{self.bits}")
        return np.array([self.code_value(c) for c in range(self.num_codes)], dtype=np.float64)

    # ---- display --------------------------------------------------------------------
    def _default_name(self) -> str:
        name = f"e{self.exp_bits}m{self.man_bits}"
        if self.bias != 2 ** (self.exp_bits - 1) - 1:
            name += f"b{self.bias}"
        suffix = {Specials.IEEE: "", Specials.FN: "fn", Specials.FNUZ: "fnuz",
                  Specials.NONE: "fn", Specials.P3109: "p3109"}[self.specials]
        if self.specials is Specials.P3109:
            suffix += "e" if self.infinities else "f"
        if not self.signed:
            suffix += "u"
        if not self.subnormals and self.zero:
            suffix += "_nosub"
        return name + suffix

    def summary(self) -> dict[str, object]:
        """The descriptor's properties as a dict (used by ``lpemu formats`` and ``info``)."""
        return {
            "name": self.name, "bits": self.bits, "exp_bits": self.exp_bits, "man_bits": self.man_bits,
            "bias": self.bias, "specials": self.specials.value, "infinities": self.infinities,
            "nan": self.has_nan, "subnormals": self.subnormals, "signed": self.signed,
            "emin": self.emin, "emax": self.emax, "max": self.max, "min_normal": self.min_normal,
            "min_subnormal": self.min_subnormal, "eps": self.eps, "num_finite": self.num_finite,
        }

    def __repr__(self) -> str:
        extra = []
        if self.bias != 2 ** (self.exp_bits - 1) - 1:
            extra.append(f"bias={self.bias}")
        if not self.signed:
            extra.append("signed=False")
        if not self.subnormals and self.zero:
            extra.append("subnormals=False")
        if self.specials is not Specials.IEEE:
            extra.append(f"specials={self.specials.value!r}")
        if self.specials is Specials.P3109 and not self.infinities:
            extra.append("infinities=False")
        if not self.zero:
            extra.append("zero=False")
        args = ", ".join([str(self.exp_bits), str(self.man_bits)] + extra)
        return f"FloatFormat({args}, name={self.name!r})"

    def __rich__(self) -> object:
        from ._display import format_table

        return format_table([self])


@dataclass(frozen=True)
class FixedFormat:
    """A two's-complement (or unsigned) fixed-point format: integers times ``2^-frac_bits``.

    ``int_bits`` excludes the sign bit (ARM Qm.n convention): a signed format has
    ``1 + int_bits + frac_bits`` bits and represents ``k * 2^-frac_bits`` for integers
    ``-2^(bits-1) <= k < 2^(bits-1)``; an unsigned one ``0 <= k < 2^bits``.

    Args:
        int_bits: integer bits excluding the sign, >= 0.
        frac_bits: fractional bits, may be negative for coarse grids (-64..128).
        signed: two's complement when True.
        name: display name.

    Examples:
        >>> q = FixedFormat(3, 4)
        >>> q.bits, q.max, q.min
        (8, 7.9375, -8.0)
    """

    #: Integer bits, not counting the sign bit.
    int_bits: int
    #: Fractional bits (the quantum is ``2^-frac_bits``).
    frac_bits: int
    #: Two's complement when True, unsigned otherwise.
    signed: bool = True
    #: Display name.
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        err = InvalidFormatError
        cls = type(self).__name__
        object.__setattr__(self, "int_bits", check_int(f"{cls}.int_bits", self.int_bits, -128, 64, err))
        object.__setattr__(self, "frac_bits", check_int(f"{cls}.frac_bits", self.frac_bits, -64, 128, err))
        if not isinstance(self.signed, (bool, np.bool_)):
            raise err(f"{cls}.signed must be a bool, got {self.signed!r}")
        object.__setattr__(self, "signed", bool(self.signed))
        if not 1 <= self.bits <= 64:
            raise err(f"{cls} width (sign + int_bits + frac_bits) must be in [1, 64], got {self.bits}")
        if not self.name:
            object.__setattr__(self, "name", self._default_name())

    def _default_name(self) -> str:
        return f"{'q' if self.signed else 'uq'}{self.int_bits}.{self.frac_bits}"

    @property
    def bits(self) -> int:
        """Total width in bits."""
        return int(self.signed) + self.int_bits + self.frac_bits

    @property
    def max_int(self) -> int:
        """Largest integer code value k."""
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def min_int(self) -> int:
        """Smallest integer code value k."""
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def quantum(self) -> float:
        """Spacing of the grid, ``2^-frac_bits``."""
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def max(self) -> float:
        """Largest value."""
        return math.ldexp(float(self.max_int), -self.frac_bits)

    @property
    def min(self) -> float:
        """Smallest (most negative) value."""
        return math.ldexp(float(self.min_int), -self.frac_bits)

    @property
    def num_codes(self) -> int:
        """Number of codes, ``2^bits``."""
        return 1 << self.bits

    @property
    def num_finite(self) -> int:
        """Number of values (every code is finite)."""
        return self.num_codes

    @property
    def has_nan(self) -> bool:
        """Integers have no NaN."""
        return False

    @property
    def infinities(self) -> bool:
        """Integers have no Inf."""
        return False

    def code_value(self, code: int) -> float:
        """Value of a two's-complement code."""
        code = int(code)
        if not 0 <= code < self.num_codes:
            raise InvalidFormatError(f"code must be in [0, {self.num_codes - 1}] for {self.name}, got {code}")
        if self.signed and code >= 1 << (self.bits - 1):
            code -= 1 << self.bits
        return math.ldexp(float(code), -self.frac_bits)

    def values(self) -> np.ndarray:
        """Every code's value in code order (two's complement order for signed formats)."""
        if self.bits > 20:
            raise InvalidFormatError(f"values() lists at most 2^20 codes; {self.name} has 2^{self.bits}")
        k = np.arange(self.num_codes, dtype=np.int64)
        if self.signed:
            k = np.where(k >= 1 << (self.bits - 1), k - (1 << self.bits), k)
        return np.ldexp(k.astype(np.float64), -self.frac_bits)

    def summary(self) -> dict[str, object]:
        """The descriptor's properties as a dict."""
        return {"name": self.name, "bits": self.bits, "int_bits": self.int_bits, "frac_bits": self.frac_bits,
                "signed": self.signed, "max": self.max, "min": self.min, "quantum": self.quantum,
                "num_finite": self.num_finite}

    def __repr__(self) -> str:
        s = "" if self.signed else ", signed=False"
        return f"FixedFormat({self.int_bits}, {self.frac_bits}{s}, name={self.name!r})"


class IntFormat(FixedFormat):
    """A ``bits``-wide integer: two's complement when signed.

    Examples:
        >>> IntFormat(8).min, IntFormat(8).max, IntFormat(4, signed=False).max
        (-128.0, 127.0, 15.0)
    """

    def __init__(self, bits: int, signed: bool = True, name: str = "") -> None:
        b = check_int("IntFormat.bits", bits, 1, 64, InvalidFormatError)
        super().__init__(b - 1 if signed else b, 0, signed, name)

    def _default_name(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    def __repr__(self) -> str:
        s = "" if self.signed else ", signed=False"
        return f"IntFormat({self.bits}{s})"

    def __reduce__(self):  # dataclass pickling goes through __init__'s signature
        return (IntFormat, (self.bits, self.signed, self.name))


Format = FloatFormat | FixedFormat
