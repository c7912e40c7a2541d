"""Helpers the benchmark scripts share: timing and the environment they record.

The scripts run as ``python benchmarks/bench_*.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import importlib
import platform
import time
from collections.abc import Callable


def best_time(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls of ``fn``, after one warm-up call (compilation); JAX
    results are waited for."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        if hasattr(out, "block_until_ready"):
            out.block_until_ready()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_model() -> str:
    """The CPU's model name."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def version(name: str) -> str:
    """An installed package's version, or "not installed"."""
    try:
        mod = importlib.import_module(name)
    except ImportError:
        return "not installed"
    v = getattr(mod, "__version__", None)
    if v is None:
        from importlib.metadata import PackageNotFoundError
        from importlib.metadata import version as dist_version

        try:
            v = dist_version(name)
        except PackageNotFoundError:
            v = "?"
    return str(v)
