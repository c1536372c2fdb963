"""Inference: KV-cached decoding, sampling, streaming, batching and scoring.

The functions here are the stable entry points; :class:`Engine` is the object
form they wrap (text prompts, stop strings, batches, per-request params).

>>> import torch
>>> from pocketgpt.model import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=32, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
>>> ids = generate(model, [1, 2, 3], 4, temperature=0)          # greedy
>>> len(ids)
4
>>> [t.id for t in stream(model, [1, 2, 3], 4, temperature=0)] == ids
True
>>> logprob, is_greedy = score(model, [1, 2, 3], ids)
>>> is_greedy, logprob < 0
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pocketgpt.errors import UserError
from pocketgpt.generate.engine import Completion, Engine, Score, Token
from pocketgpt.generate.fewshot import build_fewshot_prompt, load_examples
from pocketgpt.generate.sampling import SamplingParams, filter_logits, next_token
from pocketgpt.generate.text import TextStream

__all__ = [
    "Completion", "Engine", "SamplingParams", "Score", "TextStream", "Token",
    "build_fewshot_prompt", "filter_logits", "generate", "generate_batch", "load_examples", "next_token", "score",
    "stream",
]


def stream(model, prompt_ids: Sequence[int], max_new_tokens: int, *, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
           stop_ids: Sequence[int] = (), use_cache: bool = True, tokenizer=None, **kw) -> Iterator[Token]:
    """Yield a :class:`Token` per generated token as it is generated.

    Other :class:`SamplingParams` fields go in ``kw`` (``min_p``,
    ``repetition_penalty``, ``stop``, ``logprobs``, ``top_logprobs``,
    ``truncate``). With a ``tokenizer`` each event carries its text delta and
    stop strings work. The last event has ``finish_reason`` "stop" or "length";
    when a stop id ended the stream, that last event is the stop id
    (``is_stop_id``), which :func:`generate` leaves out.
    """
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                            seed=seed, stop_ids=tuple(stop_ids), **kw)
    return Engine(model, tokenizer).stream(prompt_ids, params, use_cache=use_cache)


def generate(model, prompt_ids: Sequence[int], max_new_tokens: int, *, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int | None = None,
             stop_ids: Sequence[int] = (), use_cache: bool = True, tokenizer=None, **kw) -> list[int]:
    """The new token ids (not the prompt; not a stop id that ended generation).

    ``temperature=0`` is greedy. See :func:`stream` for the other arguments.
    """
    return [t.id for t in stream(model, prompt_ids, max_new_tokens, temperature=temperature, top_k=top_k,
                                 top_p=top_p, seed=seed, stop_ids=stop_ids, use_cache=use_cache,
                                 tokenizer=tokenizer, **kw) if not t.is_stop_id]


def generate_batch(model, prompts: Sequence[Sequence[int]], max_new_tokens: int, *,
                   seeds: Sequence[int | None] | None = None, use_cache: bool = True, tokenizer=None,
                   **kw) -> list[list[int]]:
    """:func:`generate` for several prompts of any lengths in one batch: one list of new
    ids per prompt, each equal to what :func:`generate` gives that prompt alone.
    ``seeds`` gives each prompt its own seed; other keywords are :class:`SamplingParams` fields.
    """
    seeds = list(seeds) if seeds is not None else [kw.pop("seed", None)] * len(prompts)
    if len(seeds) != len(prompts):
        raise UserError(f"seeds: got {len(seeds)} seeds for {len(prompts)} prompts")
    params = [SamplingParams(max_new_tokens=max_new_tokens, seed=s, **kw) for s in seeds]
    return [c.ids for c in Engine(model, tokenizer).generate_batch(prompts, params, use_cache=use_cache)]


def score(model, context_ids: Sequence[int], continuation_ids: Sequence[int]) -> tuple[float, bool]:
    """(summed log-probability of ``continuation_ids`` after ``context_ids``, whether
    each continuation token is the model's argmax). One forward pass."""
    s = Engine(model).score(context_ids, continuation_ids)
    return s.logprob, s.is_greedy
