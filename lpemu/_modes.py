"""Rounding modes and overflow policies.

The members carry the string names that every lpemu function accepts; the integer
``code`` of each member is what the kernels switch on.
"""

from __future__ import annotations

from enum import Enum

from .errors import InvalidArgumentError

__all__ = ["RoundingMode", "Overflow", "rounding_mode", "overflow_policy"]


class RoundingMode(str, Enum):
    """How a value between two neighbours of a format is rounded.

    Stochastic modes follow the P3109 definitions with ``n = sr_bits`` uniform random bits
    ``r`` and the discarded fraction ``nu`` in [0, 1) of one unit in the last place.
    """

    #: IEEE 754 roundTiesToEven / P3109 NearestTiesToEven.
    NEAREST_EVEN = "nearest_even"
    #: IEEE 754 roundTiesToAway / P3109 NearestTiesToAway.
    NEAREST_AWAY = "nearest_away"
    #: IEEE 754 roundTowardZero / P3109 TowardZero.
    TOWARD_ZERO = "toward_zero"
    #: IEEE 754 roundTowardPositive / P3109 TowardPositive.
    UP = "up"
    #: IEEE 754 roundTowardNegative / P3109 TowardNegative.
    DOWN = "down"
    #: P3109 ToOdd: truncate, then set the last kept bit if anything non-zero was discarded.
    ODD = "odd"
    #: P3109 StochasticA: away from zero iff floor(nu * 2^n) + r >= 2^n (gfloat StochasticFastest).
    STOCHASTIC = "stochastic"
    #: P3109 StochasticB: away iff floor(nu * 2^(n+1)) + 2r + 1 >= 2^(n+1) (gfloat StochasticFast).
    STOCHASTIC_B = "stochastic_b"
    #: P3109 StochasticC: away iff RNE(nu * 2^n) + r >= 2^n (gfloat Stochastic).
    STOCHASTIC_C = "stochastic_c"

    @property
    def code(self) -> int:
        """Integer used by the kernels."""
        return _MODE_CODES[self]

    @property
    def is_stochastic(self) -> bool:
        """True for the three stochastic modes."""
        return self in (RoundingMode.STOCHASTIC, RoundingMode.STOCHASTIC_B, RoundingMode.STOCHASTIC_C)

    def __str__(self) -> str:
        return self.value


_MODE_CODES = {m: i for i, m in enumerate(RoundingMode)}

_MODE_ALIASES = {
    "rne": RoundingMode.NEAREST_EVEN,
    "nearest": RoundingMode.NEAREST_EVEN,
    "rna": RoundingMode.NEAREST_AWAY,
    "rtz": RoundingMode.TOWARD_ZERO,
    "ru": RoundingMode.UP,
    "rd": RoundingMode.DOWN,
    "rto": RoundingMode.ODD,
    "sr": RoundingMode.STOCHASTIC,
    "stochastic_a": RoundingMode.STOCHASTIC,
    "sr_a": RoundingMode.STOCHASTIC,
    "sr_b": RoundingMode.STOCHASTIC_B,
    "sr_c": RoundingMode.STOCHASTIC_C,
}


class Overflow(str, Enum):
    """What happens to a value beyond the largest finite value of a format."""

    #: P3109 SatNone, a non-saturating cast: +-Inf (NaN where the format has no Inf);
    #: a directed rounding toward zero for that sign gives +-max instead.
    INFINITY = "infinity"
    #: P3109 SatFinite / OCP saturating conversion: finite overflow and +-Inf give +-max.
    SATURATE = "saturate"
    #: P3109 SatPropagate: finite overflow gives +-max, +-Inf stays +-Inf (NaN without Inf).
    PROPAGATE = "propagate"
    #: Integers and fixed point only: two's-complement wrap-around modulo 2^bits.
    WRAP = "wrap"

    @property
    def code(self) -> int:
        """Integer used by the kernels."""
        return _OVERFLOW_CODES[self]

    def __str__(self) -> str:
        return self.value


_OVERFLOW_CODES = {o: i for i, o in enumerate(Overflow)}


def rounding_mode(mode: str | RoundingMode) -> RoundingMode:
    """Parse a rounding mode name or alias (``"rne"``, ``"nearest_even"``, ...).

    Examples:
        >>> rounding_mode("rtz")
        <RoundingMode.TOWARD_ZERO: 'toward_zero'>
    """
    if isinstance(mode, RoundingMode):
        return mode
    if isinstance(mode, str):
        key = mode.strip().lower()
        if key in _MODE_ALIASES:
            return _MODE_ALIASES[key]
        try:
            return RoundingMode(key)
        except ValueError:
            pass
    allowed = ", ".join([m.value for m in RoundingMode] + sorted(_MODE_ALIASES))
    raise InvalidArgumentError(f"rounding must be one of {allowed}; got {mode!r}")


def overflow_policy(overflow: str | Overflow) -> Overflow:
    """Parse an overflow policy name (``"infinity"``, ``"saturate"``, ``"propagate"``, ``"wrap"``).

    Examples:
        >>> overflow_policy("saturate")
        <Overflow.SATURATE: 'saturate'>
    """
    if isinstance(overflow, Overflow):
        return overflow
    if isinstance(overflow, str):
        try:
            return Overflow(overflow.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(o.value for o in Overflow)
    raise InvalidArgumentError(f"overflow must be one of {allowed}; got {overflow!r}")
