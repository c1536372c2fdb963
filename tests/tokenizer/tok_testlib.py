"""Shared test material: sample texts, a unicode strategy, and a naive BPE trainer.

The naive trainer recounts every pair at every merge.

It follows the documented rule literally (highest count, ties to the smallest
``(left_id, right_id)``, pairs whose bytes are already a token are skipped) and is
far too slow for real corpora, which is the point: it is obviously right.
"""

from __future__ import annotations

import regex
from hypothesis import strategies as st

SAMPLE = """The quick brown fox jumps over the lazy dog. It's 2024; numbers 1234567 and 3.14159!
def greet(name: str) -> str:
    return f"Hello, {name}!"   # code, with    spaces
Français: l'été où naïve Zoë a vu 12 élèves. Deutsch: Grüße aus Köln, Straße.
日本語のテキストと中文文本，还有한국어 문장。 Русский текст и ελληνικά.
مرحبا بالعالم — עברית מימין לשמאל. Emoji: 🙂👍🏽🇫🇷👩‍👩‍👧 and combining: é (e + U+0301).
\t\ttabs\r\nCRLF line\n\n\n   trailing   \n"""

# Text that stresses byte-level BPE: emoji, combining marks, CJK, RTL, controls,
# long whitespace runs and digits.
unicode_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Z", "Cc")),
    max_size=300,
) | st.sampled_from(["\u0301\u0301e", "👩‍👩‍👧🇫🇷", "  \n\n\t  \r\n", "9" * 50, "<|user|>", "\x00\x01\x7f"])


def naive_merge(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def naive_train(texts, num_merges, pattern):
    chunks = [list(c.encode("utf-8")) for t in texts for c in regex.findall(pattern, t)]
    vocab = [bytes([i]) for i in range(256)]
    merges = []
    while len(merges) < num_merges:
        counts = {}
        for ch in chunks:
            for p in zip(ch, ch[1:]):
                counts[p] = counts.get(p, 0) + 1
        candidates = [(-c, p) for p, c in counts.items() if vocab[p[0]] + vocab[p[1]] not in vocab]
        if not candidates:
            break
        _, best = min(candidates)
        new_id = len(vocab)
        vocab.append(vocab[best[0]] + vocab[best[1]])
        merges.append(best)
        chunks = [naive_merge(ch, best, new_id) for ch in chunks]
    return merges
