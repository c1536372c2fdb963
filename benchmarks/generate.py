"""Generation speed: pocketgpt's engine against transformers' generate(use_cache=True), side by side.

The same random GPT-2 weights (6 layers x 384, 6 heads, vocab 8192, context
1024: 14.2M parameters) run in both, fp32. Measured in one run, alternating
ours and theirs so that load from other processes hits both alike:

1. batch 1, 16-token prompt, 256 new tokens, greedy: tokens/s and the ratio
   (also: ours sampling, and ours without the fast step's decode weight copies);
2. per-token decode latency with 32 vs 1024 tokens of context (ours and theirs);
3. batch 8 (prompts of 9..16 tokens, left-padded), 256 new tokens: tokens/s;
4. per-step overhead: the same 6-layer GPT-2 at width 24 and vocab 64, where the
   matmuls cost next to nothing and a step is all Python and dispatch.

    .venv/bin/python benchmarks/generate.py                # defaults above
    .venv/bin/python benchmarks/generate.py --threads 1 --repeats 5
    .venv/bin/python benchmarks/generate.py --quick        # a smoke run (fewer tokens)

Prints one line per measurement and a JSON summary at the end.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time

import torch


def build(vocab: int, block: int, width: int = 384):
    import transformers

    from pocketgpt.interop import load_hf_gpt2

    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=vocab, n_positions=block, n_embd=width, n_layer=6, n_head=6,
                                  bos_token_id=None, eos_token_id=None, pad_token_id=0)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # larger weights: peaked distributions, so greedy ids are comparable
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        ours = load_hf_gpt2(d)
    return hf, ours


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def hf_generate(hf, prompts: torch.Tensor, mask: torch.Tensor, n: int):
    with torch.inference_mode():
        return hf.generate(prompts, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, do_sample=False,
                           use_cache=True, pad_token_id=0)


def decode_latency_ours(engine, ctx: int, steps: int) -> float:
    from pocketgpt.generate.decoder import Decoder

    model = engine.model
    prompt = torch.randint(1, model.config.vocab_size, (ctx,)).tolist()
    with torch.inference_mode():
        dec = Decoder(model, [prompt], max_new_tokens=steps + 1, weights=engine.decode_weights())
        logits = dec.prefill()
        t0 = time.perf_counter()
        for _ in range(steps):
            logits = dec.step(logits.argmax(-1))
        return (time.perf_counter() - t0) / steps


def decode_latency_hf(hf, ctx: int, steps: int) -> float:
    prompt = torch.randint(1, hf.config.vocab_size, (1, ctx))
    with torch.inference_mode():
        out = hf(prompt, use_cache=True)
        past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        t0 = time.perf_counter()
        for _ in range(steps):
            out = hf(tok, past_key_values=past, use_cache=True)
            past, tok = out.past_key_values, out.logits[:, -1:].argmax(-1)
        return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--quick", action="store_true", help="64 new tokens, 1 repeat: a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.new_tokens, args.repeats = 64, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers

    from pocketgpt.generate import Engine, SamplingParams

    hf, ours = build(vocab=8192, block=1024)
    engine = Engine(ours)
    lean = Engine(ours, copy_weights=False)  # the fast step on the model's own storage only
    n = args.new_tokens
    res = {"machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
                      f"transformers {transformers.__version__}, {torch.get_num_threads()} threads",
           "params": ours.num_params(), "new_tokens": n}
    w = engine.decode_weights()
    res["decode_splits"], res["decode_copy_mb"] = w.splits, w.extra_bytes / 2**20
    print(res["machine"], f"| model {ours.num_params() / 1e6:.1f}M params | fast step: {w.splits}-way split matvecs, "
          f"{res['decode_copy_mb']:.0f} MB of decode copies")

    # 1. batch 1 greedy, 16-token prompt
    prompt = torch.randint(1, 8192, (1, 16), generator=torch.Generator().manual_seed(1))
    greedy = SamplingParams(max_new_tokens=n, temperature=0)
    sampled = SamplingParams(max_new_tokens=n, temperature=1.0, top_k=50, seed=0)
    hf_generate(hf, prompt, torch.ones_like(prompt), 8)  # warm up both
    engine.generate(prompt[0].tolist(), SamplingParams(max_new_tokens=8, temperature=0))
    t_hf, t_ours, t_samp, t_lean = [], [], [], []
    for _ in range(args.repeats):  # alternate so contention hits both alike
        t, hf_out = timed(lambda: hf_generate(hf, prompt, torch.ones_like(prompt), n), 1)
        t_hf.append(t)
        t, ours_out = timed(lambda: engine.generate(prompt[0].tolist(), greedy), 1)
        t_ours.append(t)
        t, _ = timed(lambda: engine.generate(prompt[0].tolist(), sampled), 1)
        t_samp.append(t)
        t, lean_out = timed(lambda: lean.generate(prompt[0].tolist(), greedy), 1)
        t_lean.append(t)
    same = hf_out[0, 16:].tolist() == ours_out.ids == lean_out.ids
    b1 = {"transformers_tok_s": n / statistics.median(t_hf), "ours_tok_s": n / statistics.median(t_ours),
          "ours_sampled_top_k50_tok_s": n / statistics.median(t_samp),
          "ours_no_copies_tok_s": n / statistics.median(t_lean), "same_greedy_ids": same}
    b1["ratio"] = b1["ours_tok_s"] / b1["transformers_tok_s"]
    res["batch1"] = b1
    print(f"batch 1, 16-token prompt, {n} new tokens, greedy: transformers {b1['transformers_tok_s']:.0f} tok/s, "
          f"ours {b1['ours_tok_s']:.0f} tok/s -> {b1['ratio']:.2f}x (same ids: {same}); "
          f"ours sampling top-k 50: {b1['ours_sampled_top_k50_tok_s']:.0f} tok/s; ours without decode copies: "
          f"{b1['ours_no_copies_tok_s']:.0f} tok/s ({b1['ours_no_copies_tok_s'] / b1['transformers_tok_s']:.2f}x)")

    # 2. per-token decode latency vs context length
    steps = 16 if args.quick else 32
    lat = {}
    for ctx in (32, 1024 - steps - 1):
        o = statistics.median(decode_latency_ours(engine, ctx, steps) for _ in range(args.repeats))
        h = statistics.median(decode_latency_hf(hf, ctx, steps) for _ in range(args.repeats))
        lat[ctx] = {"ours_ms": o * 1e3, "transformers_ms": h * 1e3}
        print(f"decode latency at {ctx} tokens of context: ours {o * 1e3:.2f} ms/token, "
              f"transformers {h * 1e3:.2f} ms/token")
    ctxs = sorted(lat)
    res["latency"] = lat
    res["latency_growth_ours"] = lat[ctxs[1]]["ours_ms"] / lat[ctxs[0]]["ours_ms"]
    res["latency_growth_transformers"] = lat[ctxs[1]]["transformers_ms"] / lat[ctxs[0]]["transformers_ms"]
    print(f"latency growth 32 -> {ctxs[1]}: ours x{res['latency_growth_ours']:.2f}, "
          f"transformers x{res['latency_growth_transformers']:.2f}")

    # 3. batch 8, ragged prompts (left-padded in both)
    g = torch.Generator().manual_seed(2)
    lens = [16, 9, 12, 16, 10, 14, 11, 15]
    plist = [torch.randint(1, 8192, (k,), generator=g).tolist() for k in lens]
    padded = torch.zeros(8, 16, dtype=torch.long)
    mask = torch.zeros(8, 16, dtype=torch.long)
    for i, p in enumerate(plist):
        padded[i, 16 - len(p):] = torch.tensor(p)
        mask[i, 16 - len(p):] = 1
    t_hf8, t_ours8 = [], []
    for _ in range(args.repeats):
        t, hf8 = timed(lambda: hf_generate(hf, padded, mask, n), 1)
        t_hf8.append(t)
        t, ours8 = timed(lambda: engine.generate_batch(plist, greedy), 1)
        t_ours8.append(t)
    agree = sum(hf8[i, 16:].tolist() == c.ids for i, c in enumerate(ours8))
    b8 = {"transformers_tok_s": 8 * n / statistics.median(t_hf8), "ours_tok_s": 8 * n / statistics.median(t_ours8),
          "rows_with_same_greedy_ids": agree}
    b8["ratio"] = b8["ours_tok_s"] / b8["transformers_tok_s"]
    res["batch8"] = b8
    print(f"batch 8, prompts of 9..16 tokens, {n} new tokens each: transformers {b8['transformers_tok_s']:.0f} "
          f"tok/s, ours {b8['ours_tok_s']:.0f} tok/s -> {b8['ratio']:.2f}x (rows with same ids: {agree}/8)")

    # 4. overhead: a model too small for its matmuls to matter
    hf_t, ours_t = build(vocab=64, block=1024, width=24)
    eng_t = Engine(ours_t)
    p16 = torch.randint(1, 64, (1, 16), generator=torch.Generator().manual_seed(3))
    t_hf_t, t_ours_t = [], []
    for _ in range(args.repeats):
        t_hf_t.append(timed(lambda: hf_generate(hf_t, p16, torch.ones_like(p16), n), 1)[0])
        t_ours_t.append(timed(lambda: eng_t.generate(p16[0].tolist(), greedy), 1)[0])
    ov = {"transformers_ms_per_token": statistics.median(t_hf_t) / n * 1e3,
          "ours_ms_per_token": statistics.median(t_ours_t) / n * 1e3}
    ov["ratio"] = ov["transformers_ms_per_token"] / ov["ours_ms_per_token"]
    res["overhead_width24"] = ov
    print(f"per-step overhead (6 layers x 24 wide, vocab 64, batch 1): transformers "
          f"{ov['transformers_ms_per_token']:.2f} ms/token, ours {ov['ours_ms_per_token']:.2f} ms/token "
          f"-> {ov['ratio']:.2f}x")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
