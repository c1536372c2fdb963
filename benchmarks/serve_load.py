"""Sustained load on the server: 32 clients for 60 s, mixed streaming and plain requests; leak check.

    .venv/bin/python benchmarks/serve_load.py                      # 32 clients x 60 s (about 2 minutes)
    .venv/bin/python benchmarks/serve_load.py --clients 8 --seconds 10 --checkpoint runs/sft

One ``pocketgpt serve`` process on loopback (tiny random assistant unless ``--checkpoint``).
Client ``i`` loops until the deadline, taking turns through four request kinds:
streamed chat, plain chat, streamed completion, plain completion; each must end properly
(a finish_reason, and ``data: [DONE]`` for a stream). The run is bounded: each client stops
starting requests at the deadline, and the whole load is cancelled ``--grace`` seconds
after it; the server is stopped in every case.

Memory: the server's RSS (``/proc/PID/status``) after a warm-up of the same mix
(``--warmup`` seconds; it allocates KV caches and thread pools once) is "before"; RSS
after the load and a 2 s settle is "after". The baseline: the same mix from one client
for ``--baseline-seconds``, measured in the same process just before, so latency under
load prints as a ratio to unloaded latency.

Prints one summary line; exits 1 on any error, an incomplete reply, an unhealthy server
afterwards, or RSS growth over ``--max-rss-growth`` (default 10%).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from serve_ttft import (  # noqa: E402
    QUESTIONS, healthy_and_idle, make_tiny_checkpoint, pct, sse_chunks, start_server, stop_server)

KINDS = ("chat-stream", "chat", "completion-stream", "completion")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def body(kind: str, i: int, n: int, max_tokens: int) -> tuple[str, dict]:
    q = QUESTIONS[(i + n) % len(QUESTIONS)]
    common = {"max_tokens": max_tokens, "temperature": 1.0, "seed": i * 100_000 + n}
    if kind.startswith("chat"):
        path, b = "/v1/chat/completions", {"messages": [{"role": "user", "content": q}], **common}
    else:
        path, b = "/v1/completions", {"prompt": q, **common}
    if kind.endswith("stream"):
        b["stream"] = True
    return path, b


async def one(http: httpx.AsyncClient, kind: str, path: str, b: dict) -> str | None:
    """Send one request; None when it ended properly, else what went wrong."""
    if not b.get("stream"):
        r = await http.post(path, json=b)
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {r.text[:200]}"
        choice = r.json()["choices"][0]
        return None if choice.get("finish_reason") else "no finish_reason"
    finish, done = None, False
    async with http.stream("POST", path, json=b) as r:
        if r.status_code != 200:
            return f"HTTP {r.status_code}: {(await r.aread())[:200]!r}"
        async for chunk in sse_chunks(r):
            if chunk is None:
                done = True
                break
            if "error" in chunk:
                return chunk["error"]["message"]
            if chunk.get("choices"):
                finish = chunk["choices"][0].get("finish_reason") or finish
    return None if (done and finish) else "incomplete stream"


async def client(http, i: int, until: float, max_tokens: int, out: dict) -> None:
    n = 0
    while time.perf_counter() < until:
        kind = KINDS[(i + n) % len(KINDS)]
        path, b = body(kind, i, n, max_tokens)
        n += 1
        t0 = time.perf_counter()
        try:
            problem = await one(http, kind, path, b)
        except (httpx.HTTPError, json.JSONDecodeError) as e:
            problem = f"{type(e).__name__}: {e}"
        if problem:
            out["errors"].append(f"{kind}: {problem}")
            continue
        out["latency"].append(time.perf_counter() - t0)
        out["by_kind"][kind] = out["by_kind"].get(kind, 0) + 1


async def load(url: str, clients: int, seconds: float, max_tokens: int, grace: float) -> dict:
    out = {"latency": [], "errors": [], "by_kind": {}}
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        t0 = time.perf_counter()
        tasks = asyncio.gather(*(client(http, i, t0 + seconds, max_tokens, out) for i in range(clients)))
        try:
            await asyncio.wait_for(tasks, timeout=seconds + grace)
        except asyncio.TimeoutError:
            out["errors"].append(f"load still running {grace:g} s after the deadline; cancelled")
        out["wall"] = time.perf_counter() - t0
        h = await http.get("/health")
        out["health"] = (h.status_code, h.json() if h.status_code == 200 else h.text)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--max-batch", type=int, default=8, help="the server's --max-batch (default: its default, 8)")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--baseline-seconds", type=float, default=8.0)
    ap.add_argument("--grace", type=float, default=120.0)
    ap.add_argument("--max-rss-growth", type=float, default=0.10)
    args = ap.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared); "
          f"{args.clients} clients x {args.seconds:g} s, mix {'/'.join(KINDS)}, max_tokens {args.max_tokens}, "
          f"server --max-batch {args.max_batch}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or make_tiny_checkpoint(Path(tmp))
        proc, url = start_server(ckpt, args.max_batch, args.max_tokens)
        try:
            rss_start = rss_mib(proc.pid)
            asyncio.run(load(url, args.clients, args.warmup, args.max_tokens, args.grace))
            base = asyncio.run(load(url, 1, args.baseline_seconds, args.max_tokens, args.grace))
            rss_before = rss_mib(proc.pid)
            res = asyncio.run(load(url, args.clients, args.seconds, args.max_tokens, args.grace))
            time.sleep(2.0)
            rss_after = rss_mib(proc.pid)
        finally:
            stop_server(proc)
    healthy = healthy_and_idle(res["health"])
    growth = rss_after / rss_before - 1
    n = len(res["latency"])
    ms = lambda x: f"{1000 * x:.0f}"  # noqa: E731
    print(f"unloaded (1 client, {args.baseline_seconds:g} s): {len(base['latency'])} requests, "
          f"latency p50 {ms(pct(base['latency'], 50))} ms, errors {len(base['errors'])}")
    print(f"load: {n} requests in {res['wall']:.1f} s = {n / res['wall']:.1f} req/s "
          f"({', '.join(f'{k} {v}' for k, v in sorted(res['by_kind'].items()))}); "
          f"latency p50 {ms(pct(res['latency'], 50))} ms, p99 {ms(pct(res['latency'], 99))} ms "
          f"({pct(res['latency'], 50) / pct(base['latency'], 50):.1f}x unloaded p50); errors {len(res['errors'])}; "
          f"server RSS {rss_start:.0f} MiB at start, {rss_before:.0f} MiB after warm-up, {rss_after:.0f} MiB after "
          f"({100 * growth:+.1f}%); healthy {healthy}", flush=True)
    bad = res["errors"][:5] + base["errors"][:5]
    if not healthy:
        bad.append(f"unhealthy after the load: {health}")
    if growth > args.max_rss_growth:
        bad.append(f"RSS grew {100 * growth:.1f}% (> {100 * args.max_rss_growth:.0f}%)")
    for b in bad:
        print(f"FAIL {b}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
