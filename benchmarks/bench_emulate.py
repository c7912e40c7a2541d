"""Speed of ``lpemu.emulate``: a jitted MLP and a transformer block forward, plain vs emulated.

Prints a rich table of the best time per forward pass (after compilation) and its ratio to the
plain jitted forward, for elementwise-only policies (fp16 or bf16 everywhere, XLA's float32 dot),
FP8 E4M3 dot operands with sequential fp32 accumulation (elementwise ops in float32; then in
bf16: the ``fp8_e4m3`` preset), MXFP4 dot operands, and the H100 tensor-core model. The target:
the elementwise and fp32-accumulation policies within 3x of the plain forward. fp16 and FP8
arithmetic runs in float32; bf16 in float32 too, but on significands with integer exponents (its
results can be float32 subnormals, which XLA on CPU flushes), about three times the work.
Run: ``python benchmarks/bench_emulate.py``.
"""

from __future__ import annotations

import numpy as np
from common import best_time, cpu_model, version
from rich.console import Console
from rich.table import Table

import lpemu
from lpemu.jax import Policy


def mlp_model(rng: np.random.Generator):
    """A 512-256-256-10 MLP (gelu) on a batch of 256."""
    import jax
    import jax.numpy as jnp

    sizes = (512, 256, 256, 10)
    params = [(jnp.asarray(rng.normal(0, n ** -0.5, (n, m)), jnp.float32), jnp.zeros(m, jnp.float32))
              for n, m in zip(sizes[:-1], sizes[1:])]
    x = jnp.asarray(rng.normal(size=(256, sizes[0])), jnp.float32)

    def forward(params, x):
        for i, (w, b) in enumerate(params):
            x = x @ w + b
            if i < len(params) - 1:
                x = jax.nn.gelu(x)
        return x

    return forward, (params, x)


def transformer_model(rng: np.random.Generator):
    """A pre-norm transformer block: 128 tokens, width 128, 4 heads, MLP 4x (gelu)."""
    import jax
    import jax.numpy as jnp

    t, d, h = 128, 128, 4

    def w(*shape):
        return jnp.asarray(rng.normal(0, shape[0] ** -0.5, shape), jnp.float32)

    params = {"qkv": w(d, 3 * d), "out": w(d, d), "up": w(d, 4 * d), "down": w(4 * d, d),
              "ln1": jnp.ones(d), "ln2": jnp.ones(d)}
    x = jnp.asarray(rng.normal(size=(t, d)), jnp.float32)

    def norm(x, g):
        mu = x.mean(-1, keepdims=True)
        return (x - mu) * jax.lax.rsqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5) * g

    def forward(p, x):
        q, k, v = jnp.split(norm(x, p["ln1"]) @ p["qkv"], 3, axis=-1)
        q, k, v = (a.reshape(t, h, d // h).transpose(1, 0, 2) for a in (q, k, v))
        att = jax.nn.softmax(q @ k.transpose(0, 2, 1) / (d // h) ** 0.5, axis=-1)
        x = x + (att @ v).transpose(1, 0, 2).reshape(t, d) @ p["out"]
        return x + jax.nn.gelu(norm(x, p["ln2"]) @ p["up"]) @ p["down"]

    return forward, (params, x)


POLICIES = {
    "elementwise fp16 (XLA dot)": Policy(format="fp16"),
    "elementwise bf16 (XLA dot)": Policy(format="bf16"),
    "E4M3 dot, fp32 sequential accumulation": Policy(matmul_format="e4m3", accumulator="fp32"),
    "fp8_e4m3 preset (+ bf16 elementwise)": Policy.preset("fp8_e4m3"),
    "MXFP4 dot (XLA dot)": Policy(matmul_format="mxfp4"),
    "E4M3 dot, H100 tensor-core accumulation": Policy(matmul_format="e4m3",
                                                      accumulator=lpemu.tensor_core("H100", "e4m3")),
}


def main() -> None:
    import jax

    rng = np.random.default_rng(0)
    t = Table(title=f"forward pass on {cpu_model()}; lpemu {version('lpemu')}, jax {version('jax')}")
    t.add_column("model")
    t.add_column("policy")
    t.add_column("ms", justify="right")
    t.add_column("x plain jit", justify="right")
    for name, build in (("MLP 512-256-256-10, batch 256", mlp_model), ("transformer block 128x128", transformer_model)):
        forward, args = build(rng)
        plain = jax.jit(forward)
        base = best_time(lambda: plain(*args), 200)
        t.add_row(name, "plain", f"{base * 1e3:.2f}", "1.00")
        for label, policy in POLICIES.items():
            emulated = jax.jit(lpemu.emulate(forward, policy))
            sec = best_time(lambda: emulated(*args), 5 if "tensor" in label else 200)
            t.add_row("", label, f"{sec * 1e3:.2f}", f"{sec / base:.2f}")
    Console().print(t)


if __name__ == "__main__":
    main()
