"""Integer-only inference: integer GEMM and convolution, and the I-ViT / I-BERT nonlinearities.

Every function takes integer arrays (numpy: Numba kernels; JAX: JAX kernels under ``jit`` and
``vmap``), computes exactly what the integer pipeline it names computes, and returns integers
(the nonlinearities also return the output scale). The dyadic requantization that connects the
layers is :mod:`lpemu.dyadic`. Semantics and sources: ``docs/semantics.md``
("Integer-only pipelines") and shared/specs/integer-pipelines.md.

Examples:
    >>> import numpy as np
    >>> from lpemu import integer
    >>> integer.shiftmax(np.array([10, 0, -5, -20], np.int8), 0.1)
    (array([76, 30, 17,  4], dtype=int8), 0.0078125)
"""

from ._gemm import AccumulatorOverflow as AccumulatorOverflow
from ._gemm import int_conv2d as int_conv2d
from ._gemm import int_dense as int_dense
from ._gemm import int_matmul as int_matmul
from ._nonlinear import ibert_exp as ibert_exp
from ._nonlinear import ibert_gelu as ibert_gelu
from ._nonlinear import ibert_layernorm as ibert_layernorm
from ._nonlinear import ibert_softmax as ibert_softmax
from ._nonlinear import ibert_sqrt as ibert_sqrt
from ._nonlinear import ivit_layernorm as ivit_layernorm
from ._nonlinear import ivit_sqrt as ivit_sqrt
from ._nonlinear import shift_exp as shift_exp
from ._nonlinear import shiftgelu as shiftgelu
from ._nonlinear import shiftmax as shiftmax

__all__ = [
    "AccumulatorOverflow", "int_matmul", "int_conv2d", "int_dense",
    "shift_exp", "shiftmax", "shiftgelu", "ivit_sqrt", "ivit_layernorm",
    "ibert_exp", "ibert_gelu", "ibert_softmax", "ibert_sqrt", "ibert_layernorm",
]
