"""Numba kernels for numpy arrays (parallel over the machine's cores)."""
