"""The numeric core of lpemu (installed as ``lpemu.kernels``).

``numba/`` and ``jax/`` implement the same algorithms under the same module and function
names; ``params.py`` holds the integer parameter records both read. Kernels assume valid
arguments: the public layer in ``lpemu`` checks them.
"""
