"""Storage layouts of block-format codes: packed FP4, the FP6 bit stream, the FP6 "4+2" split
and E8M0 scale bytes (built on :func:`lpemu.pack` / :func:`lpemu.unpack`, MSB first)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._packing import pack, unpack
from ..errors import InvalidArgumentError

__all__ = ["pack_fp4", "unpack_fp4", "pack_fp6", "unpack_fp6", "split_fp6", "join_fp6", "Fp6Split",
           "scale_bytes", "scales_from_bytes"]


def pack_fp4(codes: Any, axis: int = -1) -> Any:
    """Two FP4 codes per byte along ``axis``, ``byte = c0 << 4 | c1`` (odd lengths: low nibble 0).

    Examples:
        >>> import numpy as np
        >>> pack_fp4(np.array([1, 2, 3], np.uint8)).tolist()
        [18, 48]
    """
    return pack(codes, 4, axis)


def unpack_fp4(packed: Any, count: int, axis: int = -1) -> Any:
    """The ``count`` FP4 codes of :func:`pack_fp4`'s bytes.

    Examples:
        >>> import numpy as np
        >>> unpack_fp4(np.array([18, 48], np.uint8), 3).tolist()
        [1, 2, 3]
    """
    return unpack(packed, 4, count, axis)


def pack_fp6(codes: Any, axis: int = -1) -> Any:
    """The contiguous FP6 stream: four codes in three bytes, MSB first
    (``byte0 = c0 << 2 | c1 >> 4``, ...).

    Examples:
        >>> import numpy as np
        >>> pack_fp6(np.array([1, 2, 3, 4], np.uint8)).tolist()
        [4, 32, 196]
    """
    return pack(codes, 6, axis)


def unpack_fp6(packed: Any, count: int, axis: int = -1) -> Any:
    """The ``count`` FP6 codes of a :func:`pack_fp6` stream.

    Examples:
        >>> import numpy as np
        >>> unpack_fp6(np.array([4, 32, 196], np.uint8), 4).tolist()
        [1, 2, 3, 4]
    """
    return unpack(packed, 6, count, axis)


class Fp6Split(NamedTuple):
    """The FP6 "4+2" layout (ZeroQuant(4+2) / FP6-LLM): ``high2`` packs the top two bits
    ``[s, e2]`` of every code (four per byte), ``low4`` the low four ``[e1 e0 m1 m0]`` (two per
    byte); ``count`` codes. The GPU kernel's per-thread interleaving is not applied."""

    high2: Any
    low4: Any
    count: int


def split_fp6(codes: Any, axis: int = -1) -> Fp6Split:
    """Split 6-bit codes into the 2-bit and 4-bit segment arrays of the "4+2" layout.

    Examples:
        >>> import numpy as np
        >>> s = split_fp6(np.array([0b001110, 0b110101], np.uint8))
        >>> s.high2.tolist(), s.low4.tolist()
        ([48], [229])
    """
    c = np.asarray(codes) if not hasattr(codes, "block_until_ready") else codes
    if c.size and (int(c.min()) < 0 or int(c.max()) > 63):
        raise InvalidArgumentError("FP6 codes must be in [0, 63]")
    return Fp6Split(pack(c >> 4, 2, axis), pack(c & 0xF, 4, axis), int(c.shape[axis]))


def join_fp6(split: Fp6Split, axis: int = -1) -> Any:
    """The codes of a :func:`split_fp6` layout.

    Examples:
        >>> import numpy as np
        >>> join_fp6(split_fp6(np.array([14, 53], np.uint8))).tolist()
        [14, 53]
    """
    hi = unpack(split.high2, 2, split.count, axis)
    lo = unpack(split.low4, 4, split.count, axis)
    return (hi << 4) | lo


def scale_bytes(scales: Any) -> Any:
    """E8M0 scale codes as bytes (one per block: the biased exponent, 0xFF = NaN).

    Examples:
        >>> import numpy as np
        >>> scale_bytes(np.array([127, 255])).tolist()
        [127, 255]
    """
    s = np.asarray(scales) if not hasattr(scales, "block_until_ready") else scales
    if s.size and (int(s.min()) < 0 or int(s.max()) > 255):
        raise InvalidArgumentError("E8M0 scale codes must be in [0, 255]")
    return s.astype(np.uint8)


def scales_from_bytes(data: Any) -> Any:
    """The scale codes of :func:`scale_bytes` (a uint8 view).

    Examples:
        >>> import numpy as np
        >>> scales_from_bytes(np.array([1, 2], np.uint8)).tolist()
        [1, 2]
    """
    d = np.asarray(data) if not hasattr(data, "block_until_ready") else data
    if d.dtype != np.uint8:
        raise InvalidArgumentError(f"scale bytes must be uint8, got {d.dtype}")
    return d
