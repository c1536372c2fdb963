"""A Kneser-Ney n-gram language model over token ids: the classic baseline for language.

Interpolated *modified* Kneser-Ney (Chen & Goodman 1998, section 4.1.6 of their report),
the smoothing KenLM uses, in numpy. For an n-gram ``h w`` of order ``k`` (``h`` its
``k - 1`` context tokens, ``h'`` the context without its oldest token)::

    p_k(w | h) = (c(h w) - D_k(c(h w)) + gamma_k(h) * p_{k-1}(w | h')) / c(h ·)
    gamma_k(h) = D_k1 * N1(h ·) + D_k2 * N2(h ·) + D_k3 * N3+(h ·)

where ``c(h ·)`` sums ``c(h w)`` over ``w``, ``N1(h ·)`` counts the words seen exactly
once after ``h`` (``N2`` twice, ``N3+`` three times or more), and ``D(c)`` is ``D_k1``,
``D_k2`` or ``D_k3`` for a count of 1, 2 or 3+ (0 for 0). The discounts of each order
come from its count-of-counts ``n1..n4``: ``Y = n1 / (n1 + 2 n2)``,
``D_ki = i - (i + 1) Y n_{i+1} / n_i``. The counts ``c`` are raw counts at the highest
order and *continuation* counts below it (``N1+(· h w)``, how many different tokens
precede ``h w``), except for n-grams that start with ``bos`` (the document separator):
nothing before a document start says anything about it, so those keep their raw
counts, as KenLM does for ``<s>``. A context never seen (or one too long for where a
document starts) leaves ``p_k = p_{k-1}``. The lowest order interpolates with the
uniform distribution over the vocabulary, ``p_0(w) = 1 / V``, so every id has a
nonzero probability and every distribution sums to one.

A worked example, order 2 over the stream ``0 1 2 0 1 0 1 2 2 0`` with ``V = 4``. The
bigrams are ``01`` x3, ``12`` x2, ``20`` x2, ``10`` and ``22`` once: ``n1..n4 = 2, 2, 1, 0``,
so ``Y = 1/3``, ``D1 = 1/3``, ``D2 = 1.5`` and ``D3+ = Y = 1/3`` (``n4`` is 0). The unigram
level's continuation counts (distinct left neighbours) are 2, 1, 2, 0 for ids 0..3, total 5,
all three discounts 0.2, so ``p1 = (c - 0.2 + 0.6 / 4) / 5 = 0.39, 0.19, 0.39, 0.03``. After
``0`` only ``1`` was seen, three times: ``p(1 | 0) = (3 - 1/3 + 1/3 * 0.19) / 3 = 0.91`` and
``p(3 | 0) = (1/3 * 0.03) / 3 = 0.0033``:

>>> lm = KneserNey.fit([0, 1, 2, 0, 1, 0, 1, 2, 2, 0], order=2, vocab_size=4)
>>> p = lm.distribution([0])
>>> [round(float(x), 4) for x in p], round(float(p.sum()), 12)
([0.0433, 0.91, 0.0433, 0.0033], 1.0)

``3``, never seen, keeps a little mass through the uniform floor. :meth:`KneserNey.logprobs` scores
documents (each one's first token, the separator, is context only), as the model's
bits per byte does in :mod:`.compression`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_ORDER = 6
MIN_DISCOUNT = 0.05


def estimate_discounts(counts: np.ndarray) -> np.ndarray:
    """``[0, D1, D2, D3+]`` from the count-of-counts of ``counts`` (Chen & Goodman).

    Where a count-of-count is missing (a tiny corpus) a discount falls back to ``Y``;
    each is kept within ``[MIN_DISCOUNT, i]`` so that every context passes some mass down.

    >>> estimate_discounts(np.array([1] * 10 + [2] * 4 + [3] * 2 + [4])).round(4).tolist()
    [0.0, 0.5556, 1.1667, 1.8889]
    """
    n = [int(np.count_nonzero(counts == i)) for i in range(5)]
    y = n[1] / (n[1] + 2 * n[2]) if n[1] + 2 * n[2] else 0.5
    d = [0.0]
    for i in (1, 2, 3):
        di = i - (i + 1) * y * n[i + 1] / n[i] if n[i] and n[i + 1] else y
        d.append(min(max(di, MIN_DISCOUNT), float(i)))
    return np.array(d)


def _discount(d: np.ndarray, c: np.ndarray) -> np.ndarray:
    return d[np.minimum(c, 3)]


class KneserNey:
    """An interpolated modified Kneser-Ney model; build it with :meth:`fit`."""

    def __init__(self, order: int, vocab_size: int, bos: int | None = None):
        if not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order {order}: expected 1..{MAX_ORDER}")
        self.order, self.V, self.bos = order, int(vocab_size), bos
        # per order k (index k): sorted keys of the seen k-grams (k >= 2), their counts,
        # their context's index, and per context the total count and gamma's numerator
        self.keys: list = [None] * (order + 1)
        self.counts: list = [None] * (order + 1)
        self.total: list = [None] * (order + 1)
        self.gamma: list = [None] * (order + 1)
        self.discounts: list = [None] * (order + 1)
        self.train_tokens = 0

    @classmethod
    def fit(cls, tokens: Sequence[int], order: int, vocab_size: int, bos: int | None = None) -> "KneserNey":
        """Count every n-gram of a token stream (documents joined by ``bos``).

        A k-gram is keyed by ``rank(its last k-1 tokens) * V + its first token``, the rank
        being its suffix's index among the sorted seen (k-1)-grams (a unigram's rank is the
        id itself), so keys stay below ``len(tokens) * V`` at any order.
        """
        lm = cls(order, vocab_size, bos)
        t = np.asarray(tokens, dtype=np.int64)
        V, N = lm.V, len(t)
        lm.train_tokens = N
        if N and (t.min() < 0 or t.max() >= V):
            raise ValueError(f"token ids must be in [0, {V})")
        ranks = [None, t]  # ranks[k][i]: index of the k-gram ending at position i (valid for i >= k - 1)
        raw = [None, np.bincount(t, minlength=V)]
        firsts = [None, np.arange(V)]
        ctx = [None, None]
        for k in range(2, order + 1):
            key = ranks[k - 1][k - 1:] * V + t[:N - k + 1]  # the k-gram ending at k-1, k, ...
            keys, first, inv, cnt = np.unique(key, return_index=True, return_inverse=True, return_counts=True)
            r = np.full(N, -1, dtype=np.int64)
            r[k - 1:] = inv
            ranks.append(r)
            lm.keys[k] = keys
            raw.append(cnt)
            firsts.append(keys % V)
            ctx.append(ranks[k - 1][first + k - 2])  # the (k-1)-gram ending one position earlier
        for k in range(1, order + 1):
            if k == order:
                c = raw[k]
            else:  # continuation counts: how many distinct (k+1)-grams end with this k-gram
                c = np.bincount(lm.keys[k + 1] // V, minlength=len(raw[k]))
                if bos is not None and k >= 2:
                    c = np.where(firsts[k] == bos, raw[k], c)
            d = estimate_discounts(c)
            lm.discounts[k], lm.counts[k] = d, c
            n_ctx = 1 if k == 1 else len(raw[k - 1])
            where = np.zeros(len(c), dtype=np.int64) if k == 1 else ctx[k]
            lm.total[k] = np.bincount(where, weights=c, minlength=n_ctx)
            lm.gamma[k] = np.bincount(where, weights=_discount(d, c), minlength=n_ctx)
        return lm

    def _lookup(self, k: int, suffix_rank: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Index of the k-gram ``first + suffix`` among the seen ones, or -1."""
        ok = (suffix_rank >= 0) & (first >= 0)
        out = np.full(len(first), -1, dtype=np.int64)
        if k > self.order or not ok.any():
            return out
        q = suffix_rank[ok] * self.V + first[ok]
        keys = self.keys[k]
        pos = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        out[ok] = np.where(keys[pos] == q, pos, -1)
        return out

    def score(self, contexts: np.ndarray, words: np.ndarray) -> np.ndarray:
        """``log p(word | context)`` (nats) per row; ``contexts`` is ``(m, order - 1)``, oldest
        token first, ``-1`` where the context is shorter (before a document's start)."""
        words = np.asarray(words, dtype=np.int64)
        m = len(words)
        C = np.asarray(contexts, dtype=np.int64).reshape(m, self.order - 1)
        p = np.full(m, 1.0 / self.V)
        if self.total[1][0] > 0:
            c = self.counts[1][words]
            p = (c - _discount(self.discounts[1], c) + self.gamma[1][0] * p) / self.total[1][0]
        gram, hist = words, None  # ranks of the k-gram (h, w) and of its context h
        for k in range(2, self.order + 1):
            newest = C[:, self.order - k]  # the context token k-1 places back
            hist = newest if k == 2 else self._lookup(k - 1, hist, newest)
            gram = self._lookup(k, gram, newest)
            h = np.where(hist >= 0, hist, 0)
            tot = np.where(hist >= 0, self.total[k][h], 0.0)
            c = np.where(gram >= 0, self.counts[k][np.maximum(gram, 0)], 0)
            seen = tot > 0
            num = c - _discount(self.discounts[k], c) + self.gamma[k][h] * p
            p = np.where(seen, num / np.where(seen, tot, 1.0), p)
        return np.log(p)

    def distribution(self, context: Sequence[int]) -> np.ndarray:
        """``p(w | context)`` for every id ``w`` (the last ``order - 1`` tokens count)."""
        ctx = list(context)[-(self.order - 1):] if self.order > 1 else []
        row = [-1] * (self.order - 1 - len(ctx)) + ctx
        return np.exp(self.score(np.tile(np.array(row, dtype=np.int64), (self.V, 1)), np.arange(self.V)))

    def logprobs(self, docs: Sequence[Sequence[int]]) -> np.ndarray:
        """Log-probabilities (nats) of every token of every document but its first, which
        (like the ``<|endoftext|>`` the model's bpb puts before a document) is context only;
        no context reaches back across a document's start."""
        parts = [np.asarray(d, dtype=np.int64) for d in docs if len(d) > 1]
        if not parts:
            return np.zeros(0)
        stream = np.concatenate(parts)
        lengths = np.array([len(d) for d in parts])
        starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        pos = np.arange(len(stream))
        target = pos != starts
        C = np.full((len(stream), self.order - 1), -1, dtype=np.int64)
        for j in range(1, self.order):  # column order-1-j holds the token j places back
            back = pos - j
            ok = back >= starts
            C[ok, self.order - 1 - j] = stream[back[ok]]
        return self.score(C[target], stream[target])


DEFAULT_ORDER = 5
DEFAULT_MAX_TRAIN_TOKENS = 20_000_000
TRAIN_BLOCKS = 64


def check_options(order: int, max_train_tokens: int) -> None:
    """One-paragraph :class:`UserError` for a bad ``--ngram-order`` or token budget."""
    from pocketgpt.errors import UserError

    if isinstance(order, bool) or not isinstance(order, int) or not 1 <= order <= MAX_ORDER:
        raise UserError(f"--ngram-order: {order!r}; expected a whole number from 1 to {MAX_ORDER} "
                        "(the n of the Kneser-Ney n-gram baseline; 3-5 is usual)")
    if isinstance(max_train_tokens, bool) or not isinstance(max_train_tokens, int) or max_train_tokens < 1:
        raise UserError(f"ngram max_train_tokens: {max_train_tokens!r}; expected a positive number of tokens")


def training_tokens(data_dir, tokenizer, max_tokens: int = DEFAULT_MAX_TRAIN_TOKENS) -> np.ndarray:
    """The train split of the run's token shards as one stream, after a leading separator
    (so the first document starts like every other). Above ``max_tokens`` it keeps
    ``TRAIN_BLOCKS`` evenly spaced stretches, so every part of the mix is represented."""
    from pocketgpt.data import check_tokenizer, read_shard_index
    from pocketgpt.errors import UserError

    if data_dir is None or not (data_dir / "index.json").is_file():
        raise UserError(f"ngram: the run's token shards ({data_dir}) are not at hand; the n-gram baseline is "
                        "trained on their train split")
    check_tokenizer(data_dir, tokenizer)
    index = read_shard_index(data_dir)
    arrays = [np.load(data_dir / s["file"], mmap_mode="r", allow_pickle=False)
              for s in index["splits"]["train"]["shards"]]
    total = sum(len(a) for a in arrays)
    if total == 0:
        raise UserError(f"ngram: {data_dir} has no training tokens")
    if total <= max_tokens:
        spans = [(0, total)]
    else:
        step, size = total // TRAIN_BLOCKS, max(max_tokens // TRAIN_BLOCKS, 1)
        spans = [(b * step, b * step + size) for b in range(TRAIN_BLOCKS)]
    offsets = np.cumsum([0] + [len(a) for a in arrays])
    parts = [np.array([tokenizer.eot_id], dtype=np.int64)]
    for lo, hi in spans:
        for a, start in zip(arrays, offsets[:-1]):
            s, e = max(lo - start, 0), min(hi - start, len(a))
            if s < e:
                parts.append(np.asarray(a[s:e], dtype=np.int64))
    return np.concatenate(parts)


def seen_tokens(data_dir, tokenizer, loader_state: dict, max_tokens: int = DEFAULT_MAX_TRAIN_TOKENS) -> np.ndarray:
    """The tokens pretraining saw, as one stream: every window its loader served (from the
    checkpoint's loader state), each after ``<|endoftext|>`` so that no n-gram spans two
    windows, just as no context of the model does. Above ``max_tokens`` it keeps evenly
    spaced windows. A repeated window (a second epoch) counts again, as it did for the model."""
    from pocketgpt.data import ShardLoader, check_tokenizer

    check_tokenizer(data_dir, tokenizer)
    loader = ShardLoader(data_dir, loader_state.get("split", "train"), batch_size=1,
                         seq_len=int(loader_state["seq_len"]), seed=int(loader_state["seed"]),
                         sequential=bool(loader_state["sequential"]))
    loader.load_state_dict(loader_state)  # same shards, tokenizer and settings, or a UserError saying which
    n = loader.position
    keep = max(1, max_tokens // (loader.seq_len + 2))
    picks = range(n) if n <= keep else np.linspace(0, n - 1, keep).round().astype(np.int64)
    eot = np.array([tokenizer.eot_id], dtype=np.int64)
    parts = [p for w in loader.served(picks) for p in (eot, np.asarray(w, dtype=np.int64))]
    return np.concatenate(parts) if parts else eot


def ngram_report(tokenizer, data_dir, groups: dict[str, list[str]], order: int = DEFAULT_ORDER,
                 max_train_tokens: int = DEFAULT_MAX_TRAIN_TOKENS, loader_state: dict | None = None) -> dict:
    """Per group of held-out texts: the n-gram model's bits per byte, each document scored
    after ``<|endoftext|>`` exactly as :func:`.compression.model_bpb` scores the model.

    With ``loader_state`` (the pretraining checkpoint's) it is fitted on the tokens the model
    saw (``fitted_on: "seen"``, :func:`seen_tokens`), the fair comparison at equal data, and
    the fit on the whole train split (up to ``max_train_tokens``) is kept beside it as
    ``split_bpb``; without, on the train split alone (``fitted_on: "train split"``).
    """
    check_options(order, max_train_tokens)
    fits = {"train split": training_tokens(data_dir, tokenizer, max_train_tokens)}
    if loader_state is not None:
        fits = {"seen": seen_tokens(data_dir, tokenizer, loader_state, max_train_tokens), **fits}
    out: dict = {}
    for fitted_on, stream in fits.items():
        for name, res in _score_groups(tokenizer, stream, groups, order).items():
            if name not in out:
                out[name] = {**res, "fitted_on": fitted_on}
            else:
                out[name].update(split_bpb=res["bpb"], split_train_tokens=res["train_tokens"])
    return out


def _score_groups(tokenizer, stream: np.ndarray, groups: dict[str, list[str]], order: int) -> dict:
    import time

    from pocketgpt.eval.lm import bits_per_byte

    t0 = time.perf_counter()
    lm = KneserNey.fit(stream, order, tokenizer.vocab_size, bos=tokenizer.eot_id)
    fit_s = time.perf_counter() - t0
    out = {}
    for name, texts in groups.items():
        if not texts:
            continue
        ids = [[tokenizer.eot_id] + tokenizer.encode(t) for t in texts]
        nats = -float(lm.logprobs(ids).sum())
        n_bytes = sum(len(t.encode("utf-8")) for t in texts)
        out[name] = {"bpb": bits_per_byte(nats, n_bytes), "order": order, "smoothing": "modified Kneser-Ney",
                     "bytes": n_bytes, "tokens": sum(len(i) - 1 for i in ids), "documents": len(texts),
                     "train_tokens": lm.train_tokens, "fit_seconds": round(fit_s, 2)}
    return out
