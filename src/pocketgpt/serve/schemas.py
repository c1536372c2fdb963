"""Request bodies of the OpenAI-compatible API, as pydantic models.

Field names, types and defaults follow OpenAI's API so existing clients work.
Options the engine cannot honour (``n`` > 1, penalties, tools, ``echo``) are
refused with a 400 naming the field, rather than silently ignored; unknown
fields (``user``, ``metadata``...) are ignored as OpenAI does for optional ones.

>>> ChatCompletionRequest(messages=[{"role": "user", "content": "hi"}]).temperature
1.0
>>> ChatMessage(role="user", content=[{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]).text
'ab'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


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
    n: int = Field(1, description="only 1 is supported")
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

    @field_validator("n")
    @classmethod
    def _n(cls, v):
        if v != 1:
            raise ValueError(f"only n=1 is supported, got {v}")
        return v

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
    top_logprobs: int | None = Field(None, ge=0, le=20, description="alternatives per token (needs logprobs)")
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
    prompt: str | list[int] | list[str] = Field(description="raw text (or token ids) to continue")
    max_tokens: int | None = Field(16, ge=1, description="reply length limit (OpenAI's default is 16)")
    logprobs: int | None = Field(None, ge=0, le=20, description="return this many alternatives per token")
    echo: bool = False
    suffix: str | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v):
        if isinstance(v, list) and v and isinstance(v[0], str):
            if len(v) != 1:
                raise ValueError("only one prompt per request is supported")
            return v[0]
        if isinstance(v, list) and not v:
            raise ValueError("the token list is empty")
        return v

    @field_validator("echo")
    @classmethod
    def _echo(cls, v):
        if v:
            raise ValueError("echo is not supported")
        return v

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, v):
        if v:
            raise ValueError("suffix (insertion) is not supported")
        return v


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
