"""The FastAPI app: OpenAI-compatible endpoints, the web UI, limits and errors.

>>> from pocketgpt.serve.app import ServeConfig
>>> ServeConfig().host  # loopback unless asked otherwise
'127.0.0.1'

Build it with :func:`create_app` (``pocketgpt serve`` does) and run it with uvicorn.
Every handler is ``async`` and only tokenizes and formats; model compute runs on the
:class:`~pocketgpt.serve.engine.Engine` worker thread, so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from pocketgpt.errors import UserError
from pocketgpt.serve import openai_format as fmt
from pocketgpt.serve.engine import Engine, Failure, Finish, JobGroup, PromptScores, QueueFull, TokenEvent
from pocketgpt.serve.models import ServedModel, load_served_model, unique_ids
from pocketgpt.serve.schemas import ChatCompletionRequest, CompletionRequest, TokenizeRequest
from pocketgpt.serve.text import token_text

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("pocketgpt.serve")


@dataclass
class ServeConfig:
    """Server settings. The limits protect a small machine from one greedy client."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # when set, /v1/* needs "Authorization: Bearer <key>"
    max_tokens_cap: int = 1024  # largest max_tokens accepted (also bounded by the context)
    max_body_bytes: int = 1 << 20  # request bodies above this get 413
    request_timeout_s: float = 300.0  # queueing + generation, per request
    max_batch: int = 8  # sequences decoded together per model (KV cache slots)
    max_queue: int = 256  # waiting requests beyond this get 429
    device: str = "cpu"

    def validate(self) -> None:
        for name in ("max_tokens_cap", "max_body_bytes", "max_batch", "max_queue"):
            if getattr(self, name) < 1:
                raise UserError(f"--{name.replace('_', '-')}: must be at least 1, got {getattr(self, name)}")
        if self.request_timeout_s <= 0:
            raise UserError(f"--request-timeout: must be positive, got {self.request_timeout_s}")
        if self.api_key is not None and not self.api_key.strip():
            raise UserError("--api-key: must not be empty")


class _BodyLimit:
    """ASGI middleware: 413 for a body over the limit, by Content-Length or as it streams in."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_big = HTTPException(413, f"the request body is over this server's limit of {self.limit} bytes")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            resp = JSONResponse(fmt.ApiError(413, too_big.detail, type="invalid_request_error",
                                             code="request_too_large").body(), status_code=413)
            return await resp(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise too_big
            return msg

        await self.app(scope, limited, send)


@dataclass
class _Choice:
    """What one job of a request produced, gathered for a non-streamed reply."""

    scores: PromptScores | None = None
    tokens: list[TokenEvent] = field(default_factory=list)
    fin: Finish | None = None


def _error_type(status: int) -> str:
    return {401: "authentication_error", 404: "not_found_error", 413: "invalid_request_error",
            429: "rate_limit_error", 504: "timeout"}.get(status, "invalid_request_error" if status < 500 else "server_error")


def _validation_message(errors: list[dict]) -> tuple[str, str | None]:
    parts, param = [], None
    for e in errors[:3]:
        loc = [str(x) for x in e.get("loc", ()) if x != "body"]
        if e.get("type") == "json_invalid":
            detail = (e.get("ctx") or {}).get("error", "invalid JSON")
            parts.append(f"the request body is not valid JSON ({detail})")
            continue
        where = ".".join(loc) or "request body"
        param = param or (".".join(loc) or None)
        msg = e.get("msg", "invalid").removeprefix("Value error, ")
        got = e.get("input")
        if e.get("type") not in ("missing",) and isinstance(got, (int, float, str, bool)) and len(str(got)) < 80:
            msg += f" (got {got!r})"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts), param


def create_app(checkpoints: list[str] | list[ServedModel], config: ServeConfig | None = None) -> FastAPI:
    """The app serving ``checkpoints`` (run dirs, checkpoint dirs or ``NAME=DIR``; or loaded models)."""
    config = config or ServeConfig()
    config.validate()
    if not checkpoints:
        raise UserError("--checkpoint: give at least one run directory to serve")
    if isinstance(checkpoints[0], ServedModel):
        served = list(checkpoints)
    else:
        served = [load_served_model(spec, mid, config.device) for spec, mid in zip(checkpoints, unique_ids(checkpoints))]
    models = {m.id: m for m in served}
    default_model = served[0].id
    engine = Engine(models, max_batch=config.max_batch, max_queue=config.max_queue)
    started = time.time()

    @asynccontextmanager
    async def lifespan(app):
        engine.start()
        try:
            yield
        finally:
            engine.stop()

    # No /docs or /redoc: FastAPI's pages load Swagger/ReDoc from a CDN, and nothing here may
    # reach the network. The schema itself is at /openapi.json.
    app = FastAPI(title="pocketgpt", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="OpenAI-compatible API and web UI for pocketgpt checkpoints.")
    app.state.engine, app.state.models, app.state.config = engine, models, config
    app.add_middleware(_BodyLimit, limit=config.max_body_bytes)

    # -- errors: always OpenAI's {"error": {...}} body --------------------------------

    @app.exception_handler(fmt.ApiError)
    async def _api_error(request, exc: fmt.ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, exc: RequestValidationError):
        message, param = _validation_message(exc.errors())
        return JSONResponse(fmt.ApiError(400, message, param).body(), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        return JSONResponse(fmt.ApiError(exc.status_code, str(exc.detail), type=_error_type(exc.status_code)).body(),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request, exc: Exception):
        log.exception("unhandled error")
        return JSONResponse(fmt.ApiError(500, f"internal error: {type(exc).__name__}", type="server_error").body(),
                            status_code=500)

    def auth(request: Request) -> None:
        if config.api_key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), config.api_key.encode())
        if not ok:
            raise HTTPException(401, "missing or wrong API key; send 'Authorization: Bearer <key>'",
                                headers={"WWW-Authenticate": "Bearer"})

    def pick(name: str | None) -> ServedModel:
        m = models.get(name or default_model)
        if m is None:
            raise fmt.ApiError(404, f"model {name!r} does not exist; this server has {', '.join(models)}", "model",
                               type="not_found_error", code="model_not_found")
        return m

    def submit(served, work: list[tuple[list[int], object]]) -> JobGroup:
        """Queue one job per (prompt ids, params): all of them, or none (429)."""
        group = JobGroup()
        try:
            for ids, params in work:
                engine.submit(group.add(served, ids, params, config.request_timeout_s))
        except QueueFull as e:
            group.cancel()
            raise fmt.ApiError(429, str(e), type="rate_limit_error") from None
        return group

    async def collect(request: Request, group: JobGroup) -> list[_Choice]:
        """Every job's events, for a non-streamed reply; cancels them if the client disconnects."""
        out = [_Choice() for _ in group.jobs]
        left, done = len(out), False
        loop = asyncio.get_running_loop()
        checked = loop.time()
        try:
            while left:
                try:
                    item = await asyncio.wait_for(group.queue.get(), timeout=0.25)
                except asyncio.TimeoutError:
                    item = None
                # Tokens may arrive without pause: look for a disconnect by the clock, not on idle.
                if loop.time() - checked >= 0.25:
                    checked = loop.time()
                    if await request.is_disconnected():
                        raise fmt.ApiError(499, "client disconnected")
                if item is None:
                    continue
                i, ev = item
                if isinstance(ev, TokenEvent):
                    out[i].tokens.append(ev)
                elif isinstance(ev, PromptScores):
                    out[i].scores = ev
                elif isinstance(ev, Finish):
                    out[i].fin = ev
                    left -= 1
                else:
                    status = 504 if ev.kind == "timeout" else 500
                    raise fmt.ApiError(status, ev.message, type=_error_type(status))
            done = True
            return out
        finally:
            if not done:
                group.cancel()

    def samples(params, n: int) -> list:
        """``n`` copies of ``params``, sample i seeded with seed + i."""
        return [replace(params, seed=s) for s in fmt.sample_seeds(params.seed, n)]

    # -- pages and metadata -----------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health", tags=["meta"])
    async def health():
        ok = engine.alive
        body = {"status": "ok" if ok else "engine stopped", "models": list(models),
                "uptime_s": round(time.time() - started, 1), "engine": engine.stats()}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/v1/models", tags=["openai"], dependencies=[Depends(auth)])
    async def list_models():
        return {"object": "list", "data": [{**m.describe(), "max_tokens_cap": config.max_tokens_cap} for m in served]}

    @app.get("/v1/models/{model_id}", tags=["openai"], dependencies=[Depends(auth)])
    async def get_model(model_id: str):
        return {**pick(model_id).describe(), "max_tokens_cap": config.max_tokens_cap}

    @app.post("/v1/tokenize", tags=["pocketgpt"], dependencies=[Depends(auth)])
    async def tokenize(req: TokenizeRequest):
        """The prompt's tokens exactly as the model sees them (for the token inspector)."""
        m = pick(req.model)
        ids = fmt.chat_prompt(m, req.messages) if req.messages is not None else fmt.completion_prompt(m, req.prompt)
        specials = set(m.tokenizer.special_tokens.values())
        return {"model": m.id, "count": len(ids), "context_length": m.block_size,
                "tokens": [{"id": i, "text": token_text(m.tokenizer.token_bytes(i)), "special": i in specials}
                           for i in ids]}

    # -- generation -------------------------------------------------------------------

    @app.post("/v1/chat/completions", tags=["openai"], dependencies=[Depends(auth)])
    async def chat_completions(req: ChatCompletionRequest, request: Request):
        m = pick(req.model)
        ids = fmt.chat_prompt(m, req.messages)
        k = (req.top_logprobs or 0) if req.logprobs else 0
        params = fmt.sampling_params(m, req, ids, config.max_tokens_cap, None, fmt.chat_stop_ids(m), k,
                                     req.logprobs, "messages")
        group = submit(m, [(ids, p) for p in samples(params, req.n)])
        cid, created = fmt.new_id("chatcmpl"), fmt.now()
        if req.stream:
            return StreamingResponse(_chat_stream(group, m, cid, created, req, len(ids)),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        results = await collect(request, group)
        choices = []
        for i, c in enumerate(results):
            text = "".join(t.text for t in c.tokens) + c.fin.text
            logprobs = ({"content": [fmt.chat_logprob(m.tokenizer, t) for t in c.tokens], "refusal": None}
                        if req.logprobs else None)
            choices.append({"index": i, "message": {"role": "assistant", "content": text, "refusal": None},
                            "logprobs": logprobs, "finish_reason": c.fin.reason})
        return {"id": cid, "object": "chat.completion", "created": created, "model": m.id,
                "system_fingerprint": None, "usage": fmt.usage(len(ids), [c.fin for c in results]), "choices": choices}

    async def _chat_stream(group: JobGroup, m: ServedModel, cid, created, req, prompt_tokens: int):
        finishes = []
        try:
            for i in range(len(group.jobs)):
                yield fmt.sse(fmt.chat_chunk(cid, m.id, created, {"role": "assistant", "content": ""}, index=i))
            async for i, ev in group.events():
                if isinstance(ev, TokenEvent):
                    if ev.text or req.logprobs:
                        lp = {"content": [fmt.chat_logprob(m.tokenizer, ev)], "refusal": None} if req.logprobs else None
                        yield fmt.sse(fmt.chat_chunk(cid, m.id, created, {"content": ev.text}, logprobs=lp, index=i))
                elif isinstance(ev, Finish):
                    finishes.append(ev)
                    if ev.text:
                        yield fmt.sse(fmt.chat_chunk(cid, m.id, created, {"content": ev.text}, index=i))
                    yield fmt.sse(fmt.chat_chunk(cid, m.id, created, {}, finish=ev.reason, index=i))
                elif isinstance(ev, Failure):
                    yield fmt.sse({"error": {"message": ev.message, "type": ev.kind, "param": None, "code": None}})
                    break
            else:
                if req.include_usage:
                    yield fmt.sse({"id": cid, "object": "chat.completion.chunk", "created": created,
                                   "model": m.id, "choices": [], "usage": fmt.usage(prompt_tokens, finishes)})
            yield "data: [DONE]\n\n"
        finally:
            group.cancel()  # a no-op once finished; stops generation when the client went away

    @app.post("/v1/completions", tags=["openai"], dependencies=[Depends(auth)])
    async def completions(req: CompletionRequest, request: Request):
        m = pick(req.model)
        want_lp = req.logprobs is not None
        work, prompt_tokens = [], 0
        for prompt in req.prompts:
            ids = fmt.completion_prompt(m, prompt)
            prompt_tokens += len(ids)
            # A text prompt's first id is the document start the server adds: scored from, not echoed.
            echo_from = (1 if isinstance(prompt, str) else 0) if req.echo else None
            params = fmt.sampling_params(m, req, ids, config.max_tokens_cap, 16, {m.tokenizer.eot_id},
                                         req.logprobs or 0, want_lp, "prompt", echo_from)
            work += [(ids, p) for p in samples(params, req.n)]
        group = submit(m, work)
        cid, created = fmt.new_id("cmpl"), fmt.now()
        if req.stream:
            return StreamingResponse(_completion_stream(group, m, cid, created, req, want_lp, prompt_tokens),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        results = await collect(request, group)
        choices = []
        for i, c in enumerate(results):
            lp = fmt.CompletionLogprobs(m.tokenizer)
            text, parts = "", []
            if c.scores is not None:
                text, part = lp.prompt(c.scores)
                parts.append(part)
            parts += [lp.part(t) for t in c.tokens]
            text += "".join(t.text for t in c.tokens) + c.fin.text
            choices.append({"index": i, "text": text, "logprobs": lp.merge(parts) if want_lp else None,
                            "finish_reason": c.fin.reason})
        return {"id": cid, "object": "text_completion", "created": created, "model": m.id,
                "system_fingerprint": None, "usage": fmt.usage(prompt_tokens, [c.fin for c in results]),
                "choices": choices}

    async def _completion_stream(group: JobGroup, m: ServedModel, cid, created, req, want_lp, prompt_tokens: int):
        lps = [fmt.CompletionLogprobs(m.tokenizer) for _ in group.jobs]
        finishes = []
        try:
            async for i, ev in group.events():
                if isinstance(ev, TokenEvent):
                    if ev.text or want_lp:
                        yield fmt.sse(fmt.completion_chunk(cid, m.id, created, ev.text,
                                                           logprobs=lps[i].part(ev) if want_lp else None, index=i))
                elif isinstance(ev, Finish):
                    finishes.append(ev)
                    yield fmt.sse(fmt.completion_chunk(cid, m.id, created, ev.text, finish=ev.reason, index=i))
                elif isinstance(ev, Failure):
                    yield fmt.sse({"error": {"message": ev.message, "type": ev.kind, "param": None, "code": None}})
                    break
            else:
                if req.include_usage:
                    yield fmt.sse({"id": cid, "object": "text_completion", "created": created, "model": m.id,
                                   "choices": [], "usage": fmt.usage(prompt_tokens, finishes)})
            yield "data: [DONE]\n\n"
        finally:
            group.cancel()

    return app
