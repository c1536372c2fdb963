"""Request bodies of the OpenAI-compatible API, as pydantic models.

Field names, types and defaults follow OpenAI's API so existing clients work.
Options the engine cannot honour (penalties, tools, ``suffix``) are refused with a
400 naming the field, rather than silently ignored; unknown fields (``user``,
``metadata``...) are ignored as OpenAI does for optional ones.

>>> ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}]).temperature
1.0
>>> ChatMessage(role="user", content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]).text
'ab'
>>> CompletionRequest(prompt=[[1, 2], [3]], n=2).prompts  # choice j*n + i: prompt j, sample i
[[1, 2], [3]]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

MAX_N = 8  # samples per prompt (n)
MAX_PROMPTS = 32  # prompts in one completions request (a batch, as lm-eval sends)
MAX_CHOICES = 64  # prompts x n: each choice is one job in the engine's queue
MAX_LOGPROBS = 20  # alternatives per token, OpenAI's own limit


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Lenient):
    type: Literal["text"] = "text"
    text: str


class ChatMessage(_Lenient):
    role: Literal["system", "user", "assistant"] = Field(description="who wrote the message")
    content: str | list[TextPart] = Field(description="the text (or a list of text parts)")

    @property
    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class StreamOptions(_Lenient):
    include_usage: bool = False


class _SamplingOptions(_Lenient):
    model: str | None = Field(None, description="a model id from /v1/models; default: the first one served")
    temperature: float = Field(1.0, ge=0.0, le=2.0, description="0 is greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus sampling mass")
    stop: str | list[str] | None = Field(None, description="up to 4 strings that end the reply (not included)")
    seed: int | None = Field(None, ge=-(2**63), le=2**64 - 1, description="makes sampling reproducible")
    stream: bool = False
    stream_options: StreamOptions | None = None
    top_k: int | None = Field(None, ge=0, description="(extension) sample among the k most likely; 0 or null is off")
    min_p: float | None = Field(None, ge=0.0, le=1.0, description="(extension) drop tokens below min_p x the top one")
    repetition_penalty: float = Field(1.0, gt=0.0, le=10.0, description="(extension) CTRL's penalty; 1 is off")
    n: int = Field(1, ge=1, le=MAX_N, description=f"independent samples (choices) per prompt, at most {MAX_N}; "
                                                   "with a seed, sample i uses seed + i")
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict | None = None

    @field_validator("stop")
    @classmethod
    def _stop(cls, v):
        stops = [v] if isinstance(v, str) else list(v or [])
        if len(stops) > 4:
            raise ValueError(f"at most 4 stop strings, got {len(stops)}")
        if any(s == "" for s in stops):
            raise ValueError("a stop string must not be empty")
        return stops

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _penalty(cls, v):
        if v != 0:
            raise ValueError("penalties are not supported; leave it at 0")
        return v

    @field_validator("logit_bias")
    @classmethod
    def _bias(cls, v):
        if v:
            raise ValueError("logit_bias is not supported")
        return v

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_SamplingOptions):
    messages: list[ChatMessage] = Field(min_length=1, description="the conversation, ending with a user message")
    max_tokens: int | None = Field(None, ge=1, description="reply length limit; default: the rest of the context")
    max_completion_tokens: int | None = Field(None, ge=1, description="newer name for max_tokens")
    logprobs: bool = Field(False, description="return each reply token's log-probability")
    top_logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS, description="alternatives per token (needs logprobs)")
    tools: list | None = None
    response_format: dict | None = None

    @field_validator("tools")
    @classmethod
    def _tools(cls, v):
        if v:
            raise ValueError("tool calling is not supported")
        return v

    @field_validator("response_format")
    @classmethod
    def _format(cls, v):
        if v and v.get("type", "text") != "text":
            raise ValueError("only response_format {\"type\": \"text\"} is supported")
        return v

    @model_validator(mode="after")
    def _check(self):
        if self.max_completion_tokens is not None and self.max_tokens is None:
            self.max_tokens = self.max_completion_tokens
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self


class CompletionRequest(_SamplingOptions):
    # Field order matters: each validator sees the fields defined before it (info.data).
    prompt: str | list[int] | list[str] | list[list[int]] = Field(
        description=f"raw text or token ids to continue; or a list of up to {MAX_PROMPTS} such prompts")
    echo: bool = Field(False, description="return the prompt before the completion, scored when logprobs is set")
    max_tokens: int | None = Field(16, ge=0, description="reply length limit (OpenAI's default is 16); "
                                                         "0 only with echo, to score the prompt alone")
    logprobs: int | None = Field(None, ge=0, le=MAX_LOGPROBS, description="return this many alternatives per token")
    suffix: str | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v, info: ValidationInfo):
        prompts = [v] if isinstance(v, str) or (v and isinstance(v[0], int)) else list(v)
        if not prompts:
            raise ValueError("the list is empty; give a text, token ids, or a list of prompts")
        if len(prompts) > MAX_PROMPTS:
            raise ValueError(f"at most {MAX_PROMPTS} prompts per request, got {len(prompts)}")
        if any(isinstance(p, list) and not p for p in prompts):
            raise ValueError("a token list is empty")
        n = info.data.get("n", 1)
        if len(prompts) * n > MAX_CHOICES:
            raise ValueError(f"{len(prompts)} prompts x n={n} is {len(prompts) * n} choices; "
                             f"at most {MAX_CHOICES} per request")
        return v

    @field_validator("echo")
    @classmethod
    def _echo(cls, v, info: ValidationInfo):
        if v and info.data.get("stream"):
            raise ValueError("echo cannot be combined with stream: true; ask without streaming")
        return v

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, v, info: ValidationInfo):
        if v == 0 and not info.data.get("echo"):
            raise ValueError("0 is allowed only with echo: true (to score the prompt alone)")
        return v

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, v):
        if v:
            raise ValueError("suffix (insertion) is not supported")
        return v

    @property
    def prompts(self) -> list[str | list[int]]:
        """The prompts, as a list even when one was given."""
        v = self.prompt
        return [v] if isinstance(v, str) or isinstance(v[0], int) else list(v)


class TokenizeRequest(_Lenient):
    """Non-standard: the prompt as the model will see it, for the token inspector."""

    model: str | None = None
    messages: list[ChatMessage] | None = None
    prompt: str | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give exactly one of messages or prompt")
        return self
