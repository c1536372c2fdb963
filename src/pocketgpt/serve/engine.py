"""The engine worker: model compute on its own thread, with continuous batching.

The HTTP handlers run on the asyncio event loop and never touch the model. They
build a :class:`Job` and :meth:`Engine.submit` it; one worker thread owns every
model and runs this loop:

1. admit queued jobs while a batch slot is free (each model has ``max_batch``
   slots in a preallocated key/value cache),
2. prefill each newly admitted prompt (one forward pass) and sample its first token,
3. run **one batched decode step** for all active jobs of a model: one forward
   pass over a (B, 1) batch of last tokens, each row at its own position,
4. drop jobs that finished, were cancelled (the client went away) or ran past
   their deadline, freeing their slots for the queue.

Jobs therefore join and leave the batch between any two decode steps, and a long
reply does not hold up a short one. Results travel back to the event loop with
``loop.call_soon_threadsafe`` into the job's ``asyncio.Queue``.

Sampling is per row, with :func:`pocketgpt.generate.sampling.next_token` (the same
filters and inverse-CDF draw as ``pocketgpt sample``), its own parameters and its own
``torch.Generator``: a seed reproduces a reply whatever else shares the batch, and
gives the same tokens as :func:`pocketgpt.generate.generate` with that seed.
``logprob`` and the top alternatives are the model's own distribution (log-softmax of
the logits, before temperature and filters), as in OpenAI's API: what the model
predicts, not the sampling knobs.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field

import torch

from pocketgpt.generate.sampling import SamplingParams as DrawParams
from pocketgpt.generate.sampling import next_token, over_vocab
from pocketgpt.generate.text import TextStream
from pocketgpt.serve.models import ServedModel

log = logging.getLogger("pocketgpt.serve")


@dataclass
class SamplingParams:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None  # extensions beyond OpenAI's API, as in pocketgpt sample
    min_p: float | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stop_ids: frozenset = frozenset()
    top_logprobs: int = 0  # alternatives per generated token; only when logprobs is True
    logprobs: bool = False
    # Score the prompt too (completions' echo): report prompt tokens from this index on.
    # 1 for a text prompt, whose first id is the <|endoftext|> the server put before it.
    echo_from: int | None = None

    def draw_params(self) -> DrawParams:
        """The sampling filters in pocketgpt.generate's form; raises UserError naming a bad field."""
        # The engine counts reply tokens itself; max_tokens 0 (echo: score the prompt alone) draws none.
        return DrawParams(max_new_tokens=max(self.max_tokens, 1), temperature=self.temperature, top_p=self.top_p,
                          top_k=self.top_k, min_p=self.min_p, repetition_penalty=self.repetition_penalty)


@dataclass
class TokenEvent:
    id: int
    data: bytes  # the token's bytes
    text: str  # text released by this token ("" while a character or stop string is incomplete)
    logprob: float
    top: list[tuple[int, float]]  # (id, logprob) alternatives, most likely first


@dataclass
class PromptScores:
    """The prompt's own tokens scored (echo): each one's log-probability given those
    before it (None for the very first, which has no context) and its alternatives."""

    ids: list[int]
    logprobs: list[float | None]
    top: list[list[tuple[int, float]]]


@dataclass
class Finish:
    reason: str  # "stop" or "length"
    text: str  # the last bit of text released at the end (held-back characters)
    prompt_tokens: int
    completion_tokens: int


@dataclass
class Failure:
    message: str
    kind: str = "server_error"  # or "timeout"


class QueueFull(Exception):
    pass


class Job:
    """One sequence to generate; its events arrive on ``queue`` in the event loop.

    Jobs of one request (its ``n`` samples, its prompts) can share a ``queue``: each then
    puts ``(tag, event)`` pairs on it, and the request reads them all in one place
    (:class:`JobGroup`).
    """

    def __init__(self, served: ServedModel, prompt_ids: list[int], params: SamplingParams, timeout_s: float,
                 loop: asyncio.AbstractEventLoop | None = None, queue: asyncio.Queue | None = None,
                 tag: int | None = None):
        self.served, self.prompt_ids, self.params = served, list(prompt_ids), params
        self.loop = loop or asyncio.get_running_loop()
        self.queue: asyncio.Queue = queue if queue is not None else asyncio.Queue()
        self.tag = tag
        self.created = time.monotonic()
        self.deadline = self.created + timeout_s
        self.cancelled = threading.Event()
        self.first_token_at: float | None = None

    def cancel(self) -> None:
        """Stop generating (the client went away); the worker frees the slot at its next step."""
        self.cancelled.set()

    def emit(self, event) -> None:
        item = event if self.tag is None else (self.tag, event)
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            self.cancelled.set()

    async def events(self):
        """Yield PromptScores (only when asked for), TokenEvents, then one Finish or Failure."""
        while True:
            ev = await self.queue.get()
            yield ev
            if isinstance(ev, (Finish, Failure)):
                return


class JobGroup:
    """The jobs of one request, choice ``i`` tagged ``i``, read from one queue.

    ``events()`` yields ``(i, event)`` in arrival order until every job has ended
    (a Finish or Failure each). Cancelling the group cancels every job.
    """

    def __init__(self):
        self.queue: asyncio.Queue = asyncio.Queue()
        self.jobs: list[Job] = []

    def add(self, served: ServedModel, prompt_ids: list[int], params: SamplingParams, timeout_s: float) -> Job:
        job = Job(served, prompt_ids, params, timeout_s, queue=self.queue, tag=len(self.jobs))
        self.jobs.append(job)
        return job

    def cancel(self) -> None:
        for job in self.jobs:
            job.cancel()

    async def events(self):
        left = len(self.jobs)
        while left:
            i, ev = await self.queue.get()
            yield i, ev
            if isinstance(ev, (Finish, Failure)):
                left -= 1


class SlotCache:
    """Key/value cache with ``slots`` rows, each holding one sequence at its own length.

    It follows the protocol ``GPT.forward`` expects (``seq_len``, ``update``,
    ``advance``); the engine passes explicit ``positions`` and ``attn_mask``.
    """

    def __init__(self, model, slots: int):
        cfg = model.config
        p = next(model.parameters())
        shape = (cfg.n_layer, slots, cfg.n_kv_head, cfg.block_size, cfg.head_dim)
        self.k = torch.zeros(shape, dtype=p.dtype, device=p.device)
        self.v = torch.zeros(shape, dtype=p.dtype, device=p.device)
        self.lens = torch.zeros(slots, dtype=torch.long, device=p.device)
        self.seq_len = 0  # GPT.forward builds the causal prefill mask from it; we prefill from 0
        self._rows: torch.Tensor | None = None

    def select(self, rows: torch.Tensor) -> None:
        self._rows = rows

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        rows = self._rows
        pos = self.lens[rows]
        if k.shape[2] == 1:  # decode: one new key per row, each at its own position
            self.k[layer, rows, :, pos] = k[:, :, 0]
            self.v[layer, rows, :, pos] = v[:, :, 0]
            n = int(pos.max()) + 1
        else:  # prefill of a single row from position 0
            n = k.shape[2]
            self.k[layer, rows[0], :, :n] = k[0]
            self.v[layer, rows[0], :, :n] = v[0]
        return self.k[layer, rows, :, :n], self.v[layer, rows, :, :n]

    def advance(self, n: int) -> None:
        self.lens[self._rows] += n


@dataclass
class _Active:
    job: Job
    slot: int
    gen: torch.Generator
    text: TextStream
    draw: DrawParams
    seen: list[int]  # prompt + reply so far, for the repetition penalty
    last: int = 0
    generated: int = 0


class _ModelBatch:
    def __init__(self, served: ServedModel, max_batch: int):
        self.served, self.max_batch = served, max_batch
        self.cache: SlotCache | None = None
        self.free = list(range(max_batch))
        self.active: list[_Active] = []


class Engine:
    """Owns the models and the worker thread. ``submit`` from the event loop; ``stats`` for /health."""

    def __init__(self, models: dict[str, ServedModel], max_batch: int = 8, max_queue: int = 256):
        self.models = models
        self.max_batch, self.max_queue = max_batch, max_queue
        self._batches = {name: _ModelBatch(m, max_batch) for name, m in models.items()}
        self._queue: queue.Queue = queue.Queue()
        self._waiting: list[Job] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters = {"completed": 0, "cancelled": 0, "timed_out": 0, "failed": 0, "tokens": 0}
        self.last_step_at = time.monotonic()

    # -- event-loop side ------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="pocketgpt-engine", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job: Job) -> None:
        if self._queue.qsize() + len(self._waiting) >= self.max_queue:
            raise QueueFull(f"the server has {self.max_queue} requests waiting; try again shortly")
        self._queue.put(job)

    def stats(self) -> dict:
        active = sum(1 for b in self._batches.values() for a in list(b.active) if a.slot >= 0)
        return {"active": active, "queued": self._queue.qsize() + len(self._waiting), "max_batch": self.max_batch,
                "seconds_since_step": round(time.monotonic() - self.last_step_at, 3), **self.counters}

    # -- worker side ----------------------------------------------------------------

    def _run(self) -> None:
        with torch.inference_mode():
            while not self._stop.is_set():
                busy = any(b.active for b in self._batches.values())
                self._take_new(block=not busy and not self._waiting)
                self._admit()
                for batch in self._batches.values():
                    self._sweep(batch)
                    if batch.active:
                        self._guarded(batch, self._decode_step)
                self.last_step_at = time.monotonic()
        self._take_new(block=False)
        for job in self._waiting + [a.job for b in self._batches.values() for a in b.active]:
            job.emit(Failure("the server is shutting down"))

    def _take_new(self, block: bool) -> None:
        try:
            item = self._queue.get(timeout=0.5) if block else self._queue.get_nowait()
            while True:
                if item is not None:
                    self._waiting.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            pass

    def _admit(self) -> None:
        still = []
        for job in self._waiting:
            batch = self._batches[job.served.id]
            if job.cancelled.is_set():
                self.counters["cancelled"] += 1
            elif time.monotonic() > job.deadline:
                self.counters["timed_out"] += 1
                job.emit(Failure("the request timed out while queued", "timeout"))
            elif batch.free:
                self._guarded(batch, self._prefill, job)
            else:
                still.append(job)
        self._waiting = still

    def _guarded(self, batch: _ModelBatch, fn, *args) -> None:
        """A failure in model code fails the jobs involved, never the worker."""
        try:
            fn(batch, *args)
        except Exception as e:  # noqa: BLE001 - reported to the clients, logged with traceback
            log.exception("engine step failed")
            jobs = [a.job for a in batch.active] + [a for a in args if isinstance(a, Job)]
            for j in jobs:
                j.emit(Failure(f"generation failed: {type(e).__name__}: {e}"))
            self.counters["failed"] += len(jobs)
            batch.active, batch.free, batch.cache = [], list(range(batch.max_batch)), None

    def _prefill(self, batch: _ModelBatch, job: Job) -> None:
        served = batch.served
        if batch.cache is None:
            batch.cache = SlotCache(served.model, batch.max_batch)
        slot = batch.free.pop()
        seed = job.params.seed if job.params.seed is not None else secrets.randbits(63)
        device = batch.cache.k.device
        gen = torch.Generator(device=device).manual_seed(seed)
        act = _Active(job, slot, gen, TextStream(stop=tuple(job.params.stop)), job.params.draw_params(), list(job.prompt_ids))
        batch.active.append(act)
        cache = batch.cache
        cache.lens[slot] = 0
        cache.select(torch.tensor([slot], device=device))
        ids = torch.tensor([job.prompt_ids], device=device)
        echo = job.params.echo_from is not None
        logits, _ = served.model(ids, kv_cache=cache, logits_to_keep=0 if echo else 1)
        if echo:
            job.emit(self._prompt_scores(served, job, logits[0]))
            if job.params.max_tokens == 0:  # only the prompt was asked for
                self._finish(batch, act, "length", "")
                batch.active = [a for a in batch.active if a.slot >= 0]
                return
        self._sample(batch, [act], logits[:, -1])

    @staticmethod
    def _prompt_scores(served: ServedModel, job: Job, logits: torch.Tensor) -> PromptScores:
        """Row i of the prefill's logits predicts prompt token i + 1; over the tokenizer's
        ids, as for generated tokens (and as pocketgpt.generate's score)."""
        logp = torch.log_softmax(over_vocab(logits[:-1], served.tokenizer.vocab_size), dim=-1)
        ids = job.prompt_ids
        lps = logp.gather(1, torch.tensor(ids[1:], device=logp.device)[:, None])[:, 0].tolist()
        k = job.params.top_logprobs
        tops = [[]] * len(lps)
        if k:
            v, i = logp.topk(k, dim=-1)
            tops = [list(zip(ii, vv)) for ii, vv in zip(i.tolist(), v.tolist())]
        start = job.params.echo_from
        return PromptScores(ids[start:], ([None] + lps)[start:], ([[]] + tops)[start:])

    def _decode_step(self, batch: _ModelBatch) -> None:
        cache, rows = batch.cache, batch.active
        device = cache.k.device
        slots = torch.tensor([a.slot for a in rows], device=device)
        pos = cache.lens[slots]
        n = int(pos.max()) + 1
        mask = (torch.arange(n, device=device)[None, :] <= pos[:, None])[:, None, None, :]
        cache.select(slots)
        tokens = torch.tensor([[a.last] for a in rows], device=device)
        logits, _ = batch.served.model(tokens, positions=pos[:, None], attn_mask=mask, kv_cache=cache)
        self._sample(batch, rows, logits[:, -1])

    def _sample(self, batch: _ModelBatch, rows: list[_Active], logits: torch.Tensor) -> None:
        tok = batch.served.tokenizer
        logits = over_vocab(logits, tok.vocab_size)
        logp = torch.log_softmax(logits, dim=-1)
        k = max((a.job.params.top_logprobs for a in rows if a.job.params.logprobs), default=0)
        top_v, top_i = logp.topk(k, dim=-1) if k else (None, None)
        for i, a in enumerate(rows):
            p = a.job.params
            seen = a.seen if p.repetition_penalty != 1.0 else ()
            t = next_token(logits[i], a.draw, a.gen, seen)
            top = []
            if p.logprobs and p.top_logprobs:
                top = list(zip(top_i[i, :p.top_logprobs].tolist(), top_v[i, :p.top_logprobs].tolist()))
            self._advance(batch, a, t, float(logp[i, t]), top)
        batch.active = [a for a in batch.active if a.slot >= 0]

    def _advance(self, batch: _ModelBatch, a: _Active, t: int, lp: float, top) -> None:
        job, served = a.job, batch.served
        a.generated += 1
        a.last = t
        if job.params.repetition_penalty != 1.0:
            a.seen.append(t)
        self.counters["tokens"] += 1
        if job.first_token_at is None:
            job.first_token_at = time.monotonic()
        if t in job.params.stop_ids:
            return self._finish(batch, a, "stop", "")
        data = served.tokenizer.token_bytes(t)
        delta, hit = a.text.push_bytes(data)
        job.emit(TokenEvent(t, data, delta, lp, top))
        if hit is not None:
            return self._finish(batch, a, "stop", "")
        context_full = len(job.prompt_ids) + a.generated >= served.block_size
        if a.generated >= job.params.max_tokens or context_full:
            self._finish(batch, a, "length", a.text.flush())

    def _finish(self, batch: _ModelBatch, a: _Active, reason: str, tail: str) -> None:
        if reason == "stop" and a.text.stopped is None:
            tail = a.text.flush()
        self.counters["completed"] += 1
        self._release(batch, a)
        a.job.emit(Finish(reason, tail, len(a.job.prompt_ids), a.generated))

    def _release(self, batch: _ModelBatch, a: _Active) -> None:
        batch.free.append(a.slot)
        a.slot = -1

    def _sweep(self, batch: _ModelBatch) -> None:
        """Drop jobs whose client went away or whose time is up."""
        now = time.monotonic()
        for a in batch.active:
            if a.job.cancelled.is_set():
                self.counters["cancelled"] += 1
                self._release(batch, a)
            elif now > a.job.deadline:
                self.counters["timed_out"] += 1
                self._release(batch, a)
                a.job.emit(Failure(f"the request timed out: it ran past its time limit after {a.generated} tokens", "timeout"))
        batch.active = [a for a in batch.active if a.slot >= 0]
