"""Block-scaled formats (OCP MX, NVFP4, BFP/MSFP, dynamic fixed point), bit-exact.

numpy inputs run Numba kernels, JAX arrays JAX kernels; ``lpemu.reference.block`` is the exact
scalar definition both are tested against. See :class:`BlockFormat` for the semantics.
"""

from ._format import MX_COMPAT as MX_COMPAT
from ._format import MXFP4 as MXFP4
from ._format import MXFP6_E2M3 as MXFP6_E2M3
from ._format import MXFP6_E3M2 as MXFP6_E3M2
from ._format import MXFP8_E4M3 as MXFP8_E4M3
from ._format import MXFP8_E5M2 as MXFP8_E5M2
from ._format import MXINT8 as MXINT8
from ._format import NVFP4 as NVFP4
from ._format import SCALE_RULES as SCALE_RULES
from ._format import BlockFormat as BlockFormat
from ._format import bfp as bfp
from ._format import dynamic_fixed_point as dynamic_fixed_point
from ._format import microxcaling as microxcaling
from ._quantize import BLOCK_PRESETS as BLOCK_PRESETS
from ._quantize import BlockEncoding as BlockEncoding
from ._quantize import decode as decode
from ._quantize import encode as encode
from ._quantize import lookup_block as lookup_block
from ._quantize import quantize as quantize

__all__ = [
    "BlockFormat", "BlockEncoding", "SCALE_RULES", "BLOCK_PRESETS", "MXFP8_E4M3", "MXFP8_E5M2", "MXFP6_E3M2",
    "MXFP6_E2M3", "MXFP4", "MXINT8", "NVFP4", "MX_COMPAT", "bfp", "dynamic_fixed_point", "microxcaling",
    "quantize", "encode", "decode", "lookup_block",
]
