"""Load on the server: N concurrent streaming chat clients; time to first token, errors, health.

    .venv/bin/python benchmarks/serve_ttft.py                       # 16 clients, 30 s per run
    .venv/bin/python benchmarks/serve_ttft.py --clients 16 --seconds 30 --checkpoint runs/sft

Two runs side by side, each against a fresh ``pocketgpt serve`` process on loopback:

- baseline: ``--max-batch 1`` (requests served one at a time, the rest queue)
- ours: ``--max-batch N`` (continuous batching: every client decodes in the same forward pass)

Each client loops for ``--seconds``: stream a chat completion (``max_tokens`` tokens),
time the first token (first chunk carrying a token), check the stream ends with a
finish_reason and ``data: [DONE]``. Afterwards ``/health`` must answer 200 with nothing
left active or queued. Without ``--checkpoint`` it makes a tiny random assistant
checkpoint (4 layers, 192 wide, 512-token vocabulary, 256 context; ~2.0M parameters).
Exits 1 if any request failed or any stream was incomplete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

QUESTIONS = ["What is the capital of France?", "Who are you?", "Tell me a story.", "Hello!", "What is 2+2?"]


def make_tiny_checkpoint(root: Path) -> Path:
    import torch

    from pocketgpt.chat.format import format_info
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.tokenizer import train
    from pocketgpt.train.checkpoint import save_checkpoint

    text = [" ".join(QUESTIONS) * 20, "The capital of France is Paris. I am a small language model. " * 20]
    tok = train(text, vocab_size=512, progress=False)
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=512, block_size=256, n_layer=4, n_head=4, n_embd=192, tie_embeddings=False)
    config = {"model": cfg.to_dict(), "train": {}, "assistant": True, "chat_format": format_info()}
    save_checkpoint(root / "tiny", 1, model_state=GPT(cfg).state_dict(), optimizer_state=None,
                    trainer_state={"step": 1}, config=config, tokenizer=tok)
    return root / "tiny"


async def sse_chunks(r):
    """The JSON chunks of a server-sent event stream, then None for ``data: [DONE]``."""
    async for line in r.aiter_lines():
        if line == "data: [DONE]":
            yield None
            return
        if line.startswith("data: "):
            yield json.loads(line[6:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(checkpoint: Path, max_batch: int, max_tokens: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "pocketgpt", "serve", "--checkpoint", str(checkpoint), "--port", str(port),
           "--max-batch", str(max_batch), "--max-tokens-cap", str(max_tokens), "--log-level", "warning"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stderr.read()}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start in 120 s")


async def client(http: httpx.AsyncClient, i: int, until: float, max_tokens: int, out: dict) -> None:
    n = 0
    while time.perf_counter() < until:
        body = {"messages": [{"role": "user", "content": QUESTIONS[(i + n) % len(QUESTIONS)]}],
                "max_tokens": max_tokens, "temperature": 1.0, "seed": i * 1000 + n, "stream": True,
                "stream_options": {"include_usage": True}}
        n += 1
        t0 = time.perf_counter()
        first, tokens, finish, done = None, 0, None, False
        try:
            async with http.stream("POST", "/v1/chat/completions", json=body) as r:
                if r.status_code != 200:
                    out["errors"].append(f"HTTP {r.status_code}: {(await r.aread())[:200]!r}")
                    continue
                async for chunk in sse_chunks(r):
                    if chunk is None:
                        done = True
                        break
                    if "error" in chunk:
                        out["errors"].append(chunk["error"]["message"])
                        break
                    if chunk.get("usage"):
                        tokens = chunk["usage"]["completion_tokens"]
                    if not chunk["choices"]:
                        continue
                    choice = chunk["choices"][0]
                    if choice["delta"].get("content"):
                        first = first or time.perf_counter()
                    finish = choice["finish_reason"] or finish
        except httpx.HTTPError as e:
            out["errors"].append(f"{type(e).__name__}: {e}")
            continue
        if not (done and finish):
            out["incomplete"] += 1
            continue
        out["ttft"].append((first or time.perf_counter()) - t0)
        out["latency"].append(time.perf_counter() - t0)
        out["tokens"] += tokens
        out["completed"] += 1


async def load(url: str, clients: int, seconds: float, max_tokens: int) -> dict:
    out = {"ttft": [], "latency": [], "errors": [], "incomplete": 0, "completed": 0, "tokens": 0}
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http, i, t0 + seconds, max_tokens, out) for i in range(clients)))
        out["wall"] = time.perf_counter() - t0
        h = await http.get("/health")
        out["health"] = (h.status_code, h.json())
    return out


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]


def run(checkpoint: Path, max_batch: int, args) -> dict:
    proc, url = start_server(checkpoint, max_batch, args.max_tokens)
    try:
        res = asyncio.run(load(url, args.clients, args.seconds, args.max_tokens))
    finally:
        stop_server(proc)
    res["healthy"] = healthy_and_idle(res["health"])
    body = res["health"][1]
    res["engine"] = body.get("engine") if isinstance(body, dict) else body
    return res


def stop_server(proc: subprocess.Popen) -> None:
    """Ctrl-C the server (a graceful shutdown), then kill it if it does not exit in 30 s."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def healthy_and_idle(health: tuple) -> bool:
    """``(status, body)`` of ``GET /health``: 200, with nothing active or queued."""
    code, body = health
    return code == 200 and body["engine"]["active"] == 0 and body["engine"]["queued"] == 0


def report(name: str, r: dict) -> str:
    ms = lambda x: f"{1000 * x:7.0f}"  # noqa: E731
    return (f"{name:24s} ttft p50 {ms(pct(r['ttft'], 50))} ms  p99 {ms(pct(r['ttft'], 99))} ms  "
            f"latency p50 {ms(pct(r['latency'], 50))} ms  streams {r['completed']:4d}  "
            f"tokens/s {r['tokens'] / r['wall']:6.1f}  errors {len(r['errors'])}  incomplete {r['incomplete']}  "
            f"healthy {r['healthy']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads default; "
          f"{args.clients} streaming clients x {args.seconds:g} s, max_tokens {args.max_tokens}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or make_tiny_checkpoint(Path(tmp))
        results = {}
        if not args.skip_baseline:
            results["baseline (max-batch 1)"] = run(ckpt, 1, args)
            print(report("baseline (max-batch 1)", results["baseline (max-batch 1)"]), flush=True)
        name = f"batched (max-batch {args.clients})"
        results[name] = run(ckpt, args.clients, args)
        print(report(name, results[name]), flush=True)
    if not args.skip_baseline:
        b, o = results["baseline (max-batch 1)"], results[name]
        print(f"ratio baseline/batched: ttft p50 {pct(b['ttft'], 50) / pct(o['ttft'], 50):.2f}x  "
              f"ttft p99 {pct(b['ttft'], 99) / pct(o['ttft'], 99):.2f}x  "
              f"throughput batched/baseline {o['tokens'] / o['wall'] / (b['tokens'] / b['wall']):.2f}x")
    bad = [(k, r["errors"][:3]) for k, r in results.items() if r["errors"] or r["incomplete"] or not r["healthy"]]
    for k, errs in bad:
        print(f"FAIL {k}: {errs}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
