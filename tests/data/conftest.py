"""A small tokenizer and corpus shared by the data tests (built once per session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from data_testlib import make_docs  # noqa: E402


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory):
    from pocketgpt.tokenizer import train

    d = tmp_path_factory.mktemp("tok") / "tok"
    train(make_docs(0, 200), 320, progress=False).save(d)
    return d


@pytest.fixture(scope="session")
def tok(tok_dir):
    from pocketgpt.tokenizer import Tokenizer

    return Tokenizer.load(tok_dir)
