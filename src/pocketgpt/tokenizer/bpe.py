"""Byte-level BPE training.

The algorithm, as in the lecture: split text into chunks with a regex, start from
the 256 raw bytes, and repeatedly merge the most frequent adjacent pair of symbols
into a new symbol, never across chunk boundaries.

The merge rule, exactly (it makes training deterministic and checkable):

* Each step merges the adjacent pair with the highest count over the corpus.
* A tie goes to the smallest pair, comparing ``(left_id, right_id)`` as integers.
* Ids 0..255 are the raw bytes; merge ``k`` creates id ``256 + k``.
* Within a chunk, occurrences are merged left to right, so ``aaa`` with the pair
  ``(a, a)`` becomes ``[aa, a]``.
* A pair whose bytes already form a token is never merged (skipped, and the next
  best pair is taken), so every token has distinct bytes, as tiktoken requires.

Worked examples of the two primitives:

>>> pair_counts([1, 2, 3, 1, 2])
{(1, 2): 2, (2, 3): 1, (3, 1): 1}
>>> merge([1, 2, 3, 1, 2], (1, 2), 256)
[256, 3, 256]

How it is fast in pure Python (see ``shared/notes/bpe-training-speed.md``):

1. Count distinct chunks, not the corpus: memory grows with distinct chunks.
2. The pre-split, the only pass over every byte, runs in worker processes.
3. A chunk is a ``str`` with one character per symbol (``chr(id)``). A pair is a
   2-character string whose ordering is the ``(left_id, right_id)`` ordering, and
   applying a merge is one ``str.replace`` in C.
4. Pair counts are updated incrementally: only chunks holding the merged pair are
   visited, and a lazy max-heap finds the best pair.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import regex

from pocketgpt.parallel import bounded_imap, process_pool


def pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    """Count adjacent pairs: ``[1, 2, 3, 1, 2] -> {(1, 2): 2, (2, 3): 1, (3, 1): 1}``."""
    counts: dict[tuple[int, int], int] = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace each left-to-right occurrence of ``pair`` with ``new_id``.

    >>> merge([97, 97, 97], (97, 97), 256)
    [256, 97]
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


# ---------------------------------------------------------------------------
# Pre-split: text -> Counter of distinct chunks


def _count_chunks(args: tuple[str, list[str]]) -> tuple[Counter, int]:
    pattern, texts = args
    compiled = regex.compile(pattern)
    counts: Counter = Counter()
    for text in texts:
        counts.update(compiled.findall(text))
    return counts, sum(map(len, texts))


def _safe_cuts(text: str, size: int) -> Iterator[str]:
    """Cut a long text into ~``size`` pieces at "X\\nY" (X, Y not whitespace).

    Neither split pattern joins a chunk across such a point, nor does the chunk
    that ends there depend on what follows, so counting the pieces separately
    gives exactly the counts of the whole.
    """
    start = 0
    while len(text) - start > size:
        cut = start + size
        while True:
            nl = text.find("\n", cut)
            if nl < 0 or nl + 1 >= len(text):
                yield text[start:]
                return
            if not text[nl - 1].isspace() and not text[nl + 1].isspace():
                break
            cut = nl + 1
        yield text[start : nl + 1]
        start = nl + 1
    yield text[start:]


def _batches(texts: Iterable[str], size: int, stats: dict) -> Iterator[list[str]]:
    """Group documents into lists of about ``size`` characters, cutting huge ones."""
    batch, n = [], 0
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"training texts must be str, got {type(text).__name__}")
        stats["documents"] += 1
        stats["chars"] += len(text)
        for piece in _safe_cuts(text, size):
            batch.append(piece)
            n += len(piece)
            if n >= size:
                yield batch
                batch, n = [], 0
    if batch:
        yield batch


def count_chunks(
    texts: Iterable[str], pattern: str, workers: int | None = None, batch_chars: int = 1 << 22, progress: bool = False
) -> tuple[Counter, dict]:
    """Split every text with ``pattern`` and count distinct chunks, in parallel.

    Returns ``(Counter(chunk -> count), {"documents": n, "chars": n})``.

    >>> from pocketgpt.tokenizer.patterns import GPT4_PATTERN
    >>> counts, stats = count_chunks(["the cat", "the dog"], GPT4_PATTERN, workers=1)
    >>> sorted(counts.items()), stats["documents"]
    ([(' cat', 1), (' dog', 1), ('the', 2)], 2)
    """
    from tqdm.auto import tqdm

    workers = workers or min(os.cpu_count() or 1, 8)
    stats = {"documents": 0, "chars": 0}
    total: Counter = Counter()
    jobs = ((pattern, b) for b in _batches(texts, batch_chars, stats))
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            results = map(_count_chunks, jobs)
        else:  # before the bar, whose monitor thread would rule out a fork
            pool = stack.enter_context(process_pool(workers))
            results = bounded_imap(pool, _count_chunks, jobs, max_pending=2 * workers)
        bar = tqdm(desc="pre-split", unit="char", unit_scale=True, disable=None if progress else True, leave=False)
        for counts, n_chars in results:
            if total:
                total.update(counts)
            else:
                total = counts
            bar.update(n_chars)
    bar.close()
    return total, stats


# ---------------------------------------------------------------------------
# The merge loop


@dataclass
class TrainResult:
    merges: list[tuple[int, int]]  # merge k is (left_id, right_id) -> 256 + k
    vocab: list[bytes]  # vocab[i] is the bytes of token i
    stats: dict = field(default_factory=dict)


def learn_merges(chunk_counts: dict[str, int], num_merges: int, progress: bool = True) -> TrainResult:
    """Learn up to ``num_merges`` merges from ``{chunk_text: count}``.

    >>> r = learn_merges({"aaab": 2, "ab": 1}, 2, progress=False)
    >>> r.merges, r.vocab[256:]
    ([(97, 97), (97, 98)], [b'aa', b'ab'])
    """
    from tqdm.auto import tqdm

    # One char per symbol: the latin-1 decode maps byte b to chr(b).
    words: list[str] = []
    freqs: list[int] = []
    for chunk, n in chunk_counts.items():
        w = chunk.encode("utf-8").decode("latin-1")
        if len(w) > 1:  # single symbols hold no pairs
            words.append(w)
            freqs.append(n)

    vocab = [bytes([i]) for i in range(256)]
    known = set(vocab)
    merges: list[tuple[int, int]] = []
    banned: set[str] = set()
    counts: dict[str, int] = {}
    where: dict[str, set[int] | list[int]] = {}

    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of small objects would trigger full collections over and over
    try:
        for i, w in enumerate(words):
            f = freqs[i]
            for p in map(str.__add__, w, w[1:]):
                counts[p] = counts.get(p, 0) + f
                s = where.get(p)
                if s is None:
                    where[p] = {i}
                else:
                    s.add(i)
        heap = [(-c, p) for p, c in counts.items()]
        heapq.heapify(heap)

        bar = tqdm(total=num_merges, desc="merges", unit="merge", disable=None if progress else True, leave=False)
        while len(merges) < num_merges and heap:
            neg, pair = heapq.heappop(heap)
            current = counts.get(pair, 0)
            if current != -neg or pair in banned:  # stale: the count fell since the push
                if current > 0 and pair not in banned:
                    heapq.heappush(heap, (-current, pair))
                continue
            left, right = ord(pair[0]), ord(pair[1])
            token = vocab[left] + vocab[right]
            if token in known:  # distinct bytes per token; see the module docstring
                banned.add(pair)
                continue
            new_id = len(vocab)
            vocab.append(token)
            known.add(token)
            merges.append((left, right))
            new_sym = chr(new_id)
            # Every pair the merge creates holds the new symbol, so none existed
            # before and none gains chunks in a later step: collect them apart.
            new_counts: dict[str, int] = {}
            new_where: dict[str, list[int]] = {}
            for i in where.pop(pair):
                w = words[i]
                k = w.find(pair)
                if k < 0:  # index left over from an earlier merge
                    continue
                f = freqs[i]
                if w.find(pair, k + 1) < 0:
                    # The common case, one occurrence: only its neighbours change.
                    words[i] = w[:k] + new_sym + w[k + 2 :]
                    created = []
                    if k > 0:
                        counts[w[k - 1 : k + 1]] -= f
                        created.append(w[k - 1] + new_sym)
                    if k + 2 < len(w):
                        counts[w[k + 1 : k + 3]] -= f
                        created.append(new_sym + w[k + 2])
                else:
                    # Several (possibly overlapping) occurrences: subtract all the old
                    # pairs and add back the ones that survive.
                    nw = words[i] = w.replace(pair, new_sym)
                    for p in map(str.__add__, w, w[1:]):
                        counts[p] -= f
                    created = []
                    for p in map(str.__add__, nw, nw[1:]):
                        if new_sym in p:
                            created.append(p)
                        else:
                            counts[p] += f
                for p in created:
                    if p in new_counts:
                        new_counts[p] += f
                        new_where[p].append(i)
                    else:
                        new_counts[p] = f
                        new_where[p] = [i]
            counts.pop(pair, None)
            counts.update(new_counts)
            where.update(new_where)
            for p, c in new_counts.items():
                heapq.heappush(heap, (-c, p))
            bar.update(1)
        bar.close()
    finally:
        if gc_was_enabled:
            gc.enable()
    return TrainResult(
        merges=merges, vocab=vocab, stats={"distinct_chunks": len(chunk_counts), "skipped_duplicates": len(banned)}
    )


def train_bpe(
    texts: Iterable[str],
    num_merges: int,
    pattern: str,
    workers: int | None = None,
    progress: bool = True,
) -> TrainResult:
    """Pre-split ``texts`` with ``pattern`` and learn ``num_merges`` merges."""
    t0 = time.perf_counter()
    chunk_counts, stats = count_chunks(texts, pattern, workers=workers, progress=progress)
    t1 = time.perf_counter()
    result = learn_merges(chunk_counts, num_merges, progress=progress)
    result.stats.update(stats)
    result.stats.update(presplit_seconds=t1 - t0, merge_seconds=time.perf_counter() - t1)
    return result
