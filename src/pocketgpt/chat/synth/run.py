"""``run_synth``: ask the teacher for every task, a bounded number at a time, and record each result."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from pocketgpt.chat.format import validate
from pocketgpt.chat.names import fold, names_pattern
from pocketgpt.chat.synth.store import MANIFEST_FORMAT, Store
from pocketgpt.chat.synth.tasks import (DEFAULT_TEMPLATE, USER_SIMULATOR, Task, clean_question, make_tasks,
                                        read_exclude, read_prompts, read_topics, refused, transcript)
from pocketgpt.chat.synth.teacher import Budget, Failed, Rejected, Settings, Stopped, Teacher
from pocketgpt.errors import UserError
from pocketgpt.fsio import sha256_file


@dataclass
class SynthConfig:
    """Everything ``pocketgpt data synth`` takes; see docs/chat.md."""

    base_url: str = ""
    model: str = ""
    out: str = ""
    api_key: str | None = None
    prompts: str | None = None
    topics: str | None = None
    template: str = DEFAULT_TEMPLATE
    system: str | None = None
    turns: int = 1
    samples_per_prompt: int = 1
    temperature: float = 0.7
    top_p: float | None = None
    max_tokens: int = 512
    seed: int | None = None  # sent with every request (derived per request) when set
    keep_truncated: bool = False
    exclude: str | None = None
    concurrency: int = 4
    timeout: float = 60.0  # seconds per request
    retries: int = 5
    backoff: float = 0.5  # first retry waits about this long; doubled each time
    max_backoff: float = 30.0
    max_requests: int | None = None
    max_tokens_total: int | None = None
    overwrite: bool = False

    def check(self) -> None:
        def need(ok, flag, expected):
            if not ok:
                raise UserError(f"{flag}: {expected}")

        need(self.base_url, "--base-url", "required; the teacher's API root, e.g. http://127.0.0.1:8000/v1")
        need(self.model, "--model", "required; the teacher model's name on that server")
        need(self.out, "--out", "required; the output directory")
        need((self.prompts is None) != (self.topics is None), "--prompts/--topics", "give exactly one of them")
        need(self.concurrency >= 1, "--concurrency", f"{self.concurrency}; expected at least 1 request in flight")
        need(self.turns >= 1, "--turns", f"{self.turns}; expected at least 1 (assistant replies per conversation)")
        need(self.samples_per_prompt >= 1, "--samples-per-prompt", f"{self.samples_per_prompt}; expected at least 1")
        need(self.temperature >= 0, "--temperature", f"{self.temperature}; expected >= 0")
        need(self.top_p is None or 0 < self.top_p <= 1, "--top-p", f"{self.top_p}; expected 0 < p <= 1")
        need(self.max_tokens >= 1, "--max-tokens", f"{self.max_tokens}; expected at least 1")
        need(self.timeout > 0, "--timeout", f"{self.timeout}; expected seconds > 0")
        need(self.retries >= 0, "--retries", f"{self.retries}; expected >= 0")
        need(self.backoff >= 0 and self.max_backoff >= 0, "--backoff", "expected seconds >= 0")
        for flag, v in (("--max-requests", self.max_requests), ("--max-tokens-total", self.max_tokens_total)):
            need(v is None or v >= 1, flag, f"{v}; expected at least 1 (leave it out for no limit)")
        need(self.topics is None or "{topic}" in self.template, "--template",
             f"{self.template!r} has no {{topic}}; expected text with {{topic}} where each topic goes")

    def key(self) -> dict:
        """The settings a conversation depends on: its id hashes these, and a rerun in the
        same ``--out`` must match them."""
        k = {"model": self.model, "temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
             "turns": self.turns, "seed": self.seed, "keep_truncated": self.keep_truncated}
        if self.topics is not None:
            k["template"] = self.template
        if self.turns > 1:
            k["user_simulator"] = USER_SIMULATOR
        return k


def _inputs(cfg: SynthConfig) -> dict:
    files = {"prompts": cfg.prompts, "topics": cfg.topics, "exclude": cfg.exclude}
    return {k: {"path": str(p), "sha256": sha256_file(p)} for k, p in files.items() if p is not None}


def _seed(cfg: SynthConfig, task: Task, call: int) -> int | None:
    if cfg.seed is None:
        return None
    return int.from_bytes(hashlib.sha256(f"{cfg.seed}:{task.id}:{call}".encode()).digest()[:4], "big")


class _Drop(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def converse(teacher: Teacher, cfg: SynthConfig, task: Task, usage: dict) -> tuple[list[dict], bool]:
    """The conversation for one task: ``(messages, truncated)``; raises :class:`_Drop` with a reason."""
    calls = iter(range(1_000_000))
    truncated = False

    def ask(messages):
        nonlocal truncated
        r = teacher.complete(messages, seed=_seed(cfg, task, next(calls)))
        usage["requests"] += 1
        usage["prompt_tokens"] += r.prompt_tokens
        usage["completion_tokens"] += r.completion_tokens
        if not r.text.strip():
            raise _Drop("empty")
        if r.finish_reason == "length":
            if not cfg.keep_truncated:
                raise _Drop("truncated")
            truncated = True
        if refused(r.text):
            raise _Drop("refused")
        return r.text

    p = task.prompt
    msgs = [{"role": "system", "content": p.system}] if p.system else []
    user = p.user if p.user is not None else clean_question(ask([{"role": "user", "content":
                                                                   cfg.template.replace("{topic}", p.topic)}]))
    if not user:
        raise _Drop("empty")
    msgs.append({"role": "user", "content": user})
    for turn in range(cfg.turns):
        if turn:
            nxt = clean_question(ask([{"role": "system", "content": USER_SIMULATOR},
                                      {"role": "user", "content": transcript(msgs)}]))
            if not nxt:
                raise _Drop("empty")
            msgs.append({"role": "user", "content": nxt})
        msgs.append({"role": "assistant", "content": ask(msgs)})
    return validate(msgs, f"synth {p.where}"), truncated


def run_synth(cfg: SynthConfig, *, progress: bool = True, log=None) -> dict:
    """Run (or resume) a synth run; returns the manifest. Bad input raises :class:`UserError`
    before anything is written; a fatal teacher error later leaves the files valid."""
    log = log or (lambda m: print(m, file=sys.stderr))
    cfg.check()
    prompts = read_prompts(cfg.prompts, cfg.system) if cfg.prompts else read_topics(cfg.topics, cfg.system)
    names = read_exclude(cfg.exclude) if cfg.exclude else []
    banned = names_pattern(names)
    tasks = make_tasks(prompts, cfg.key(), cfg.samples_per_prompt)
    budget, stop = Budget(cfg.max_requests, cfg.max_tokens_total), threading.Event()
    teacher = Teacher(cfg.base_url, cfg.api_key or "none", Settings(cfg.model, cfg.temperature, cfg.top_p,
                                                                     cfg.max_tokens),
                      timeout=cfg.timeout, retries=cfg.retries, backoff=cfg.backoff, max_backoff=cfg.max_backoff,
                      budget=budget, stop=stop)
    teacher.preflight()
    store = Store(cfg.out, cfg.key(), overwrite=cfg.overwrite)
    todo = [t for t in tasks if t.id not in store.done]
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("api_key", "base_url", "model", "out", "prompts",
                                                                   "topics", "exclude", "overwrite")}
    if cfg.topics is None:
        settings.pop("template")
    manifest = {"format": MANIFEST_FORMAT, "teacher": {"base_url": cfg.base_url, "model": cfg.model},
                "settings": settings, "key": cfg.key(), "inputs": _inputs(cfg), "excluded_names": len(names),
                "tasks": len(tasks), "status": "running"}
    store.write_manifest(manifest)
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "resumed_done": len(tasks) - len(todo),
           "failed": 0, "failed_first": None}
    t0, status, failed_in_row = time.time(), "complete", 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="conv", desc="synth", dynamic_ncols=True)

    def finish(task: Task, messages, usage, reason=None, truncated=False, said=None):
        rec = {"id": task.id, "where": task.prompt.where, "sample": task.sample, "usage": usage}
        if reason is None:
            kept = {"messages": messages, "source": "synth", **rec}
            if truncated:
                kept["truncated"] = True
            store.keep(kept)
        else:
            store.drop({**rec, "reason": reason, **({"said": said} if said else {})})

    def job(task: Task):
        usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        try:
            messages, truncated = converse(teacher, cfg, task, usage)
            if any(banned.search(fold(m["content"])) for m in messages):
                return task, None, usage, "excluded", False
            return task, messages, usage, None, truncated
        except _Drop as d:
            return task, None, usage, d.reason, False
        except Rejected as e:
            return task, None, usage, "rejected", str(e)

    pool = ThreadPoolExecutor(max_workers=cfg.concurrency, thread_name_prefix="synth")
    pending: set = set()
    queue = iter(todo)
    try:
        while True:
            while not budget.spent and len(pending) < cfg.concurrency:
                task = next(queue, None)
                if task is None:
                    break
                p = task.prompt
                if any(banned.search(fold(t)) for t in (p.user, p.topic, p.system) if t):
                    finish(task, None, {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}, "excluded")
                    if bar:
                        bar.update()
                    continue
                pending.add(pool.submit(job, task))
            if not pending:
                break
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for fut in done:
                try:
                    task, messages, usage, reason, extra = fut.result()
                except Stopped:
                    continue
                except Failed as e:
                    run["failed"] += 1
                    run["failed_first"] = run["failed_first"] or str(e)
                    failed_in_row += 1
                    if failed_in_row >= max(3, cfg.concurrency + 1):
                        raise UserError(f"--base-url {cfg.base_url}: the teacher stopped answering ({e}; "
                                        f"{failed_in_row} conversations in a row); what is done is kept in "
                                        f"{store.dir}: rerun the same command to resume") from None
                    continue
                failed_in_row = 0
                if reason is None:
                    finish(task, messages, usage, truncated=extra)
                else:
                    finish(task, None, usage, reason, said=extra if isinstance(extra, str) else None)
                if bar:
                    bar.update()
            if budget.spent and not pending:
                status = "budget"
                break
            if bar:
                elapsed = max(time.time() - t0, 1e-9)
                bar.set_postfix({"req/s": f"{budget.requests / elapsed:.2f}", "errors": sum(teacher.errors.values())},
                                refresh=False)
        if budget.spent:
            status = "budget"
        elif run["failed"]:
            status = "incomplete"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except UserError as e:
        status, run["error"] = "stopped", str(e)
        raise
    finally:
        stop.set()
        pool.shutdown(wait=status not in ("interrupted", "stopped"), cancel_futures=True)
        if bar:
            bar.close()
        run.update(finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), seconds=round(time.time() - t0, 3),
                   requests=budget.requests, tokens=budget.tokens, errors=dict(sorted(teacher.errors.items())),
                   budget_spent=budget.spent or None)
        counts = store.counts()
        manifest.update(status=status, kept=counts["kept"], dropped=counts["dropped"],
                        truncated_kept=counts["truncated_kept"], usage=counts["usage"],
                        remaining=len(tasks) - len(store.done & {t.id for t in tasks}), last_run=run)
        store.write_manifest(manifest)
        store.close()
    return manifest
