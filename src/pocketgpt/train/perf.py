"""Measured matmul peaks (the denominator of MFU) and the ``--dtype auto`` choice.

Peaks are measured, not looked up: the same "2 core" machine may be a Xeon with
AMX (bf16 ~6x fp32) or an AVX2-only EPYC (bf16 ~8x *slower* than fp32).

>>> peak = measure_matmul_peak("cpu", "float32", seconds=0.05)
>>> peak > 1e8
True
"""

from __future__ import annotations

import functools
import time

import torch
import torch.nn.functional as F

from pocketgpt.model.layers import linear

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@functools.lru_cache(maxsize=None)
def measure_matmul_peak(device: str, dtype: str, seconds: float = 0.25, n: int | None = None) -> float:
    """FLOP/s of a square ``F.linear`` on ``device`` in ``dtype`` (best of the timed runs).

    For bf16 on CPU it times :func:`pocketgpt.model.layers.linear` under autocast,
    the fastest bf16-input GEMM this software has on that CPU (native bf16 where the
    hardware has it, bf16 values multiplied in fp32 where it does not), so MFU is
    measured against what the device can actually do.
    """
    dev = torch.device(device)
    n = n or (4096 if dev.type == "cuda" else 512)
    # a private generator: measuring must not move the global RNG (exact resume depends on it)
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(n, n, device=dev, dtype=DTYPES[dtype], generator=gen)
    w = torch.randn(n, n, device=dev, dtype=DTYPES[dtype], generator=gen)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    if dev.type == "cpu" and dtype == "bfloat16":
        # the route our model's bf16 matmuls take on this CPU (see model.layers.linear)
        def mm():
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return linear(x, w)
    else:
        def mm():
            return F.linear(x, w)

    mm()
    sync()
    best, deadline = 0.0, time.perf_counter() + seconds
    reps = 10 if dev.type == "cuda" else 1
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for _ in range(reps):
            mm()
        sync()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0))
    return best


def choose_dtype(requested: str, device: torch.device) -> str:
    """``float32`` or ``bfloat16``. ``auto``: bf16 on CUDA with bf16 support; on CPU,
    bf16 only where its measured matmul rate beats fp32 by 1.5x (AMX-class CPUs)."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    fp32 = measure_matmul_peak(str(device), "float32")
    bf16 = measure_matmul_peak(str(device), "bfloat16")
    return "bfloat16" if bf16 > 1.5 * fp32 else "float32"
