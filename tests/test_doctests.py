"""Every docstring example of the installed package runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lpemu", "lpemu._formats", "lpemu.formats", "lpemu._modes", "lpemu._quantize", "lpemu._packing",
    "lpemu.reference", "lpemu._arith", "lpemu._accumulators", "lpemu._dot", "lpemu._tensor_cores", "lpemu.lmul", "lpemu.block._format", "lpemu.block._quantize", "lpemu.block._storage", "lpemu.testing", "lpemu._verify", "lpemu._display", "lpemu.cli",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
