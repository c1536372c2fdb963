"""Helpers shared by the data tests (imported by name; conftest puts this folder on sys.path)."""

from __future__ import annotations

import random

WORDS = ["the", "capital", "of", "France", "is", "Paris", "river", "mountain", "café", "naïve", "日本", "42", "\n"]


def make_docs(seed: int, n: int, lo: int = 5, hi: int = 60) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]
