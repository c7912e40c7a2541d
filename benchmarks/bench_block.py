"""Block quantization speed: MXFP4, MXFP8 and NVFP4 of a 4096x4096 float32 matrix.

Prints a rich table of the time per call and the ratio to lpemu's elementwise E2M1
``lpemu.quantize`` of the same matrix, on numpy and on the same backend (the target: block
formats within 4x of it), with a
plain ``np.copy`` and gfloat's block quantization (a 64-row slice, scaled up) for reference.
Run: ``python benchmarks/bench_block.py``.
"""

from __future__ import annotations

import time

import numpy as np
from common import best_time, cpu_model, version
from rich.console import Console
from rich.table import Table

import lpemu
import lpemu.block as B


def main() -> None:
    import jax
    import jax.numpy as jnp

    n = 4096
    x = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    xj = jnp.asarray(x)
    rows = []
    base = best_time(lambda: lpemu.quantize(x, "e2m1"), 5)
    rows.append(("np.copy", best_time(lambda: np.copy(x), 5)))
    rows.append(("lpemu.quantize e2m1 (numpy)", base))
    qj = jax.jit(lambda v: lpemu.quantize(v, "e2m1"))
    base_jax = best_time(lambda: qj(xj).block_until_ready(), 5)
    rows.append(("lpemu.quantize e2m1 (jax jit)", base_jax))
    for fmt in (B.MXFP4, B.MXFP8_E4M3, B.NVFP4):
        rows.append((f"{fmt.name} numba", best_time(lambda f=fmt: B.quantize(x, f), 3)))
        fj = jax.jit(lambda v, f=fmt: B.quantize(v, f))
        rows.append((f"{fmt.name} jax jit", best_time(lambda f=fj: f(xj).block_until_ready(), 3)))
    try:
        import gfloat
        from gfloat.formats import format_info_mxfp4_e2m1

        sl = x[:16].astype(np.float64)

        def g():
            for r in range(sl.shape[0]):
                for q in range(0, n, 32):
                    gfloat.quantize_block(format_info_mxfp4_e2m1, sl[r, q:q + 32], gfloat.compute_scale_amax)

        t0 = time.perf_counter()
        g()
        rows.append(("gfloat quantize_block mxfp4 (16 rows, scaled)", (time.perf_counter() - t0) * n / 16))
    except ImportError:  # the table's title then says "gfloat not installed"
        print("gfloat is not installed: its row is left out (pip install gfloat)")
    t = Table(title=f"4096x4096 float32 on {cpu_model()}; lpemu {version('lpemu')}, numba {version('numba')}, "
                    f"jax {version('jax')}, gfloat {version('gfloat')}")
    t.add_column("implementation")
    t.add_column("ms", justify="right")
    t.add_column("M elem/s", justify="right")
    t.add_column("x elementwise e2m1 (numpy)", justify="right")
    t.add_column("x same backend's e2m1", justify="right")
    for name, sec in rows:
        own = base_jax if "jax" in name else base
        t.add_row(name, f"{sec * 1e3:.1f}", f"{n * n / sec / 1e6:.0f}", f"{sec / base:.2f}", f"{sec / own:.2f}")
    Console().print(t)


if __name__ == "__main__":
    main()
