"""Exceptions raised by lpemu.

Every error lpemu raises for bad input derives from :class:`LpemuError` and from the
built-in exception a user would expect (``ValueError`` or ``TypeError``), so both
``except ValueError`` and ``except lpemu.LpemuError`` work.
"""

from __future__ import annotations

__all__ = ["LpemuError", "InvalidFormatError", "InvalidArgumentError", "UnsupportedContainerError",
           "UnsupportedPrimitiveError", "NotEmulatedError"]


class LpemuError(Exception):
    """Base class of every lpemu error."""


class InvalidFormatError(LpemuError, ValueError):
    """A format was constructed with parameters outside their allowed range."""


class InvalidArgumentError(LpemuError, ValueError):
    """A function argument (rounding mode, overflow policy, seed, ...) is invalid."""


class UnsupportedContainerError(LpemuError, TypeError):
    """The container dtype cannot hold every value of the format exactly.

    lpemu refuses to round twice: a format is emulated in a float32/float64 container only
    when every value of the format is exactly representable in it.
    """


class UnsupportedPrimitiveError(LpemuError, NotImplementedError):
    """:func:`lpemu.emulate` met a JAX primitive it has no rule for (the message names it)."""


class NotEmulatedError(LpemuError, AttributeError):
    """A ``jax.numpy`` function that :mod:`lpemu.numpy` does not emulate was asked for.

    It derives from AttributeError, so ``hasattr(lnp, name)`` is False for such names.
    """


def check_int(
    name: str, value: object, lo: int, hi: int, error: type[LpemuError] = InvalidArgumentError
) -> int:
    """Return ``value`` as an int, or raise ``error`` naming ``name`` and the range [lo, hi]."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise error(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    v = int(value.__index__())  # type: ignore[attr-defined]
    if not lo <= v <= hi:
        raise error(f"{name} must be an integer in [{lo}, {hi}], got {v}")
    return v
