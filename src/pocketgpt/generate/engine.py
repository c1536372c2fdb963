"""The inference engine: prompts in, token events out.

:class:`Engine` wraps a model (and optionally its tokenizer) and runs requests:
``stream`` yields one :class:`Token` event per generated token, as it is
generated; ``generate`` collects them into a :class:`Completion`. The batch
forms take several prompts (of any lengths) and finish each on its own.

Work happens only while the caller iterates: stop iterating (``break``, or
``close()`` the generator) and no further forward pass runs. That is the
cancellation the server uses.

>>> import torch
>>> from pocketgpt.model import GPT, GPTConfig
>>> torch.manual_seed(0) and None
>>> model = GPT(GPTConfig(vocab_size=32, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
>>> engine = Engine(model)
>>> done = engine.generate([1, 2, 3], max_new_tokens=5, temperature=0)
>>> len(done.ids), done.finish_reason
(5, 'length')
>>> [t.id for t in engine.stream([1, 2, 3], max_new_tokens=5, temperature=0)] == done.ids
True
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch

from pocketgpt.errors import UserError
from pocketgpt.generate import fastpath
from pocketgpt.generate.decoder import Decoder
from pocketgpt.generate.fastpath import DecodeWeights
from pocketgpt.generate.sampling import SamplingParams, next_token, over_vocab, top_alternatives
from pocketgpt.generate.text import TextStream


# Decode copies of the wide matrices are made by default up to this size: past it
# the memory matters more than the ~13% they save per token.
COPY_LIMIT_BYTES = 512 * 2**20


@contextlib.contextmanager
def _inference(model):
    """Inference mode, and eval mode (no dropout) for a model left in training mode,
    restored afterwards: the engine must not change the caller's model."""
    was_training = model.training
    if was_training:
        model.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        if was_training:
            model.train()


@dataclass
class Token:
    """One generated token.

    ``text`` is the text released at this step: whole characters only, so it may
    be empty (half a character, or text held back in case it begins a stop string)
    or carry text from earlier tokens. A stop token's own text is never included.
    ``logprob``/``top_logprobs`` are under the model's raw distribution (set when
    asked for). ``finish_reason`` is set on a sequence's last event: ``"stop"`` (a
    stop id was sampled or a stop string appeared) or ``"length"`` (max_new_tokens
    reached, or the context window is full). ``seq`` is the request's index in a
    batch; ``index`` the token's index among its generated tokens.
    """

    id: int
    text: str = ""
    logprob: float | None = None
    top_logprobs: list[tuple[int, float]] | None = None
    finish_reason: str | None = None
    seq: int = 0
    index: int = 0
    is_stop_id: bool = False


@dataclass
class Completion:
    """A finished request. ``ids`` leave out a stop id that ended it; ``text`` (when a
    tokenizer is known) is cut before a matched stop string; ``stop`` is what
    stopped it (the stop string or id), if anything did."""

    prompt_ids: list[int]
    ids: list[int] = field(default_factory=list)
    text: str | None = None
    finish_reason: str | None = None
    stop: str | int | None = None
    tokens: list[Token] = field(default_factory=list)


@dataclass
class Score:
    """``logprob``: summed log-likelihood of the continuation; ``is_greedy``: every
    continuation token is the argmax; ``token_logprobs``: one per continuation token."""

    logprob: float
    is_greedy: bool
    token_logprobs: list[float]


class Engine:
    """Runs generation and scoring for one model. ``tokenizer`` is needed for text
    prompts, text deltas and stop strings; ids-only use works without it.
    ``fast=False`` decodes with ``model.forward`` instead of the lean
    :class:`~pocketgpt.generate.fastpath.FastStep` (same logits, slower).
    ``copy_weights`` lets the fast step keep decode-friendly copies of the wide
    matrices (faster, more memory; see :mod:`pocketgpt.generate.fastpath`); the
    default ``None`` does so when the copies come to at most
    :data:`COPY_LIMIT_BYTES`."""

    def __init__(self, model, tokenizer=None, *, fast: bool = True, copy_weights: bool | None = None):
        self.model = model
        self.fast = fast
        self.copy_weights = copy_weights
        self._weights: DecodeWeights | None = None
        self.tokenizer = tokenizer
        self.block_size = model.config.block_size
        self.vocab_size = model.config.vocab_size

    @property
    def usable_vocab(self) -> int:
        """The ids a token can have: the tokenizer's, when the model's vocabulary is padded past it."""
        return self.tokenizer.vocab_size if self.tokenizer is not None else self.vocab_size

    # -- prompts ------------------------------------------------------------------

    def encode(self, prompt: str | Sequence[int], what: str = "prompt") -> list[int]:
        """Token ids for a prompt. Text is encoded with special tokens disallowed, so
        typed text can never become a control token."""
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise UserError(f"{what}: got text but the engine has no tokenizer; pass token ids or a tokenizer")
            ids = self.tokenizer.encode(prompt)
        else:
            ids = [int(i) for i in prompt]
        if not ids:
            raise UserError(f"{what}: is empty; expected at least one token")
        bad = next((i for i in ids if not 0 <= i < self.vocab_size), None)
        if bad is not None:
            raise UserError(f"{what}: token id {bad} is outside the vocabulary (0..{self.vocab_size - 1})")
        return ids

    def _fit(self, ids: list[int], p: SamplingParams) -> tuple[list[int], int]:
        """(prompt ids, token budget) so that prompt + generated <= block_size."""
        T = self.block_size
        if p.truncate == "left" and len(ids) + p.max_new_tokens > T:
            ids = ids[-max(1, T - p.max_new_tokens):]
        if len(ids) >= T:
            raise UserError(
                f"prompt: {len(ids)} tokens leave no room in the model's {T}-token context window; "
                f"shorten it or ask for left truncation (truncate='left', --truncate)")
        return ids, min(p.max_new_tokens, T - len(ids))

    @staticmethod
    def _params(params: SamplingParams | None, kw: dict) -> SamplingParams:
        if params is None:
            return SamplingParams(**kw)
        if kw:
            raise TypeError("pass either a SamplingParams or keyword arguments, not both")
        return params.validate()

    def decode_weights(self) -> DecodeWeights | None:
        """The fast step's weights for the model as it is now: kept across requests,
        rebuilt when a parameter has changed (training between samples) or the
        thread count has. None where the fast step does not apply."""
        if not (self.fast and fastpath.supported(self.model)):
            return None
        w = self._weights
        if w is None or w.splits != torch.get_num_threads() or not w.fresh(self.model):
            copy = self.copy_weights
            if copy is None:
                copy = DecodeWeights.copy_bytes(self.model) <= COPY_LIMIT_BYTES
            self._weights = w = DecodeWeights(self.model, copy=copy)
        return w

    # -- generation ---------------------------------------------------------------

    def stream(self, prompt: str | Sequence[int], params: SamplingParams | None = None, *,
               use_cache: bool = True, **kw) -> Iterator[Token]:
        """Yield :class:`Token` events for one prompt. Keyword arguments are
        :class:`SamplingParams` fields (``max_new_tokens=..., temperature=...``)."""
        return self.stream_batch([prompt], self._params(params, kw), use_cache=use_cache)

    def generate(self, prompt: str | Sequence[int], params: SamplingParams | None = None, *,
                 use_cache: bool = True, **kw) -> Completion:
        return self.generate_batch([prompt], self._params(params, kw), use_cache=use_cache)[0]

    def generate_batch(self, prompts: Sequence[str | Sequence[int]],
                       params: SamplingParams | Sequence[SamplingParams] | None = None, *,
                       use_cache: bool = True, **kw) -> list[Completion]:
        """One :class:`Completion` per prompt, in order. ``params`` may be one for
        all prompts or one per prompt (each with its own seed)."""
        ps = self._param_list(prompts, params, kw)
        out = [Completion(prompt_ids=[]) for _ in prompts]
        for tok in self.stream_batch(prompts, ps, use_cache=use_cache, _completions=out):
            c = out[tok.seq]
            c.tokens.append(tok)
            if not tok.is_stop_id:
                c.ids.append(tok.id)
            if self.tokenizer is not None:
                c.text = (c.text or "") + tok.text
            if tok.finish_reason:
                c.finish_reason = tok.finish_reason
                if tok.is_stop_id:
                    c.stop = tok.id
        return out

    def _param_list(self, prompts, params, kw) -> list[SamplingParams]:
        if isinstance(params, SamplingParams) or params is None:
            p = self._params(params, kw)
            return [p] * len(prompts)
        ps = [q.validate() for q in params]
        if len(ps) != len(prompts):
            raise UserError(f"params: got {len(ps)} SamplingParams for {len(prompts)} prompts")
        return ps

    def stream_batch(self, prompts: Sequence[str | Sequence[int]],
                     params: SamplingParams | Sequence[SamplingParams] | None = None, *,
                     use_cache: bool = True, _completions: list[Completion] | None = None,
                     **kw) -> Iterator[Token]:
        """Events for several prompts, interleaved step by step (``Token.seq`` says
        whose). Each sequence stops on its own; the stream ends when all have."""
        if not prompts:
            raise UserError("prompts: the batch is empty")
        ps = self._param_list(prompts, params, kw)
        fitted = [self._fit(self.encode(pr), p) for pr, p in zip(prompts, ps)]
        if any(p.stop for p in ps) and self.tokenizer is None:
            raise UserError("stop: stop strings need a tokenizer; pass one to the Engine")
        if _completions is not None:
            for c, (ids, _) in zip(_completions, fitted):
                c.prompt_ids = ids
        return self._run([f[0] for f in fitted], [f[1] for f in fitted], ps, use_cache)

    def _run(self, prompts: list[list[int]], budgets: list[int], ps: list[SamplingParams],
             use_cache: bool) -> Iterator[Token]:
        model, B = self.model, len(prompts)
        gens = [None if p.greedy else p.make_generator(next(model.parameters()).device) for p in ps]
        texts = [TextStream(self.tokenizer, p.stop) if self.tokenizer is not None else None for p in ps]
        seen = [None] * B
        for b, p in enumerate(ps):
            if p.repetition_penalty != 1.0:
                seen[b] = torch.zeros(self.vocab_size, dtype=torch.bool)
                seen[b][torch.tensor(prompts[b])] = True
        done = [False] * B
        count = [0] * B
        # rows whose choice is a plain argmax share one batched argmax per step
        plain = [p.greedy and p.repetition_penalty == 1.0 for p in ps]
        # A model whose vocabulary is padded past its tokenizer's must not pick ids that have no text.
        usable = self.usable_vocab
        # Inference mode is entered per step, never held across a yield: the caller's own
        # code between tokens must not run in it.
        with _inference(self.model):
            weights = self.decode_weights() if use_cache else None
            dec = Decoder(model, prompts, max(budgets), use_cache=use_cache, fast=self.fast, weights=weights)
            logits = over_vocab(dec.prefill(), usable)
        while True:
            events = []
            with _inference(self.model):
                nxt = [0] * B
                argmax = logits.argmax(-1).tolist() if any(plain) else None
                for b in range(B):
                    if done[b]:
                        continue
                    p, row = ps[b], logits[b]
                    if plain[b]:
                        tok = argmax[b]
                    else:
                        tok = next_token(row, p, gens[b], seen[b] if seen[b] is not None else ())
                    nxt[b] = tok
                    count[b] += 1
                    if seen[b] is not None:
                        seen[b][tok] = True
                    event = Token(id=tok, seq=b, index=count[b] - 1)
                    if p.logprobs or p.top_logprobs:
                        lp = torch.log_softmax(row, -1)
                        event.logprob = float(lp[tok])
                        event.top_logprobs = top_alternatives(lp, p.top_logprobs)
                    self._finish(event, p, texts[b], budgets[b])
                    done[b] = event.finish_reason is not None
                    events.append(event)
            yield from events
            if all(done):
                return
            with _inference(self.model):
                logits = over_vocab(dec.step(nxt), usable)

    @staticmethod
    def _finish(event: Token, p: SamplingParams, text: TextStream | None, budget: int) -> None:
        """Set the event's text and, if the sequence ends here, its finish reason."""
        if event.id in p.stop_ids:
            event.is_stop_id, event.finish_reason = True, "stop"
            event.text = text.flush() if text else ""
            return
        if text is not None:
            event.text, hit = text.push(event.id)
            if hit is not None:
                event.finish_reason = "stop"
                return
        if event.index + 1 >= budget:
            event.finish_reason = "length"
            if text is not None:
                event.text += text.flush()

    # -- scoring ------------------------------------------------------------------

    def score(self, context: str | Sequence[int], continuation: str | Sequence[int], *,
              truncate: str | None = None) -> Score:
        """Log-likelihood of ``continuation`` after ``context`` (one forward pass)."""
        return self.score_batch([(context, continuation)], truncate=truncate)[0]

    def score_batch(self, pairs: Sequence[tuple], *, truncate: str | None = None) -> list[Score]:
        """:meth:`score` for many (context, continuation) pairs in one right-padded
        forward pass. Right padding sits after every scored position, so causal
        attention never sees it. ``truncate="left"`` drops the oldest context
        tokens of a pair that does not fit the context window. With a tokenizer,
        probabilities are over its ids, as in generation: output rows a padded
        vocabulary adds are not tokens and get no mass."""
        if truncate not in (None, "left"):
            raise UserError(f"truncate: must be None or 'left', got {truncate!r}")
        if not pairs:
            return []
        rows = []
        for ctx, cont in pairs:
            c, x = self.encode(ctx, "score context"), self.encode(cont, "score continuation")
            if len(c) + len(x) > self.block_size:
                if truncate != "left" or len(x) >= self.block_size:
                    raise UserError(
                        f"score: context + continuation is {len(c) + len(x)} tokens, more than the model's "
                        f"{self.block_size}-token context window" + ("" if truncate else "; ask for truncate='left'"))
                c = c[len(c) + len(x) - self.block_size:]
            rows.append((c, x))
        width = max(len(c) + len(x) for c, x in rows) - 1
        dev = next(self.model.parameters()).device
        idx = torch.zeros(len(rows), width, dtype=torch.long, device=dev)
        for i, (c, x) in enumerate(rows):
            seq = (c + x)[:-1]
            idx[i, : len(seq)] = torch.tensor(seq)
        usable = self.usable_vocab
        with _inference(self.model):
            logits, _ = self.model(idx)
        out = []
        for i, (c, x) in enumerate(rows):
            # a copy: the logits are an inference tensor, which cannot be written out here
            span = over_vocab(logits[i, len(c) - 1 : len(c) - 1 + len(x)].float().clone(), usable)
            lp = torch.log_softmax(span, -1)
            target = torch.tensor(x, device=dev)
            tl = lp.gather(-1, target[:, None])[:, 0]
            greedy = bool((lp.argmax(-1) == target).all())
            out.append(Score(float(tl.double().sum()), greedy, tl.tolist()))
        return out
