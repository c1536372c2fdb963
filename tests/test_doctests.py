"""Every worked example in a docstring of the package runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import pocketgpt

MODULES = sorted(m.name for m in pkgutil.walk_packages(pocketgpt.__path__, "pocketgpt.")
                 if not m.name.endswith("__main__"))


def test_the_package_has_modules():
    assert len(MODULES) > 50 and "pocketgpt.tokenizer.bpe" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctest examples failed"
