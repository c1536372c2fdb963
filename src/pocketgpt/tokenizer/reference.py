"""A short, readable pure-Python BPE encoder: the reference the fast path is tested against.

Encoding a chunk repeatedly merges the adjacent pair whose joined bytes have the
lowest rank (token id) until no adjacent pair forms a token. For a vocabulary
trained by BPE this replays the merges in training order.

>>> ranks = {bytes([i]): i for i in range(256)}
>>> ranks[b"ab"] = 256; ranks[b"abc"] = 257
>>> bpe_chunk(b"abcab", ranks)
[257, 256]
"""

from __future__ import annotations

import regex


def bpe_chunk(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """Encode one pre-split chunk by lowest-rank-first merging."""
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best, best_rank = -1, None
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best_rank is None or rank < best_rank):
                best, best_rank = i, rank
        if best < 0:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    return [ranks[p] for p in parts]


def encode_ordinary(text: str, ranks: dict[bytes, int], pattern: str) -> list[int]:
    """Split ``text`` with ``pattern`` and BPE-encode each chunk. Specials are plain text."""
    ids: list[int] = []
    for chunk in regex.findall(pattern, text):
        ids.extend(bpe_chunk(chunk.encode("utf-8"), ranks))
    return ids


def encode(text: str, ranks: dict[bytes, int], pattern: str, specials: dict[str, int]) -> list[int]:
    """Like :func:`encode_ordinary`, but the strings in ``specials`` become their ids.

    >>> ranks = {bytes([i]): i for i in range(256)}
    >>> encode("a<|end|>b", ranks, r"\\w+|\\W", {"<|end|>": 300})
    [97, 300, 98]
    """
    if not specials:
        return encode_ordinary(text, ranks, pattern)
    # Longest first, so a special that is a prefix of another cannot shadow it.
    alternatives = "|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True))
    ids: list[int] = []
    start = 0
    for m in regex.finditer(alternatives, text):
        ids.extend(encode_ordinary(text[start : m.start()], ranks, pattern))
        ids.append(specials[m.group()])
        start = m.end()
    ids.extend(encode_ordinary(text[start:], ranks, pattern))
    return ids
