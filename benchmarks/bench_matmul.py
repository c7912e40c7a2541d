"""Matmul with modelled accumulators: lpemu (Numba, JAX) against plain float32 matmul and a
per-MAC rounding loop.

Run: ``python benchmarks/bench_matmul.py [--size 256] [--repeat 5]``. Prints one row per
accumulator model: the time of lpemu's Numba and JAX kernels and their slowdown against
``np.matmul`` on float32 (the speed of light), and against the usual way of emulating a
low-precision accumulator in numpy: a Python loop over k that rounds the running sum with
``lpemu.quantize`` after every multiply-add (which double-rounds, so it is not even exact).
Every kernel is compiled before it is timed. Inputs are E4M3 (tensor-core and FP8 models) or
BF16 values.
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from rich.console import Console
from rich.table import Table

import lpemu
from common import best_time, cpu_model
from lpemu import Blocked, Exact, Pairwise, Sequential, tensor_core


def per_mac_loop(a, b, fmt):
    """The naive numpy emulation: round the running sum after every multiply-add."""
    acc = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):
        acc = lpemu.quantize(acc + a[:, k:k + 1] * b[k], fmt)
    return acc


MODELS = [
    ("Exact -> fp32", "bf16", Exact("fp32")),
    ("Sequential fp32 (fma chain)", "bf16", Sequential("fp32")),
    ("Sequential bf16", "bf16", Sequential("bf16")),
    ("Sequential fp16, stochastic", "bf16", Sequential("fp16", "stochastic")),
    ("Pairwise fp16", "bf16", Pairwise("fp16")),
    ("Tensor core A100 fp16", "fp16", tensor_core("A100", "fp16")),
    ("Tensor core H100 E4M3", "e4m3", tensor_core("H100", "e4m3")),
    ("H100 E4M3, fp32 promotion / 128", "e4m3", Blocked(128, tensor_core("H100", "e4m3"))),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="M = N = K (default 256), e.g. --size 512")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions, best kept (default 5)")
    args = parser.parse_args(argv)
    n = args.size
    rng = np.random.default_rng(0)
    console = Console(width=120)
    console.print(f"[bold]matmul {n}x{n}x{n}[/bold] on {cpu_model()}, "
                  f"numpy {np.__version__}, jax {jax.__version__}, lpemu {lpemu.__version__}")
    x = rng.standard_normal((n, n)).astype(np.float32)
    y = rng.standard_normal((n, n)).astype(np.float32)
    base = best_time(lambda: x @ y, args.repeat * 4)
    loop_time = best_time(lambda: per_mac_loop(x, y, "bf16"), 1)
    console.print(f"np.matmul float32: {base * 1e3:.3f} ms; per-MAC numpy loop (bf16 accumulator): "
                  f"{loop_time * 1e3:.1f} ms = {loop_time / base:.0f}x")
    table = Table(title=f"slowdown vs np.matmul float32 ({base * 1e3:.3f} ms)")
    for col in ("model", "Numba ms", "Numba / matmul", "JAX ms", "JAX / matmul", "per-MAC loop / Numba"):
        table.add_column(col, justify="right" if col != "model" else "left")
    for name, fmt, acc in MODELS:
        a = lpemu.quantize(x, fmt)
        b = lpemu.quantize(y, fmt)
        ja, jb = jnp.asarray(a), jnp.asarray(b)
        kw = dict(in_fmt=fmt, inputs="assume", accumulator=acc, seed=1)
        t_nb = best_time(lambda: lpemu.matmul(a, b, **kw), args.repeat)
        jitted = jax.jit(lambda p, q: lpemu.matmul(p, q, **kw))
        t_jx = best_time(lambda: jitted(ja, jb), max(1, args.repeat // 2))
        row = [name, f"{t_nb * 1e3:.1f}", f"{t_nb / base:.0f}x", f"{t_jx * 1e3:.1f}", f"{t_jx / base:.0f}x",
               f"{loop_time / t_nb:.1f}x"]
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
