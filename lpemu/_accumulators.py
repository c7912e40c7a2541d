"""Accumulator models for :func:`lpemu.matmul` and :func:`lpemu.dot`: where a dot product rounds.

* :class:`Exact` -- the exact sum of the products (and the addend), rounded once (the reference).
* :class:`Sequential` -- recursive summation, every addition rounded into the accumulator format.
* :class:`Pairwise` -- tree summation, every addition rounded.
* :class:`Blocked` -- each block of ``block`` products summed by an inner model, the block sums
  added into a wider outer accumulator (e.g. FP8 GEMMs promoting to fp32 every 128 products).
* :class:`~lpemu.TensorCore` -- NVIDIA's fused multi-term block FMA (:func:`lpemu.tensor_core`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ._formats import FloatFormat
from ._modes import Overflow, RoundingMode, overflow_policy, rounding_mode
from ._tensor_cores import TensorCore
from .errors import InvalidArgumentError, InvalidFormatError
from .formats import lookup

__all__ = ["Exact", "Sequential", "Pairwise", "Blocked", "Accumulator"]


def _normalise(acc, fmt, rounding, overflow) -> None:
    f = lookup(fmt)
    if not isinstance(f, FloatFormat):
        raise InvalidFormatError(f"{type(acc).__name__}: fmt must be a float format, got {f.name}")
    object.__setattr__(acc, "fmt", f)
    object.__setattr__(acc, "rounding", rounding_mode(rounding))
    if overflow is not None:
        object.__setattr__(acc, "overflow", overflow_policy(overflow))


@dataclass(frozen=True, repr=False)
class _Summation:
    """The fields every summation model shares."""

    fmt: FloatFormat | str = "fp32"  #: the accumulator's (for Exact: the result's) format
    rounding: RoundingMode | str = "nearest_even"  #: rounding of every addition (Exact: the one rounding)
    overflow: Overflow | str | None = None  #: overflow policy (None: the format's default)

    def __post_init__(self) -> None:
        _normalise(self, self.fmt, self.rounding, self.overflow)

    def __repr__(self) -> str:
        ov = None if self.overflow is None else self.overflow.value
        return f"{type(self).__name__}(fmt={self.fmt.name}, rounding={self.rounding.value!r}, overflow={ov!r})"


@dataclass(frozen=True, repr=False)
class Exact(_Summation):
    """The exact sum of every product and the addend, rounded once into ``fmt``.

    Examples:
        >>> Exact("fp16")
        Exact(fmt=float16, rounding='nearest_even', overflow=None)
    """


@dataclass(frozen=True, repr=False)
class Sequential(_Summation):
    """Recursive summation: ``acc = round(acc + p_k)`` for k = 0, 1, ..., K-1, from the addend.

    With exact products (``product="exact"``) every step is a fused multiply-add, rounded once.

    Examples:
        >>> Sequential("bf16", "stochastic")
        Sequential(fmt=bfloat16, rounding='stochastic', overflow=None)
    """


@dataclass(frozen=True, repr=False)
class Pairwise(_Summation):
    """Tree summation: neighbours (0, 1), (2, 3), ... added and rounded level by level (an odd
    last term moves up unchanged); the addend is added to the tree's sum last.

    Examples:
        >>> Pairwise("fp16")
        Pairwise(fmt=float16, rounding='nearest_even', overflow=None)
    """


@dataclass(frozen=True)
class Blocked:
    """Blocks of ``block`` products, each summed from zero by ``inner``; every block sum is then
    added into ``outer`` (sequentially, from the addend).

    This is the promotion scheme of FP8 GEMMs: ``Blocked(128, inner=tensor_core("H100", "e4m3"))``
    accumulates 128 products in Hopper's ~14-bit FP8 accumulator and adds each partial sum into an
    fp32 register (DeepSeek-V3's fine-grained accumulation). K need not be a multiple of ``block``:
    the last block is shorter.

    Examples:
        >>> Blocked(32, inner=Sequential("fp16"))
        Blocked(block=32, inner=Sequential(fmt=float16, rounding='nearest_even', overflow=None), outer=Sequential(fmt=float32, rounding='nearest_even', overflow=None))
    """

    block: int = 128  #: products per block
    inner: "Accumulator" = field(default_factory=lambda: Sequential("fp32"))  #: sums each block
    outer: Sequential = field(default_factory=lambda: Sequential("fp32"))  #: adds the block sums

    def __post_init__(self) -> None:
        if not isinstance(self.block, int) or isinstance(self.block, bool) or self.block < 1:
            raise InvalidArgumentError(f"Blocked: block must be an integer >= 1, got {self.block!r}")
        if not isinstance(self.inner, (Exact, Sequential, Pairwise, TensorCore)):
            raise InvalidArgumentError("Blocked: inner must be Exact, Sequential, Pairwise or a TensorCore, "
                                       f"got {self.inner!r}")
        if not isinstance(self.outer, Sequential):
            raise InvalidArgumentError(f"Blocked: outer must be a Sequential accumulator, got {self.outer!r}")


Accumulator = Union[Exact, Sequential, Pairwise, Blocked, TensorCore]


def accumulator_of(acc: object) -> Accumulator:
    """An accumulator model from a model or a format name (``"fp32"`` means ``Sequential("fp32")``)."""
    if isinstance(acc, (Exact, Sequential, Pairwise, Blocked, TensorCore)):
        return acc
    if isinstance(acc, (str, FloatFormat)):
        return Sequential(acc)
    raise InvalidArgumentError("accumulator must be Exact, Sequential, Pairwise, Blocked, a TensorCore or a format "
                               f"name, got {acc!r}")
