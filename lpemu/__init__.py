"""lpemu: bit-accurate emulation of low-precision arithmetic.

Round numpy arrays (Numba kernels) and JAX arrays (JAX kernels, under jit and vmap) into any
minifloat, integer or fixed-point format with any rounding mode, bit for bit as the format's
specification defines; ``lpemu.reference`` is the exact scalar oracle both backends match.

Examples:
    >>> import numpy as np, lpemu
    >>> lpemu.quantize(np.array([0.1, 1.0, 300.0], np.float32), "e4m3")
    array([1.015625e-01, 1.000000e+00, 2.880000e+02], dtype=float32)
"""

from typing import TYPE_CHECKING, Any

from . import block as block
from . import formats as formats
from . import hardware as hardware
from . import lmul as lmul
from ._accumulators import Blocked as Blocked
from ._accumulators import Exact as Exact
from ._accumulators import Pairwise as Pairwise
from ._accumulators import Sequential as Sequential
from ._arith import abs as abs
from ._arith import add as add
from ._arith import check_exact as check_exact
from ._arith import div as div
from ._arith import fma as fma
from ._arith import mul as mul
from ._arith import neg as neg
from ._arith import sqrt as sqrt
from ._arith import sub as sub
from ._dot import dot as dot
from ._dot import matmul as matmul
from ._formats import FixedFormat as FixedFormat
from ._formats import FloatFormat as FloatFormat
from ._formats import IntFormat as IntFormat
from ._formats import Specials as Specials
from ._modes import Overflow as Overflow
from ._modes import RoundingMode as RoundingMode
from ._packing import pack as pack
from ._packing import unpack as unpack
from ._quantize import decode as decode
from ._quantize import encode as encode
from ._quantize import quantize as quantize
from ._tensor_cores import TensorCore as TensorCore
from ._tensor_cores import tensor_core as tensor_core
from .errors import InvalidArgumentError as InvalidArgumentError
from .errors import InvalidFormatError as InvalidFormatError
from .errors import LpemuError as LpemuError
from .errors import NotEmulatedError as NotEmulatedError
from .errors import UnsupportedContainerError as UnsupportedContainerError
from .errors import UnsupportedPrimitiveError as UnsupportedPrimitiveError
from .formats import lookup as format

if TYPE_CHECKING:
    from .jax import LPArray as LPArray
    from .jax import Policy as Policy
    from .jax import emulate as emulate
    from .jax import ste as ste
    from ._study import study as study

__version__ = "0.1.0"

__all__ = [
    "FloatFormat", "FixedFormat", "IntFormat", "Specials", "RoundingMode", "Overflow",
    "quantize", "encode", "decode", "pack", "unpack", "format", "formats", "lmul", "block", "hardware",
    "add", "sub", "mul", "div", "fma", "sqrt", "neg", "abs", "check_exact",
    "matmul", "dot", "Exact", "Sequential", "Pairwise", "Blocked", "TensorCore", "tensor_core",
    "LpemuError", "InvalidFormatError", "InvalidArgumentError", "UnsupportedContainerError", "NotEmulatedError",
    "UnsupportedPrimitiveError",
    "LPArray", "emulate", "ste", "Policy", "IntegerMatmul", "study",
]

# The JAX front ends load on first use, so `import lpemu` stays free of JAX for numpy users.
# lpemu.numpy (the drop-in jax.numpy) is a submodule: `import lpemu.numpy as lnp`; it is not
# imported here, so the name `lpemu.numpy` exists only once a user asks for it.
_LAZY = {"LPArray": "lpemu.jax", "emulate": "lpemu.jax", "ste": "lpemu.jax", "Policy": "lpemu.jax",
         "IntegerMatmul": "lpemu.jax", "study": "lpemu._study"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lpemu' has no attribute {name!r}")


# Integer-only pipelines: dyadic requantization, integer GEMM, I-ViT / I-BERT nonlinearities.
from . import dyadic as dyadic  # noqa: E402
from . import integer as integer  # noqa: E402

__all__ += ["dyadic", "integer"]
