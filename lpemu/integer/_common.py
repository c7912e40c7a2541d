"""Argument checks and backend dispatch shared by :mod:`lpemu.dyadic` and :mod:`lpemu.integer`.

Arrays that are ``jax.Array`` (tracers included) go to the JAX kernels, everything else to the
Numba kernels as numpy arrays. Value checks (ranges of multipliers, shifts, domains) run only on
concrete arrays: under ``jax.jit`` the values are unknown and the kernels compute the documented
result for any input.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from .._dot import _in_threads
from .._formats import IntFormat
from ..errors import InvalidArgumentError, InvalidFormatError
from ..formats import lookup

#: The input dtypes the nonlinearities and the GEMM accept, by name.
INT8 = ("int8", "uint8")
INT16 = INT8 + ("int16", "uint16")
INT32 = INT16 + ("int32",)
INT64 = INT32 + ("uint32", "int64")


def is_jax(*xs: object) -> bool:
    """Whether any of ``xs`` is a JAX array or tracer."""
    if "jax" not in sys.modules:
        return False
    import jax

    return any(isinstance(x, jax.Array) for x in xs)


def concrete(x: Any) -> np.ndarray | None:
    """``x`` as a numpy array, or None when it is a JAX tracer (values unknown until run)."""
    if is_jax(x):
        import jax

        if isinstance(x, jax.core.Tracer):
            return None
    return np.asarray(x)


def int_array(op: str, name: str, x: Any, allowed: tuple[str, ...]) -> Any:
    """``x`` as an integer array of one of the ``allowed`` dtypes (JAX arrays stay JAX arrays,
    numpy arrays and scalars keep their dtype); Python ints and lists of them become int32 when
    every value fits, else int64."""
    if not is_jax(x) and not isinstance(x, (np.ndarray, np.generic)):
        a = np.asarray(x)
        if a.dtype.kind == "i":
            fits = a.size == 0 or (a.min() >= -(1 << 31) and a.max() < 1 << 31)
            a = a.astype(np.int32 if fits else np.int64)
        x = a
    elif isinstance(x, np.generic):
        x = np.asarray(x)
    dtype = np.dtype(x.dtype)
    if dtype.name not in allowed:
        raise InvalidArgumentError(f"{op}: {name} must be an integer array of dtype {', '.join(allowed)}; "
                                   f"got {dtype.name}")
    return x


def check_values(op: str, name: str, x: Any, lo: int, hi: int) -> None:
    """Raise unless every value of a concrete ``x`` lies in [lo, hi] (tracers pass)."""
    v = concrete(x)
    if v is None or v.size == 0:
        return
    vmin, vmax = int(v.min()), int(v.max())
    if vmin < lo or vmax > hi:
        bad = vmin if vmin < lo else vmax
        raise InvalidArgumentError(f"{op}: {name} must be in [{lo}, {hi}], got {bad}")


def int_param(op: str, name: str, x: Any, lo: int, hi: int) -> Any:
    """An integer parameter that may be a Python int, a numpy or a JAX array (per channel),
    with concrete values in [lo, hi]. Python ints are returned as ints."""
    if isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_)):
        if not lo <= int(x) <= hi:
            raise InvalidArgumentError(f"{op}: {name} must be an integer in [{lo}, {hi}], got {int(x)}")
        return int(x)
    if not is_jax(x):
        x = np.asarray(x)
    if np.dtype(x.dtype).kind not in "iu":
        raise InvalidArgumentError(f"{op}: {name} must be an integer or an integer array, got dtype {x.dtype}")
    check_values(op, name, x, lo, hi)
    return x


def check_axis(op: str, axis: object, ndim: int) -> int:
    """``axis`` normalised to [0, ndim)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < max(ndim, 1):
        raise InvalidArgumentError(f"{op}: axis must be an integer in [{-ndim}, {ndim - 1}], got {axis!r}")
    return int(axis) % max(ndim, 1)


def check_scale(op: str, scale: object, name: str = "scale") -> float:
    """A concrete, finite, positive float scale."""
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise InvalidArgumentError(f"{op}: {name} must be a positive float (a Python or numpy scalar, not an "
                                   f"array or tracer), got {scale!r}")
    s = float(scale)
    if not (math.isfinite(s) and s > 0):
        raise InvalidArgumentError(f"{op}: {name} must be a finite positive float, got {s!r}")
    return s


def int_format(op: str, fmt: object, max_bits: int = 32) -> IntFormat:
    """An :class:`~lpemu.IntFormat` (or its name) of at most ``max_bits`` bits."""
    if isinstance(fmt, str):
        fmt = lookup(fmt)
    if not isinstance(fmt, IntFormat) or fmt.bits > max_bits:
        raise InvalidFormatError(f"{op}: out must be an IntFormat of at most {max_bits} bits (e.g. IntFormat(8) or "
                                 f"'uint8'), got {fmt!r}")
    return fmt


def container(fmt: IntFormat) -> np.dtype:
    """The smallest numpy integer dtype that holds every value of ``fmt``."""
    for bits in (8, 16, 32, 64):
        if fmt.bits <= bits:
            return np.dtype(f"{'int' if fmt.signed else 'uint'}{bits}")
    raise AssertionError(fmt)


def bits_dtype(bits: int) -> np.dtype:
    """The container of a signed ``bits``-bit integer."""
    return container(IntFormat(bits))


def kernels(jax_: bool):
    """The kernel module of a backend: ``lpemu.kernels.jax.integer`` or ``...numba.integer``."""
    if jax_:
        from ..kernels.jax import integer
    else:
        from ..kernels.numba import integer
    return integer


def elementwise(op: str, name: str, args: tuple, dtype: np.dtype) -> Any:
    """The kernel function ``name`` applied elementwise to broadcast ``args`` (Numba's
    ``map_elements`` loop over flattened copies, or JAX's vectorised function)."""
    if is_jax(*args):
        k = kernels(True)
        return k.map_elements(getattr(k, name), *args, dtype=dtype)
    k = kernels(False)
    try:
        arrays = np.broadcast_arrays(*[np.asarray(a) for a in args])
    except ValueError:
        shapes = ", ".join(str(np.shape(a)) for a in args)
        raise InvalidArgumentError(f"{op}: arguments must broadcast together; got shapes {shapes}") from None
    # int64 copies (writable, unlike broadcast views): one compiled signature per function
    flat = [np.array(a, np.int64, order="C").reshape(-1) for a in arrays]
    out = np.empty(arrays[0].shape, np.int64)
    k.map_elements(getattr(k, name), len(args))(*flat, out.reshape(-1))
    out = out.astype(dtype)
    return out[()] if out.ndim == 0 else out


def run_rows(x: Any, axis: int, numba_kernel: Callable, numba_args: tuple, jax_kernel: Callable,
             jax_args: tuple, dtype: np.dtype) -> Any:
    """Apply a row kernel along ``axis``: the Numba kernel ``numba_kernel(rows, out, *args)`` on
    (rows, C) blocks in threads, or the JAX kernel ``jax_kernel(x, *args)`` over the last axis."""
    if len(x.shape) == 0:  # a scalar: one row of one element
        return run_rows(x.reshape(1), 0, numba_kernel, numba_args, jax_kernel, jax_args, dtype).reshape(())
    if is_jax(x):
        import jax.numpy as jnp

        # int32 inputs only (exact for every accepted dtype): one compilation per shape
        x = x.astype(jnp.int32) if x.dtype != jnp.int64 else x
        return jnp.moveaxis(jax_kernel(jnp.moveaxis(x, axis, -1), *jax_args), -1, axis)
    moved = np.moveaxis(x, axis, -1)
    # one int32 (or int64) signature per kernel: compiling each for every narrow dtype costs more
    # than the copy
    rows = np.ascontiguousarray(moved.reshape(-1, moved.shape[-1]), np.int64 if x.dtype == np.int64 else np.int32)
    out = np.empty(rows.shape, dtype)
    _in_threads(lambda r: numba_kernel(rows[r], out[r], *numba_args), rows.shape[0], rows.size * 16)
    return np.moveaxis(out.reshape(moved.shape), -1, axis)
