"""Hardware reference kernels: small C files of x86 intrinsics, compiled on first use and loaded
with ctypes (installed as ``lpemu.kernels.hw``; the public API is :mod:`lpemu.hardware`).

Each unit is compiled on its own, with only its own ``-m`` flags, by the system C compiler
(``$CC``, else ``cc`` or ``gcc``), so a compiler or CPU without one unit still builds the
others. The shared objects are cached in ``$XDG_CACHE_HOME/lpemu/hw`` (``~/.cache/lpemu/hw``),
named by a hash of the C sources, the flags and the compiler, so an edited source or another
compiler builds afresh and a stale object is never loaded. ``cpu.c`` (no ``-m`` flags) reads
CPUID and XCR0 to say which units this CPU has.

The C functions take C-contiguous arrays whose length is a multiple of :data:`PAD` (the caller
pads) and assume valid arguments; :mod:`lpemu.hardware` checks them.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["UNITS", "PAD", "BuildError", "cpu_units", "cpu_probe_error", "load", "cache_dir", "swap_mxcsr"]

#: Every array handed to a kernel has a multiple of PAD elements (HW_PAD in common.h).
PAD = 64
_HERE = Path(__file__).resolve().parent


def _ptr(dtype) -> type:
    return np.ctypeslib.ndpointer(dtype=dtype, flags="C_CONTIGUOUS")


_F32, _U16, _I32, _U8, _I8 = (_ptr(t) for t in (np.float32, np.uint16, np.int32, np.uint8, np.int8))
_N, _INT = ctypes.c_int64, ctypes.c_int
#: C signatures (argument types) of every exported kernel.
_SIGNATURES = {
    "cvtps2ph": (_F32, _U16, _N, _INT),
    "cvtph2ps": (_U16, _F32, _N),
    "arith": (_INT, _U16, _U16, _U16, _U16, _N, _INT),
    "cvtps2phx": (_F32, _U16, _N, _INT),
    "cvtph2psx": (_U16, _F32, _N),
    "cvtneps2bf16": (_F32, _U16, _N),
    "dpbf16ps": (_F32, _U16, _U16, _F32, _N),
    "dpbusd": (_I32, _U8, _I8, _I32, _N, _INT),
}


@dataclass(frozen=True)
class UnitBuild:
    """How to build one unit's kernels."""

    #: C source file in this folder.
    source: str
    #: Compiler flags of this unit only (target extensions and the source's -D switches).
    flags: tuple[str, ...]
    #: Its bit in the result of ``hw_features()`` (cpu.c).
    cpu_bit: int
    #: The functions it exports (keys of _SIGNATURES).
    functions: tuple[str, ...]


#: Every unit, in the bit order of cpu.c.
UNITS: dict[str, UnitBuild] = {
    "f16c": UnitBuild("f16c.c", ("-mf16c", "-mavx", "-DHW_WIDTH=256"), 1, ("cvtps2ph", "cvtph2ps")),
    "avx512f": UnitBuild("f16c.c", ("-mavx512f", "-DHW_WIDTH=512"), 2, ("cvtps2ph", "cvtph2ps")),
    "avx512fp16": UnitBuild("avx512fp16.c", ("-mavx512fp16", "-mavx512vl", "-mavx512bw"), 4,
                            ("arith", "cvtps2phx", "cvtph2psx")),
    "avx512bf16": UnitBuild("avx512bf16.c", ("-mavx512bf16", "-mavx512vl", "-mavx512bw"), 8,
                            ("cvtneps2bf16", "dpbf16ps")),
    "avx512vnni": UnitBuild("vnni.c", ("-mavx512vnni", "-mavx512f", "-DHW_WIDTH=512"), 16, ("dpbusd",)),
    "avxvnni": UnitBuild("vnni.c", ("-mavxvnni", "-DHW_WIDTH=256"), 32, ("dpbusd",)),
}
_BASE_FLAGS = ("-O2", "-shared", "-fPIC", "-std=c11")


class BuildError(RuntimeError):
    """A kernel could not be compiled or loaded (no compiler, or it rejects the unit's flags)."""


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$XDG_CACHE_HOME/lpemu/hw`` or ``~/.cache/lpemu/hw``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lpemu" / "hw"


def _compiler() -> str:
    for cc in (os.environ.get("CC"), "cc", "gcc"):
        if cc and shutil.which(cc.split()[0]):
            return cc
    raise BuildError("no C compiler found (set $CC, or install gcc)")


def _build(name: str, source: str, flags: tuple[str, ...]) -> Path:
    """The cached shared object of ``source`` built with ``flags``; compiled if absent."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        raise BuildError(f"the hardware kernels are x86-64 code; this machine is {platform.machine()}")
    cc = _compiler()
    text = b"".join((_HERE / f).read_bytes() for f in ("common.h", source))
    key = hashlib.sha256(text + "\0".join((cc, *_BASE_FLAGS, *flags)).encode()).hexdigest()[:20]
    path = cache_dir() / f"{name}-{key}.so"
    if path.exists():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        out_dir = path.parent
    except OSError:  # read-only home: build in a private temporary folder for this process
        out_dir = Path(tempfile.mkdtemp(prefix="lpemu-hw-"))
        path = out_dir / path.name
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out_dir)
    os.close(fd)
    cmd = [*cc.split(), *_BASE_FLAGS, *flags, "-I", str(_HERE), "-o", tmp, str(_HERE / source)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            first = next((ln for ln in proc.stderr.splitlines() if "error" in ln), proc.stderr.strip())
            raise BuildError(f"{' '.join(cmd)} failed: {first.strip()}")
        os.replace(tmp, path)  # atomic: concurrent builders of the same key both succeed
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


@functools.cache
def _cpu() -> ctypes.CDLL | str:
    """cpu.c, loaded; or why it could not be (not x86-64, no C compiler)."""
    try:
        lib = ctypes.CDLL(str(_build("cpu", "cpu.c", ())))
    except (BuildError, OSError) as e:
        return str(e)
    lib.hw_swap_mxcsr.argtypes = [ctypes.c_uint]
    lib.hw_swap_mxcsr.restype = ctypes.c_uint
    return lib


def cpu_probe_error() -> str | None:
    """Why the CPU could not be probed (then no unit is available), or None."""
    lib = _cpu()
    return lib if isinstance(lib, str) else None


@functools.cache
def cpu_units() -> frozenset[str]:
    """The units whose instructions this CPU runs (CPUID, and XCR0 for the register state).

    Empty on a machine that is not x86-64 or without a C compiler (see :func:`cpu_probe_error`).
    """
    lib = _cpu()
    if isinstance(lib, str):
        return frozenset()
    bits = lib.hw_features()
    return frozenset(u for u, b in UNITS.items() if bits & b.cpu_bit)


def swap_mxcsr(value: int) -> int:
    """Set the calling thread's MXCSR to ``value``; return the previous value (for tests: the
    kernels must give the same bits whatever the caller's DAZ, FTZ and rounding bits are)."""
    lib = _cpu()
    if isinstance(lib, str):
        raise BuildError(lib)
    return int(lib.hw_swap_mxcsr(value))


@functools.cache
def load(unit: str) -> ctypes.CDLL:
    """The loaded kernels of ``unit``, their argument types set.

    Raises:
        BuildError: the unit could not be compiled or loaded.
    """
    b = UNITS[unit]
    try:
        lib = ctypes.CDLL(str(_build(unit, b.source, b.flags)))
    except OSError as e:
        raise BuildError(f"loading the {unit} kernels failed: {e}") from None
    for fn in b.functions:
        f = getattr(lib, fn)
        f.argtypes = _SIGNATURES[fn]
        f.restype = None
    return lib
