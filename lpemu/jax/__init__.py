"""lpemu's JAX front ends: emulation policies, the model transform :func:`emulate` and
straight-through gradients (and, built on them, the tensor wrapper and :mod:`lpemu.numpy`)."""

from ._array import LPArray as LPArray
from ._emulate import emulate as emulate
from ._integer import IntegerMatmul as IntegerMatmul
from ._namespace import NotEmulatedError as NotEmulatedError
from ._policy import KINDS as KINDS
from ._policy import POLICIES as POLICIES
from ._policy import Policy as Policy
from ._policy import current_policy as current_policy
from ._policy import use_policy as use_policy
from ._rules import RULES as RULES
from ._rules import UnsupportedPrimitiveError as UnsupportedPrimitiveError
from ._ste import ste as ste

__all__ = ["Policy", "POLICIES", "KINDS", "current_policy", "use_policy", "emulate", "ste", "RULES",
           "UnsupportedPrimitiveError", "LPArray", "NotEmulatedError", "IntegerMatmul"]
