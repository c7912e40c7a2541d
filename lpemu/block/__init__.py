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
from ._storage import Fp6Split as Fp6Split
from ._storage import join_fp6 as join_fp6
from ._storage import pack_fp4 as pack_fp4
from ._storage import pack_fp6 as pack_fp6
from ._storage import scale_bytes as scale_bytes
from ._storage import scales_from_bytes as scales_from_bytes
from ._storage import split_fp6 as split_fp6
from ._storage import unpack_fp4 as unpack_fp4
from ._storage import unpack_fp6 as unpack_fp6

__all__ = [
    "BlockFormat", "BlockEncoding", "SCALE_RULES", "BLOCK_PRESETS", "MXFP8_E4M3", "MXFP8_E5M2", "MXFP6_E3M2",
    "MXFP6_E2M3", "MXFP4", "MXINT8", "NVFP4", "MX_COMPAT", "bfp", "dynamic_fixed_point", "microxcaling",
    "quantize", "encode", "decode", "lookup_block",
    "pack_fp4", "unpack_fp4", "pack_fp6", "unpack_fp6", "split_fp6", "join_fp6", "Fp6Split", "scale_bytes",
    "scales_from_bytes",
]
