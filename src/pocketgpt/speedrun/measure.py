"""A few seconds of measurement before pretraining: dtype, threads and model size.

- dtype: :func:`pocketgpt.train.perf.choose_dtype` (bf16 only where its matmuls are faster);
- threads: on a CPU shared with other work, one thread can beat two by a wide margin
  (measured 6x under load, from spin-waiting OpenMP threads), so both are timed;
- model: candidate shapes run a few real training steps each, smallest first; the largest
  expected to see ``min_tokens`` in the pretraining time is chosen, else the smallest
  (exposures beat parameters at these budgets). Measuring stops at the first shape that
  misses the target, so a slow machine never times the big ones.
"""

from __future__ import annotations

import time

import torch


def train_step_rate(model_kw: dict, vocab_size: int, batch: int, block: int, dtype: str, seconds: float,
                    device: str = "cpu") -> float:
    """Tokens per second of forward + backward + AdamW on random tokens (best of the timed steps)."""
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.train.perf import DTYPES

    gen = torch.Generator().manual_seed(0)  # the global RNG is left alone
    cfg = GPTConfig(vocab_size=vocab_size, block_size=block, **model_kw)
    model = GPT(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, vocab_size, (batch, block), generator=gen).to(device)
    best, steps, deadline = 0.0, 0, None
    while True:
        t0 = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=DTYPES[dtype], enabled=dtype != "float32"):
            _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        steps += 1
        if steps > 1:  # the first step pays for allocation
            best = max(best, batch * block / dt)
        deadline = deadline or time.perf_counter() + seconds
        if steps >= 3 and time.perf_counter() > deadline:
            return best


def choose(candidates, vocab_size: int, batch: int, block: int, seconds_available: float, min_tokens: int,
           measure_seconds: float, device: str = "cpu") -> dict:
    """``{"model", "dtype", "threads", "tokens_per_s", "expected_tokens", "measured"}``."""
    from pocketgpt.train.perf import choose_dtype

    dtype = choose_dtype("auto", torch.device(device))
    threads = torch.get_num_threads()
    measured = []
    if device == "cpu" and threads > 1:
        rates = {}
        for n in (threads, 1):
            torch.set_num_threads(n)
            # a quarter batch: a badly oversubscribed thread pool can take seconds per full step
            rates[n] = train_step_rate(candidates[-1], vocab_size, max(1, batch // 4), block, dtype, measure_seconds)
        threads = max(rates, key=rates.get)
        torch.set_num_threads(threads)
        measured.append({"threads": rates})
    pick = None
    for kw in reversed(candidates):  # smallest first: stop at the first shape too slow for the target
        tps = train_step_rate(kw, vocab_size, batch, block, dtype, measure_seconds, device)
        expected = int(tps * seconds_available)
        measured.append({"model": kw, "tokens_per_s": round(tps, 1), "expected_tokens": expected})
        if pick is not None and expected < min_tokens:
            break
        pick = (kw, tps, expected)  # the smallest is kept even when it misses the target
        if expected < min_tokens:
            break
    return {"model": pick[0], "dtype": dtype, "threads": threads, "tokens_per_s": round(pick[1], 1),
            "expected_tokens": pick[2], "measured": measured}
