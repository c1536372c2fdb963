"""The fast trainer against the naive one, and the pre-split's parallel cutting."""

from __future__ import annotations

import random

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from pocketgpt.tokenizer.bpe import count_chunks, learn_merges, merge, pair_counts, train_bpe
from pocketgpt.tokenizer.patterns import GPT2_PATTERN, GPT4_PATTERN

from tok_testlib import naive_merge, naive_train  # noqa: E402  (beside this file; see conftest.py)


def fast_merges(texts, n, pattern, workers=1):
    return train_bpe(texts, n, pattern, workers=workers, progress=False).merges


def test_primitives_match_docstring_examples_and_naive():
    assert merge([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
    assert pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    rng = random.Random(0)
    for _ in range(200):
        ids = [rng.randrange(3) for _ in range(rng.randrange(12))]
        assert merge(ids, (1, 1), 9) == naive_merge(ids, (1, 1), 9)


def test_overlapping_runs_merge_left_to_right():
    # "aaaaa": (a,a) first -> [aa, aa, a]. Then (aa,aa) and (aa,a) tie at 1 and
    # the smaller pair (256, 97) wins -> [aa, aaa].
    merges = fast_merges(["aaaaa"], 3, GPT4_PATTERN)
    assert merges == naive_train(["aaaaa"], 3, GPT4_PATTERN)
    assert merges[:2] == [(97, 97), (256, 97)]


def _corpus(seed: int, n_words: int) -> list[str]:
    rng = random.Random(seed)
    words = ["the", "cat", "catalog", "at", "tat", "aaa", "été", "naïve", "日本", "😀", "123", "4567", "it's", "x==y"]
    docs = []
    for _ in range(6):
        docs.append(" ".join(rng.choice(words) for _ in range(n_words)) + rng.choice(["\n", "\n\n", "  ", "!"]))
    return docs


@pytest.mark.parametrize("pattern", [GPT4_PATTERN, GPT2_PATTERN], ids=["gpt4", "gpt2"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_naive_trainer_on_small_corpora(pattern, seed):
    docs = _corpus(seed, 60)
    assert fast_merges(docs, 80, pattern) == naive_train(docs, 80, pattern)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="ab c\nAé", max_size=60), min_size=1, max_size=5),
    n=st.integers(1, 25),
)
def test_matches_naive_trainer_property(texts, n):
    # A tiny alphabet makes ties, overlapping runs and repeated byte strings common.
    assert fast_merges(texts, n, GPT4_PATTERN) == naive_train(texts, n, GPT4_PATTERN)


def test_tokens_have_distinct_bytes():
    docs = _corpus(5, 300)
    result = train_bpe(docs, 300, GPT4_PATTERN, workers=1, progress=False)
    assert len(set(result.vocab)) == len(result.vocab)


def test_stops_when_no_pairs_are_left():
    merges = fast_merges(["ab ab"], 100, GPT4_PATTERN)
    assert merges == naive_train(["ab ab"], 100, GPT4_PATTERN)
    assert len(merges) == 2  # "ab", then " ab"


@pytest.mark.parametrize("pattern", [GPT4_PATTERN, GPT2_PATTERN], ids=["gpt4", "gpt2"])
def test_parallel_cut_presplit_equals_whole_text(pattern):
    # One long document, cut into tiny batches across processes, must count exactly
    # like a single findall over the whole text.
    rng = random.Random(3)
    lines = ["def f(x):", "    return x  ", "", "Hello, world!", " indented", "\t\tTabs", "end.", "日本語 テキスト", "  \n"]
    text = "\n".join(rng.choice(lines) for _ in range(3000))
    expected = {}
    for c in regex.findall(pattern, text):
        expected[c] = expected.get(c, 0) + 1
    counts, stats = count_chunks([text], pattern, workers=2, batch_chars=997)
    assert dict(counts) == expected
    assert stats == {"documents": 1, "chars": len(text)}


def test_learn_merges_counts_weight_chunks():
    # A chunk table with counts trains exactly like the expanded corpus.
    table = {"hello": 3, " world": 2, " hello": 5}
    expanded = ["hello"] * 3 + [" world"] * 2 + [" hello"] * 5
    assert learn_merges(table, 12, progress=False).merges == naive_train(expanded, 12, GPT4_PATTERN)
