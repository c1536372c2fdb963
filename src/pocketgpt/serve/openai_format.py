"""Requests to engine jobs, and engine events to OpenAI-shaped responses and SSE chunks.

Prompts:

- chat: :func:`pocketgpt.chat.render_for_completion` (format pocketgpt-chat-v1); message
  content is encoded with special tokens disallowed, so a user typing ``<|end|>`` sends
  the characters, never the control token. Any chat special token ends the reply.
- completion: ``<|endoftext|>`` + the prompt text (pretraining puts one before every
  document, so this is "the start of a new document"), specials disallowed too; or
  explicit token ids. ``<|endoftext|>`` ends the reply.

Echo (completions): the prompt's tokens are scored and returned before the reply's.
A text prompt's first token is scored after the ``<|endoftext|>`` the server put
before it, which is not part of the prompt and not echoed; a token-id prompt's first
token has no context, so its logprob is ``null``, as in OpenAI's API.

Choices: ``n`` samples of each prompt; choice ``j * n + i`` is sample ``i`` of prompt
``j``, and with a ``seed`` sample ``i`` uses ``seed + i`` (as ``pocketgpt sample`` does).

>>> sample_seeds(7, 3), sample_seeds(None, 2)
([7, 8, 9], [None, None])
"""

from __future__ import annotations

import json
import secrets
import time

from pocketgpt.errors import UserError
from pocketgpt.generate.text import TextStream
from pocketgpt.serve.engine import Finish, PromptScores, SamplingParams, TokenEvent
from pocketgpt.serve.models import ServedModel
from pocketgpt.serve.text import token_text


class ApiError(Exception):
    """An OpenAI-style error: HTTP status, message, the offending parameter."""

    def __init__(self, status: int, message: str, param: str | None = None, type: str = "invalid_request_error",
                 code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.type, self.code = status, message, param, type, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


# -- prompts --------------------------------------------------------------------------

def chat_prompt(served: ServedModel, messages) -> list[int]:
    from pocketgpt.chat.format import render_for_completion

    if not served.chat_ready:
        raise ApiError(400, f"model {served.id!r}: its tokenizer lacks the chat special tokens, so it cannot "
                            "chat; use /v1/completions for raw text", "model")
    msgs = [{"role": m.role, "content": m.text} for m in messages]
    try:
        return render_for_completion(msgs, served.tokenizer, where="messages")
    except UserError as e:
        raise ApiError(400, str(e), "messages") from None


def chat_stop_ids(served: ServedModel) -> frozenset:
    from pocketgpt.chat.format import SPECIALS

    return frozenset(served.tokenizer.special_tokens[s] for s in SPECIALS if s in served.tokenizer.special_tokens)


def completion_prompt(served: ServedModel, prompt) -> list[int]:
    tok = served.tokenizer
    if isinstance(prompt, str):
        return [tok.eot_id] + tok.encode(prompt, allowed_special=())
    bad = next((i for i in prompt if not 0 <= i < tok.vocab_size), None)
    if bad is not None:
        raise ApiError(400, f"prompt: token id {bad} is not in the vocabulary (0..{tok.vocab_size - 1})", "prompt")
    return list(prompt)


def sample_seeds(seed: int | None, n: int) -> list[int | None]:
    """The seed of each of ``n`` samples: ``seed + i`` (wrapped into torch's 64-bit range)."""
    if seed is None:
        return [None] * n
    return [(seed + i) if seed + i < 2**64 else seed + i - 2**64 for i in range(n)]


def sampling_params(served: ServedModel, req, prompt_ids: list[int], cap: int, default_max: int | None,
                    stop_ids, top_logprobs: int, logprobs: bool, prompt_field: str,
                    echo_from: int | None = None) -> SamplingParams:
    """Check the prompt against the context and max_tokens against the cap."""
    n = len(prompt_ids)
    if n >= served.block_size:
        raise ApiError(400, f"{prompt_field}: the prompt is {n} tokens but model {served.id!r} has a context of "
                            f"{served.block_size} tokens; shorten it to at most {served.block_size - 1} tokens",
                       prompt_field, code="context_length_exceeded")
    if req.max_tokens is not None and req.max_tokens > cap:
        raise ApiError(400, f"max_tokens: {req.max_tokens} is above this server's limit of {cap}", "max_tokens")
    room = served.block_size - n
    want = req.max_tokens if req.max_tokens is not None else (default_max or cap)
    params = SamplingParams(max_tokens=min(want, cap, room), temperature=req.temperature, top_p=req.top_p,
                            top_k=req.top_k, min_p=req.min_p, repetition_penalty=req.repetition_penalty,
                            seed=req.seed, stop=list(req.stop or []), stop_ids=frozenset(stop_ids),
                            top_logprobs=top_logprobs, logprobs=logprobs, echo_from=echo_from)
    try:
        params.draw_params()  # checked here, so a bad value is a 400 and never reaches the engine
    except UserError as e:
        raise ApiError(400, str(e), str(e).split(":", 1)[0]) from None
    return params


# -- responses ----------------------------------------------------------------------

def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(12)}"


def usage(prompt_tokens: int, finishes: list[Finish]) -> dict:
    """Usage of a request: its prompts once each, the tokens of every choice."""
    completion = sum(f.completion_tokens for f in finishes)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
            "total_tokens": prompt_tokens + completion}


def _tok_entry(tok, tid: int, lp: float) -> dict:
    data = tok.token_bytes(tid)
    return {"token": token_text(data), "logprob": lp, "bytes": list(data)}


def chat_logprob(tok, ev: TokenEvent) -> dict:
    """One entry of ``choices[].logprobs.content`` (plus the token ``id``, non-standard)."""
    entry = _tok_entry(tok, ev.id, ev.logprob)
    entry["id"] = ev.id
    entry["top_logprobs"] = [_tok_entry(tok, i, lp) for i, lp in ev.top]
    return entry


class CompletionLogprobs:
    """The legacy completions ``logprobs`` object, built token by token.

    ``text_offset`` counts characters of the choice's text, so after an echoed prompt
    (:meth:`prompt`) the reply's offsets start at the prompt's length.
    """

    def __init__(self, tok):
        self.tok = tok
        self.offset = 0

    def _alternatives(self, top: list[tuple[int, float]]) -> dict:
        return {token_text(self.tok.token_bytes(i)): lp for i, lp in top}

    def prompt(self, scores: PromptScores) -> tuple[str, dict]:
        """The echoed prompt: its text and its part of ``logprobs``; moves ``offset`` past it."""
        text, stream = "", TextStream()
        out = {"tokens": [], "token_logprobs": list(scores.logprobs), "top_logprobs": [], "text_offset": []}
        for tid, lp, top in zip(scores.ids, scores.logprobs, scores.top):
            data = self.tok.token_bytes(tid)
            out["tokens"].append(token_text(data))
            out["text_offset"].append(self.offset + len(text))
            out["top_logprobs"].append(None if lp is None else self._alternatives(top))
            text += stream.push_bytes(data)[0]
        text += stream.flush()
        self.offset += len(text)
        return text, out

    def part(self, ev: TokenEvent) -> dict:
        text = token_text(ev.data)
        out = {"tokens": [text], "token_logprobs": [ev.logprob],
               "top_logprobs": [self._alternatives(ev.top)],
               "text_offset": [self.offset]}
        self.offset += len(ev.text)
        return out

    @staticmethod
    def merge(parts: list[dict]) -> dict:
        return {k: [x for p in parts for x in p[k]] for k in ("tokens", "token_logprobs", "top_logprobs", "text_offset")}


def chat_chunk(cid: str, model: str, created: int, delta: dict, finish=None, logprobs=None, index: int = 0) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": None,
            "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}


def completion_chunk(cid: str, model: str, created: int, text: str, finish=None, logprobs=None,
                     index: int = 0) -> dict:
    return {"id": cid, "object": "text_completion", "created": created, "model": model,
            "choices": [{"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}]}


def sse(obj) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def now() -> int:
    return int(time.time())
