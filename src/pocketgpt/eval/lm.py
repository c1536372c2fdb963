"""Batched model calls the eval tasks share: greedy generation, log-likelihoods, bits per byte.

All three run under ``torch.no_grad`` on whatever device the model is on, in batches,
because eval walks hundreds of prompts and a 2-core CPU cannot afford one at a time.

- :func:`greedy` runs the inference engine of :mod:`pocketgpt.generate` (left-padded
  batches sharing one KV cache, padding masked, per-row positions) with temperature 0.
- :func:`loglikelihood` scores continuations given contexts (right padding, one forward).
- :func:`text_nats` sums the cross-entropy of whole texts in non-overlapping windows.

>>> import torch
>>> from pocketgpt.model import GPT, GPTConfig
>>> m = GPT(GPTConfig(vocab_size=32, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
>>> out = greedy(m, [[1, 2, 3], [4]], max_new_tokens=3, stop_ids=())
>>> [len(ids) for ids, stopped in out]
[3, 3]
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch
import torch.nn.functional as F

from pocketgpt.generate.sampling import over_vocab


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def greedy(model, prompts: Sequence[Sequence[int]], max_new_tokens: int, stop_ids: Iterable[int] = (),
           batch_size: int = 32) -> list[tuple[list[int], bool]]:
    """Greedy continuations: ``(new ids without the stop id, stopped)`` per prompt.

    Runs :class:`pocketgpt.generate.Engine` (KV cache, left-padded batches) over chunks
    of ``batch_size`` prompts. A prompt longer than ``block_size - max_new_tokens``
    keeps its last tokens.
    """
    from pocketgpt.generate import Engine, SamplingParams

    T = model.config.block_size
    max_new_tokens = max(1, min(max_new_tokens, T - 1))
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0, stop_ids=tuple(int(s) for s in stop_ids),
                            truncate="left")
    engine = Engine(model)
    out: list[tuple[list[int], bool]] = []
    for start in range(0, len(prompts), batch_size):
        chunk = [list(p)[-(T - max_new_tokens):] for p in prompts[start:start + batch_size]]
        if any(not p for p in chunk):
            raise ValueError("greedy: every prompt needs at least one token")
        for c in engine.generate_batch(chunk, params):
            out.append((c.ids, isinstance(c.stop, int) and c.finish_reason == "stop"))
    return out


@torch.no_grad()
def loglikelihood(model, pairs: Sequence[tuple[Sequence[int], Sequence[int]]], batch_size: int = 32,
                  vocab_size: int | None = None) -> list[tuple[float, bool]]:
    """``(sum of log p(continuation | context), continuation is the greedy one)`` per pair.

    Both parts are token ids; the context must be non-empty. Too long a pair keeps its
    last ``block_size + 1`` tokens (the continuation first). ``vocab_size`` (the
    tokenizer's) restricts the distribution to real ids, as generation does.
    """
    T = model.config.block_size
    dev = _device(model)
    results: list[tuple[float, bool]] = []
    for start in range(0, len(pairs), batch_size):
        batch = pairs[start:start + batch_size]
        seqs, spans = [], []
        for ctx, cont in batch:
            if not ctx or not cont:
                raise ValueError("loglikelihood: context and continuation must both be non-empty")
            full = (list(ctx) + list(cont))[-(T + 1):]
            n = min(len(cont), len(full) - 1)
            seqs.append(full)
            spans.append(n)
        L = max(len(s) for s in seqs) - 1
        x = torch.zeros(len(seqs), L, dtype=torch.long)
        for i, s in enumerate(seqs):
            x[i, :len(s) - 1] = torch.tensor(s[:-1])
        logits, _ = model(x.to(dev))
        for i, (s, n) in enumerate(zip(seqs, spans)):
            first = len(s) - 1 - n
            lp = F.log_softmax(over_vocab(logits[i, first:len(s) - 1], vocab_size), dim=-1)
            target = torch.tensor(s[-n:], device=dev)
            total = lp.gather(1, target[:, None]).sum().item()
            results.append((total, bool((lp.argmax(-1) == target).all())))
    return results


@torch.no_grad()
def text_nats(model, token_lists: Sequence[Sequence[int]], batch_size: int = 16,
              vocab_size: int | None = None) -> list[float]:
    """Total cross-entropy (nats) of each token list, every token after the first predicted.

    Each list is cut into non-overlapping windows of ``block_size + 1`` tokens sharing
    one token at the seams, the way a document is scored when it is longer than the
    context: every token is predicted exactly once. ``vocab_size`` as in
    :func:`loglikelihood`; without it this is the training loss, over every output row.
    """
    T = model.config.block_size
    dev = _device(model)
    windows: list[tuple[int, list[int]]] = []
    for doc, ids in enumerate(token_lists):
        ids = list(ids)
        for s in range(0, max(len(ids) - 1, 0), T):
            windows.append((doc, ids[s:s + T + 1]))
    totals = [0.0] * len(token_lists)
    for start in range(0, len(windows), batch_size):
        chunk = windows[start:start + batch_size]
        L = max(len(w) for _, w in chunk) - 1
        x = torch.zeros(len(chunk), L, dtype=torch.long)
        y = torch.full((len(chunk), L), -1, dtype=torch.long)
        for i, (_, w) in enumerate(chunk):
            x[i, :len(w) - 1] = torch.tensor(w[:-1])
            y[i, :len(w) - 1] = torch.tensor(w[1:])
        logits, _ = model(x.to(dev))
        ce = F.cross_entropy(over_vocab(logits, vocab_size).flatten(0, 1), y.to(dev).flatten(), ignore_index=-1,
                             reduction="none")
        per_row = ce.view(len(chunk), L).sum(1).tolist()
        for (doc, _), v in zip(chunk, per_row):
            totals[doc] += v
    return totals


def bits_per_byte(nats: float, n_bytes: int) -> float:
    """Nats over a text to bits per UTF-8 byte: ``nats / (ln 2 * bytes)``.

    >>> round(bits_per_byte(math.log(2) * 8, 8), 6)
    1.0
    """
    return nats / (math.log(2) * max(n_bytes, 1))
