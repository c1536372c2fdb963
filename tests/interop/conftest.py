"""Tokenizers shared by the interop tests; helpers live in interop_testlib.py beside this file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from interop_testlib import TEXTS  # noqa: E402


@pytest.fixture(scope="session")
def chat_tok():
    """GPT-4 pattern, the default specials (<|endoftext|> and the chat tokens)."""
    from pocketgpt.tokenizer import train

    return train(TEXTS * 3, vocab_size=330, progress=False)


@pytest.fixture(scope="session")
def gpt2_tok():
    """A GPT-2-style tokenizer: GPT-2 pattern, <|endoftext|> as its only (and last) special."""
    from pocketgpt.tokenizer import GPT2_PATTERN, train

    return train(TEXTS * 3, vocab_size=300, pattern=GPT2_PATTERN, special_tokens=("<|endoftext|>",), progress=False)
