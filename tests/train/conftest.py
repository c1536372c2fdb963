"""Tiny tokenizer + shards shared by the training tests (built once per session)."""

from __future__ import annotations

import random

import pytest

TINY = ["n_layer=2", "n_embd=32", "n_head=4", "n_kv_head=2", "block_size=32", "batch_size=4",
        "dtype=float32", "max_minutes=0", "log_every=1"]


def _docs(seed: int, n: int = 60) -> list[str]:
    rng = random.Random(seed)
    countries = [("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Peru", "Lima"), ("Chad", "N'Djamena")]
    docs = []
    for _ in range(n):
        c, cap = rng.choice(countries)
        docs.append(" ".join(rng.choice([f"The capital of {c} is {cap}.", f"{cap} is in {c}.", "Bonjour à tous!"])
                             for _ in range(rng.randint(20, 40))))
    return docs


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """(shards_dir, tokenizer_dir): ~300-id tokenizer, a few thousand tokens per split."""
    from pocketgpt.data import tokenize_to_shards
    from pocketgpt.tokenizer import train

    root = tmp_path_factory.mktemp("tiny_data")
    docs = _docs(0)
    train(docs, 300).save(root / "tok")
    tokenize_to_shards(docs, root / "tok", root / "shards", val_fraction=0.25)
    return root / "shards", root / "tok"


@pytest.fixture(scope="session")
def other_tokenizer(tmp_path_factory):
    from pocketgpt.tokenizer import train

    d = tmp_path_factory.mktemp("other_tok")
    train(_docs(1), 280).save(d / "tok")
    return d / "tok"
