"""The docstring examples in the interop modules run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["weights", "hf_tokenizer", "import_hf"])
def test_docstring_examples(name):
    # by module path: the package re-exports a function named import_hf over the module
    result = doctest.testmod(importlib.import_module(f"pocketgpt.interop.{name}"))
    assert result.failed == 0 and result.attempted > 0
