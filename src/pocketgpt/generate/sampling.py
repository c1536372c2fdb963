"""Sampling: one request's knobs, the logits filters, and a seeded draw.

A request's :class:`SamplingParams` say how the next token is chosen from the
model's logits. The pipeline, in order (the same order as Hugging Face's):
repetition penalty, temperature, top-k, top-p (nucleus), min-p, then one draw
from the request's own ``torch.Generator``. ``temperature=0`` is greedy
(argmax after the repetition penalty).

>>> import torch
>>> logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
>>> p = SamplingParams(temperature=1.0, top_k=2)
>>> filter_logits(logits, p).isinf().tolist()
[False, False, True, True]
>>> g = torch.Generator().manual_seed(0)
>>> next_token(logits, p, g) in (0, 1)
True
>>> next_token(logits, SamplingParams(temperature=0), g)
0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from pocketgpt.errors import UserError


@dataclass
class SamplingParams:
    """How one request picks tokens and when it stops.

    ``temperature`` 0 is greedy. ``top_k`` 0/None, ``top_p`` 1/None, ``min_p``
    0/None and ``repetition_penalty`` 1 switch that filter off. ``seed`` None
    draws a fresh seed from the OS. ``stop_ids`` end generation when sampled
    (the id is not part of the returned ids); ``stop`` strings end it when they
    appear in the generated text (the text is cut before them; needs a
    tokenizer). ``logprobs`` asks for each token's log-probability and
    ``top_logprobs`` for that many most likely alternatives at each step (both
    under the model's raw distribution, before temperature and filters).
    ``truncate="left"`` drops the oldest prompt tokens to make room instead
    of refusing a prompt longer than the context.
    """

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop_ids: tuple[int, ...] = ()
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    truncate: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            self.stop = (self.stop,)
        self.stop = tuple(self.stop)
        if isinstance(self.stop_ids, int):
            self.stop_ids = (self.stop_ids,)
        self.stop_ids = tuple(int(i) for i in self.stop_ids)
        self.validate()

    def validate(self) -> "SamplingParams":
        """Raise :class:`UserError` naming the first bad field."""
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise UserError(f"max_new_tokens: must be an integer >= 1, got {self.max_new_tokens!r}")
        if not _finite(self.temperature) or self.temperature < 0:
            raise UserError(f"temperature: must be a number >= 0 (0 is greedy), got {self.temperature!r}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < 0):
            raise UserError(f"top_k: must be an integer >= 0 (0 or None is off), got {self.top_k!r}")
        if self.top_p is not None and (not _finite(self.top_p) or not 0.0 < self.top_p <= 1.0):
            raise UserError(f"top_p: must be in (0, 1] (1 or None is off), got {self.top_p!r}")
        if self.min_p is not None and (not _finite(self.min_p) or not 0.0 <= self.min_p <= 1.0):
            raise UserError(f"min_p: must be in [0, 1] (0 or None is off), got {self.min_p!r}")
        if not _finite(self.repetition_penalty) or self.repetition_penalty <= 0:
            raise UserError(f"repetition_penalty: must be a number > 0 (1 is off), got {self.repetition_penalty!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or self.seed < 0):
            raise UserError(f"seed: must be an integer >= 0, got {self.seed!r}")
        for s in self.stop:
            if not isinstance(s, str) or not s:
                raise UserError(f"stop: stop strings must be non-empty text, got {s!r}")
        if not isinstance(self.top_logprobs, int) or self.top_logprobs < 0:
            raise UserError(f"top_logprobs: must be an integer >= 0, got {self.top_logprobs!r}")
        if self.truncate not in (None, "left"):
            raise UserError(f"truncate: must be None or 'left', got {self.truncate!r}")
        return self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def make_generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        """This request's own RNG: seeded when ``seed`` is set, else from OS entropy."""
        g = torch.Generator(device=device)
        if self.seed is None:
            g.seed()
        else:
            g.manual_seed(self.seed)
        return g


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def apply_repetition_penalty(logits: torch.Tensor, seen: Iterable[int] | torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's penalty on ``logits`` (V,): seen tokens' positive logits are divided by
    ``penalty``, negative ones multiplied. ``seen`` is token ids or a (V,) bool mask.
    Returns a new tensor.

    >>> apply_repetition_penalty(torch.tensor([2.0, -2.0, 1.0]), [0, 1], 2.0).tolist()
    [1.0, -4.0, 1.0]
    """
    if penalty == 1.0:
        return logits
    if isinstance(seen, torch.Tensor) and seen.dtype == torch.bool:
        mask = seen.to(logits.device)
    else:
        ids = torch.as_tensor(list(seen) if not isinstance(seen, torch.Tensor) else seen, dtype=torch.long)
        mask = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
        mask[ids.to(logits.device)] = True
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(mask, penalized, logits)


def candidates(logits: torch.Tensor, p: SamplingParams) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The tokens that survive temperature, top-k, top-p and min-p on ``logits`` (V,).

    Returns (scaled logits of the survivors, their ids), or (all scaled logits,
    None) when no filter applies. With top-k only k candidates are carried, so
    top-p and min-p work on k values instead of the whole vocabulary; ties at
    the k-th value are broken by ``torch.topk``. The most likely token always
    survives.
    """
    t = p.temperature if p.temperature > 0 else 1.0
    x = logits.float() / t
    if torch.isposinf(x).any() or torch.isnan(x).any():
        # A temperature so small that scaling overflows (in float32 it may even be 0):
        # the softmax would be NaN. Use its limit instead, all mass on the best logit(s).
        best = logits.float().max()
        x = torch.where(logits.float() == best, 0.0, float("-inf"))
    V = x.shape[-1]
    vals, idx = x, None
    if p.top_k and p.top_k < V:
        vals, idx = torch.topk(x, p.top_k)  # sorted, most likely first
    if p.top_p is not None and p.top_p < 1.0:
        if idx is None:
            vals, idx = torch.sort(x, descending=True)
        probs = torch.softmax(vals, -1)
        # Keep a token while the mass strictly before it is below top_p: the smallest
        # prefix whose mass reaches top_p (never less than the first token).
        before = torch.cumsum(probs, -1) - probs
        n = max(1, int((before < p.top_p).sum()))
        vals, idx = vals[:n], idx[:n]
    if p.min_p:
        probs = torch.softmax(vals, -1)
        keep = probs >= p.min_p * probs.max()
        if idx is None:
            vals = vals.masked_fill(~keep, float("-inf"))
        else:
            vals, idx = vals[keep], idx[keep]
    return vals, idx


def filter_logits(logits: torch.Tensor, p: SamplingParams) -> torch.Tensor:
    """:func:`candidates` as a full (V,) tensor: survivors keep their scaled logit,
    removed tokens become ``-inf``."""
    vals, idx = candidates(logits, p)
    if idx is None:
        return vals
    return torch.full_like(logits, float("-inf"), dtype=torch.float32).scatter(0, idx, vals)


def draw(logits: torch.Tensor, generator: torch.Generator) -> int:
    """Sample an index from ``softmax(logits)`` (V,) with one uniform from ``generator``.

    Inverse-CDF sampling: one random number per step whatever the vocabulary
    size, so a request's tokens depend only on its own seed and its own logits,
    not on what else shares the batch.
    """
    probs = torch.softmax(logits.float(), -1)
    cdf = torch.cumsum(probs, -1)
    if not bool(torch.isfinite(cdf[-1])):  # a NaN would silently draw the last id
        raise ValueError("cannot sample: the logits hold NaN (or no finite value); the model's output is broken")
    u = torch.rand((), generator=generator, device=generator.device).to(cdf.device) * cdf[-1]
    i = int(torch.searchsorted(cdf, u[None], right=True))
    return min(i, cdf.shape[-1] - 1)


def next_token(logits: torch.Tensor, p: SamplingParams, generator: torch.Generator | None,
               seen: Iterable[int] | torch.Tensor = ()) -> int:
    """The next token for one sequence from its last-position ``logits`` (V,)."""
    if p.repetition_penalty != 1.0:
        logits = apply_repetition_penalty(logits, seen, p.repetition_penalty)
    if p.greedy:
        return int(torch.argmax(logits))
    vals, idx = candidates(logits, p)
    i = draw(vals, generator)
    return i if idx is None else int(idx[i])


def over_vocab(logits: torch.Tensor, vocab_size: int | None) -> torch.Tensor:
    """``logits`` in fp32 with ids ``vocab_size`` and up at -inf: the output rows a
    vocabulary padded past its tokenizer adds are no token, so they get no probability
    and are never drawn. Writes in place when ``logits`` is fp32 already.

    >>> over_vocab(torch.zeros(1, 4), 3).tolist()
    [[0.0, 0.0, 0.0, -inf]]
    """
    x = logits.float()
    if vocab_size is not None and vocab_size < x.shape[-1]:
        x[..., vocab_size:] = float("-inf")
    return x


def top_alternatives(logprobs: torch.Tensor, k: int) -> list[tuple[int, float]]:
    """The ``k`` most likely (id, logprob) pairs from ``logprobs`` (V,), best first."""
    if k <= 0:
        return []
    vals, idx = torch.topk(logprobs, min(k, logprobs.shape[-1]))
    return list(zip(idx.tolist(), vals.tolist()))
