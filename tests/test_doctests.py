"""Every docstring example of the installed package runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

def _modules() -> list[str]:
    """Every module of the lpemu package (kernels excluded: they hold no examples)."""
    import lpemu

    names = ["lpemu"]
    for info in pkgutil.walk_packages(lpemu.__path__, "lpemu."):
        if not info.name.startswith("lpemu.kernels"):
            names.append(info.name)
    return sorted(names)


MODULES = _modules()


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
