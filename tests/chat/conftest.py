"""A small tokenizer with the chat specials, shared by the chat tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for chat_testlib
sys.path.insert(0, str(Path(__file__).parent.parent / "data"))  # for data_testlib's stand-in packages

TEXT = ["What is the capital of France? The capital of France is Paris. Hello! How are you? I am fine, thanks.",
        "Who are you? I am pocketgpt, a small language model. <b>tags</b> | pipes | end"]


@pytest.fixture(scope="session")
def tok():
    from pocketgpt.tokenizer import train

    return train(TEXT * 3, vocab_size=300)


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Tiny models: one thread is faster, and oversubscribed OpenMP threads spin on 2 shared cores."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

