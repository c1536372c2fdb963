"""The train/val split rule that token shards and the default corpus share."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from pocketgpt.data.split import is_val_document


def test_val_rule_is_evenly_spaced_and_starts_at_zero():
    f = Fraction(1, 100)
    picked = [i for i in range(1000) if is_val_document(i, f)]
    assert picked == list(range(0, 1000, 100))
    assert not any(is_val_document(i, Fraction(0)) for i in range(50))


@given(st.integers(0, 10**12), st.integers(0, 300), st.fractions(0, 1).filter(lambda f: f < 1 and f.denominator <= 10**6))
def test_val_mask_matches_the_rule_one_document_at_a_time(start, count, f):
    from pocketgpt.data.split import val_mask

    assert val_mask(start, count, f).tolist() == [is_val_document(i, f) for i in range(start, start + count)]


@given(st.integers(0, 10**12), st.fractions(0, 1).filter(lambda f: f.denominator <= 10**6))
def test_val_rule_matches_exact_fraction_ceilings(i, f):
    import math

    assert is_val_document(i, f) == (math.ceil((i + 1) * f) > math.ceil(i * f))
