"""JAX kernels: pure jax.numpy/lax code that works under jit, vmap and sharding."""
