"""The teacher: one chat completion at a time over the OpenAI API, with retries and a budget.

The official ``openai`` client does the HTTP; its own retries are off (``max_retries=0``)
because the loop here must also retry malformed replies, stop when the budget is spent
or the run is interrupted, and count every error for the progress bar and the manifest.

Retried: timeouts, dropped or refused connections, 408/409/425/429 and 5xx answers, and
200 answers that are not a chat completion. The wait before retry ``k`` (from 0) is drawn
uniformly from ``[d/2, d]`` with ``d = min(max_backoff, backoff * 2**k)`` (jitter spreads
concurrent clients apart), and never shorter than the server's ``Retry-After``.
Fatal: 401/403 (key) and 404 (model or URL), a :class:`~pocketgpt.errors.UserError`.
Other 4xx answers reject that one request (:class:`Rejected`).

>>> retry_after({"retry-after": "2"}), retry_after({"retry-after-ms": "250"}), retry_after({})
(2.0, 0.25, None)
>>> [backoff_delay(k, 1.0, 8.0, rng=lambda a, b: b) for k in range(5)]
[1.0, 2.0, 4.0, 8.0, 8.0]
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

from pocketgpt.errors import UserError

RETRY_STATUSES = (408, 409, 425, 429)
MAX_RETRY_AFTER_S = 300.0  # a server asking for longer than this is treated as asking for this


class Rejected(Exception):
    """The server refused this one request (a 4xx other than key/model errors)."""


class Failed(Exception):
    """Every attempt at a request failed with a retryable error; the message says the last."""


class Stopped(Exception):
    """The run is stopping (interrupted, budget spent, or a fatal error elsewhere)."""


@dataclass
class Reply:
    text: str
    finish_reason: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Budget:
    """Requests and tokens this run may still spend (``None``: no limit), shared by the workers."""

    max_requests: int | None = None
    max_tokens: int | None = None
    requests: int = 0
    tokens: int = 0
    spent: str = ""  # which limit stopped the run
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> None:
        with self.lock:
            if self.max_requests is not None and self.requests >= self.max_requests:
                self.spent = self.spent or f"--max-requests {self.max_requests}"
            elif self.max_tokens is not None and self.tokens >= self.max_tokens:
                self.spent = self.spent or f"--max-tokens-total {self.max_tokens}"
            if self.spent:
                raise Stopped(self.spent)
            self.requests += 1

    def add_tokens(self, n: int) -> None:
        with self.lock:
            self.tokens += n


def retry_after(headers) -> float | None:
    """Seconds a ``Retry-After`` (or ``retry-after-ms``) header asks for; ``None`` without one."""
    ms = headers.get("retry-after-ms")
    try:
        if ms is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the HTTP-date form
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def backoff_delay(attempt: int, backoff: float, max_backoff: float, rng=random.uniform) -> float:
    d = min(max_backoff, backoff * 2 ** attempt)
    return rng(d / 2, d)


@dataclass
class Settings:
    """What each request asks for (they go into every conversation's id)."""

    model: str
    temperature: float = 0.7
    top_p: float | None = None
    max_tokens: int = 512


class Teacher:
    """Chat completions from ``base_url`` with retries; thread-safe (one client, shared)."""

    def __init__(self, base_url: str, api_key: str, settings: Settings, *, timeout: float = 60.0, retries: int = 5,
                 backoff: float = 0.5, max_backoff: float = 30.0, budget: Budget | None = None,
                 stop: threading.Event | None = None):
        import openai

        self.base_url, self.settings = base_url, settings
        self.retries, self.backoff, self.max_backoff = retries, backoff, max_backoff
        self.budget = budget or Budget()
        self.stop = stop or threading.Event()
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)
        self.errors: Counter = Counter()  # retryable errors by kind, for the progress bar and manifest
        self._lock = threading.Lock()

    def _where(self) -> str:
        return f"--base-url {self.base_url}"

    def preflight(self) -> None:
        """Fail fast, before anything is written: the server must answer, accept the key, and
        know the model (asked with one 1-token request when ``/models`` does not list it)."""
        import openai

        try:
            listed = [m.id for m in self.client.models.list().data]
        except openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise self._auth_error(e) from None
            listed = None  # no /models here (or it failed): the probe below decides
        except openai.APIConnectionError as e:
            raise UserError(f"{self._where()}: cannot reach the teacher ({_cause(e)}); is the server running, "
                            "and is the URL right (it usually ends with /v1, e.g. http://127.0.0.1:8000/v1)?") from None
        if listed is not None and self.settings.model in listed:
            return
        self._listed = listed
        self.complete([{"role": "user", "content": "Hi"}], max_tokens=1)

    def _auth_error(self, e) -> UserError:
        return UserError(f"{self._where()}: the teacher refused the API key (HTTP {e.status_code}: {_message(e)}); "
                         "pass the right one with --api-key or $OPENAI_API_KEY")

    def _fatal(self, e) -> Exception | None:
        status = e.status_code
        if status in (401, 403):
            return self._auth_error(e)
        if status == 404:
            listed = getattr(self, "_listed", None)
            known = f"; the server lists {', '.join(listed) or 'no models'}" if listed is not None else ""
            return UserError(f"--model {self.settings.model}: the teacher answered 404 ({_message(e)}){known}; "
                             f"check the model name, and that {self._where()} is the API root (usually ending "
                             "with /v1)")
        return None

    def _count(self, kind: str) -> None:
        with self._lock:
            self.errors[kind] += 1

    def complete(self, messages: list[dict], *, seed: int | None = None, max_tokens: int | None = None) -> Reply:
        """One chat completion, retried as the module says; raises :class:`Failed`,
        :class:`Rejected`, :class:`Stopped` or a fatal :class:`UserError`."""
        import openai

        s, last = self.settings, ""
        extra = {} if s.top_p is None else {"top_p": s.top_p}
        if seed is not None:
            extra["seed"] = seed
        for attempt in range(self.retries + 1):
            if self.stop.is_set():
                raise Stopped("stopping")
            self.budget.take()
            wait = None
            try:
                r = self.client.chat.completions.create(model=s.model, messages=messages, temperature=s.temperature,
                                                        max_tokens=max_tokens or s.max_tokens, **extra)
                reply = _reply(r)
                self.budget.add_tokens(reply.prompt_tokens + reply.completion_tokens)
                return reply
            except openai.APIStatusError as e:
                fatal = self._fatal(e)
                if fatal is not None:
                    raise fatal from None
                if e.status_code not in RETRY_STATUSES and e.status_code < 500:
                    raise Rejected(f"HTTP {e.status_code}: {_message(e)}") from None
                kind, last = f"http_{e.status_code}", f"HTTP {e.status_code}: {_message(e)}"
                wait = retry_after(e.response.headers)
            except openai.APITimeoutError:
                kind, last = "timeout", "timed out"
            except openai.APIConnectionError as e:
                kind, last = "connection", f"connection failed ({_cause(e)})"
            except (openai.APIResponseValidationError, ValueError, TypeError, AttributeError, IndexError) as e:
                kind, last = "malformed", f"not a chat completion ({type(e).__name__}: {e})"
            self._count(kind)
            if attempt == self.retries:
                break
            delay = backoff_delay(attempt, self.backoff, self.max_backoff)
            if wait is not None:
                delay = max(delay, min(wait, MAX_RETRY_AFTER_S))
            if self.stop.wait(delay):
                raise Stopped("stopping")
        raise Failed(f"{last} (after {self.retries + 1} attempts)")


def _reply(r) -> Reply:
    """A :class:`Reply` from a parsed completion; raises ``ValueError`` when it is not one."""
    if not getattr(r, "choices", None):
        raise ValueError("no choices in the reply")
    choice = r.choices[0]
    content = choice.message.content
    if content is not None and not isinstance(content, str):
        raise ValueError(f"message content is {type(content).__name__}, not text")
    usage = getattr(r, "usage", None)
    return Reply(content or "", choice.finish_reason, int(getattr(usage, "prompt_tokens", 0) or 0),
                 int(getattr(usage, "completion_tokens", 0) or 0))


def _message(e) -> str:
    body = getattr(e, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(e, "message", "") or e)


def _cause(e) -> str:
    cause = e.__cause__ or e.__context__
    return f"{type(cause).__name__}: {cause}" if cause else str(e)
