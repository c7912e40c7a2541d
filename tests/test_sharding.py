"""``lpemu.emulate`` on arrays sharded over several devices gives the unsharded run's bits.

JAX fixes its device count when it starts, so the check runs in a subprocess with four host
devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``), on JAX's own multi-device
runtime: arrays placed with ``jax.device_put`` and a ``NamedSharding``, the emulated function
under ``jax.jit``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    import lpemu
    from lpemu.jax import POLICIES

    assert jax.device_count() == 4, jax.devices()
    mesh = jax.make_mesh((4,), ("d",), axis_types=(jax.sharding.AxisType.Auto,))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(8, 16)), jnp.float32)
    w1 = jnp.asarray(rng.normal(size=(16, 32)) * 0.3, jnp.float32)
    w2 = jnp.asarray(rng.normal(size=(32, 8)) * 0.3, jnp.float32)

    def mlp(x, w1, w2):
        h = jax.nn.gelu(x @ w1)
        return jax.nn.softmax(h @ w2, axis=-1)

    def put(a, *spec):
        return jax.device_put(a, NamedSharding(mesh, P(*spec)))

    layouts = {
        "data parallel": (put(x, "d"), put(w1), put(w2)),
        "model parallel": (put(x), put(w1, None, "d"), put(w2, "d")),
        "contracted axis": (put(x, None, "d"), put(w1, "d"), put(w2)),
    }
    policies = {"fp8_e4m3": POLICIES["fp8_e4m3"], "mxfp4": POLICIES["mxfp4"]}
    for pname, policy in policies.items():
        f = jax.jit(lpemu.emulate(mlp, policy))
        want = np.asarray(f(x, w1, w2)).view(np.uint32)
        for lname, args in layouts.items():
            if policy.accumulator is None and lname != "data parallel":
                continue  # a sharded contracted axis changes XLA's own summation order, as for plain JAX
            got = f(*args)
            assert len(got.sharding.device_set) == 4 or lname != "data parallel", got.sharding
            np.testing.assert_array_equal(np.asarray(got).view(np.uint32), want, err_msg=f"{pname}, {lname}")
    print("sharded == unsharded")
''')


def test_sharded_runs_equal_the_unsharded_run(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    # run outside the checkout: `python -c` puts the working directory first on sys.path, and the
    # source tree's lpemu/ lacks lpemu.kernels (it is installed from kernels/)
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "sharded == unsharded" in done.stdout
