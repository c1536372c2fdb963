"""Training throughput: our GPT against transformers' model of the same family and size.

Measures tokens/s, MFU (against the measured matmul peak of this device in that
dtype) and peak memory for ours vs ``GPT2LMHeadModel`` (arch gpt2) or
``Qwen3ForCausalLM`` (arch modern), random init, same batch, sequence length,
optimizer (AdamW) and loss, in fp32 and bf16 autocast, eager and compiled. The
two models alternate in short rounds so that load from other processes on a
shared machine hits both alike. Prints one line per configuration and the ratio.

    python benchmarks/train.py                          # GPT-2 6x384, T=256, B=16, all modes
    python benchmarks/train.py --dtypes bfloat16 --batch-size 4 --modes eager
    python benchmarks/train.py --arch modern --profile  # where our bf16 step spends its time
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import time

import torch

from pocketgpt.interop import qwen3_config
from pocketgpt.model import GPT, GPTConfig
from pocketgpt.train.perf import measure_matmul_peak


def peak_rss_reset() -> None:
    # Writing 5 to clear_refs resets the VmHWM (peak RSS) counter on Linux.
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def peak_rss_mb() -> float:
    with contextlib.suppress(OSError):
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def build(which: str, cfg: GPTConfig, device: torch.device):
    torch.manual_seed(0)
    if which.startswith("ours"):
        model = GPT(cfg)
    elif cfg.arch == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        hf_cfg = GPT2Config(vocab_size=cfg.vocab_size, n_positions=cfg.block_size, n_embd=cfg.n_embd,
                            n_layer=cfg.n_layer, n_head=cfg.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
                            attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
        model = GPT2LMHeadModel._from_config(hf_cfg, attn_implementation="sdpa")
    else:
        from transformers import Qwen3Config, Qwen3ForCausalLM

        model = Qwen3ForCausalLM._from_config(Qwen3Config(**qwen3_config(cfg)), attn_implementation="sdpa")
    return model.to(device).train()


@contextlib.contextmanager
def plain_linear():
    """Our model with autograd's own linear backward (no CPU bf16 layout fix), for comparison."""
    import torch.nn.functional as F

    from pocketgpt.model import gpt, layers

    saved = layers.linear, gpt.linear
    layers.linear = gpt.linear = lambda x, w, b=None: F.linear(x, w, b)
    try:
        yield
    finally:
        layers.linear, gpt.linear = saved


def make_step(which, model, opt, device, dtype, compiled):
    def loss_fn(x, y):
        if which == "ours":
            return model(x, y)[1]
        if which == "ours-nofix":
            with plain_linear():
                return model(x, y)[1]
        return model(input_ids=x, labels=x).loss  # HF shifts labels itself: same positions, same work

    fn = torch.compile(loss_fn) if compiled else loss_fn

    def step(x, y):
        with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
            loss = fn(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_pair(cfg, args, device, dtype_name, compiled, peaks):
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]
    B, T = args.batch_size, cfg.block_size
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, cfg.vocab_size, (B, T), generator=g).to(device)
    y = torch.roll(x, -1, 1)
    runs = {}
    variants = ["ours", "hf"]
    if args.nofix and dtype == torch.bfloat16 and device.type == "cpu":
        variants.append("ours-nofix")
    for which in variants:
        model = build(which, cfg, device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type in ("cpu", "cuda"))
        step = make_step(which, model, opt, device, dtype, compiled)
        t0 = time.perf_counter()
        for _ in range(args.warmup):
            step(x, y)
        sync(device)
        runs[which] = {"model": model, "step": step, "times": [], "cpu_times": [], "warm_s": time.perf_counter() - t0, "peak": 0.0}
    peak = peaks.get(dtype_name, 0.0)  # the best seen in this run, over all configurations
    for _ in range(args.rounds):  # alternate so background load hits both alike
        # the peak is re-measured every round and the best kept: on a shared machine a single
        # short measurement can land in a busy moment and inflate MFU
        peak = max(peak, measure_matmul_peak.__wrapped__(str(device), dtype_name, seconds=0.5))
        for which, r in runs.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            peak_rss_reset()
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                r["step"](x, y)
            sync(device)
            r["times"].append((time.perf_counter() - t0) / args.steps)
            r["cpu_times"].append((time.process_time() - c0) / args.steps)
            mem = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else peak_rss_mb()
            r["peak"] = max(r["peak"], mem)
    peaks[dtype_name] = peak
    ours = runs["ours"]["model"]
    fpt = ours.flops_per_token(T)
    out = {}
    for which, r in runs.items():
        best = min(r["times"])  # least disturbed round
        tps = B * T / best
        # CPU seconds per step: less sensitive than wall time to other processes on a shared machine
        out[which] = {"tokens_per_s": tps, "mfu": tps * fpt / peak, "peak_mem_mb": r["peak"],
                      "step_s": best, "cpu_s_per_step": min(r["cpu_times"]), "first_steps_s": r["warm_s"]}
    out["ratio"] = out["ours"]["tokens_per_s"] / out["hf"]["tokens_per_s"]
    out["cpu_ratio"] = out["hf"]["cpu_s_per_step"] / out["ours"]["cpu_s_per_step"]
    out["matmul_peak_gflops"] = peak / 1e9
    return out


def profile_ours(cfg, args, device, dtype_name):
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]
    model = build("ours", cfg, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    step = make_step("ours", model, opt, device, dtype, False)
    x = torch.randint(0, cfg.vocab_size, (args.batch_size, cfg.block_size), device=device)
    step(x, x)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step(x, x)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.profile_rows))


def bench_sizes(args, device) -> None:
    """Ours only, several shapes interleaved: the measurement behind the cpu-tiny preset."""
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.dtypes.split(",")[0]]
    runs = {}
    for shape in args.sizes.split(","):
        n_layer, n_embd = map(int, shape.split("x"))
        cfg = GPTConfig(vocab_size=args.vocab_size, block_size=args.block_size, n_layer=n_layer,
                        n_head=4 if n_embd < 384 else 6, n_embd=n_embd, arch=args.arch)
        model = build("ours", cfg, device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
        step = make_step("ours", model, opt, device, dtype, False)
        x = torch.randint(0, cfg.vocab_size, (args.batch_size, cfg.block_size), device=device)
        for _ in range(args.warmup):
            step(x, x)
        runs[shape] = (step, x, [], model.num_params(), [])
    for _ in range(args.rounds):
        for shape, (step, x, times, _, cpu) in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(args.steps):
                step(x, x)
            times.append((time.perf_counter() - t0) / args.steps)
            cpu.append((time.process_time() - c0) / args.steps)
    for shape, (_, x, times, n, cpu) in runs.items():
        print(f"{shape:8s} {n / 1e6:5.1f}M params  {x.numel() / min(times):8,.0f} tokens/s, "
              f"{x.numel() / min(cpu):8,.0f} tokens per CPU-second (best of {args.rounds})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="gpt2", choices=("gpt2", "modern"))
    ap.add_argument("--n-layer", type=int, default=6)
    ap.add_argument("--n-embd", type=int, default=384)
    ap.add_argument("--n-head", type=int, default=6)
    ap.add_argument("--n-kv-head", type=int, default=None)
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--block-size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--modes", default="eager,compiled")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2, help="steps per timed round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--profile", action="store_true", help="profile one step of ours per dtype and exit")
    ap.add_argument("--profile-rows", type=int, default=15)
    ap.add_argument("--nofix", action="store_true",
                    help="in CPU bf16, also time ours without the bf16 linear-backward layout fix")
    ap.add_argument("--sizes", help="e.g. 4x192,4x256,6x384: time ours at these shapes (first dtype) and exit")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    device = torch.device(args.device)
    cfg = GPTConfig(arch=args.arch, vocab_size=args.vocab_size, block_size=args.block_size, n_layer=args.n_layer,
                    n_head=args.n_head, n_kv_head=args.n_kv_head, n_embd=args.n_embd)
    n_params = GPT(cfg).num_params()
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"{cpu}, {torch.get_num_threads()} threads"
    print(f"# {args.arch} {args.n_layer}x{args.n_embd}, {n_params / 1e6:.1f}M params, B={args.batch_size} "
          f"T={args.block_size}, torch {torch.__version__}, {where}, load avg {os.getloadavg()[0]:.1f}")
    if args.sizes:
        return bench_sizes(args, device)
    if args.profile:
        for dt in args.dtypes.split(","):
            print(f"## profile: ours, {dt}")
            profile_ours(cfg, args, device, dt)
        return
    results, peaks = [], {}
    print(f"{'dtype':9s} {'mode':8s} {'ours tok/s':>11s} {'hf tok/s':>9s} {'ratio':>6s} {'ours MFU':>8s} "
          f"{'hf MFU':>7s} {'ours MB':>8s} {'hf MB':>7s} {'peak GF/s':>9s} {'CPU-time ratio':>14s}")
    for dt in args.dtypes.split(","):
        for mode in args.modes.split(","):
            r = bench_pair(cfg, args, device, dt, compiled=mode == "compiled", peaks=peaks)
            o, h = r["ours"], r["hf"]
            print(f"{dt:9s} {mode:8s} {o['tokens_per_s']:11,.0f} {h['tokens_per_s']:9,.0f} {r['ratio']:6.2f} "
                  f"{o['mfu']:8.1%} {h['mfu']:7.1%} {o['peak_mem_mb']:8,.0f} {h['peak_mem_mb']:7,.0f} "
                  f"{r['matmul_peak_gflops']:9.1f} {r['cpu_ratio']:14.2f}", flush=True)
            if "ours-nofix" in r:
                n = r["ours-nofix"]
                print(f"{'':9s} {'':8s} ours without the bf16 backward fix: {n['tokens_per_s']:,.0f} tok/s, "
                      f"MFU {n['mfu']:.1%}; the fix is {o['tokens_per_s'] / n['tokens_per_s']:.2f}x", flush=True)
            results.append({"dtype": dt, "mode": mode, **r})
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "device": where, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
