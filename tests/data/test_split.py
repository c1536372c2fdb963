"""The train/val split rule that token shards and the default corpus share."""

from __future__ import annotations

from fractions import Fraction

from pocketgpt.data.split import is_val_document


def test_val_rule_is_evenly_spaced_and_starts_at_zero():
    f = Fraction(1, 100)
    picked = [i for i in range(1000) if is_val_document(i, f)]
    assert picked == list(range(0, 1000, 100))
    assert not any(is_val_document(i, Fraction(0)) for i in range(50))
