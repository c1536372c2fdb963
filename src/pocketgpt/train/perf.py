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

from pocketgpt.errors import UserError
from pocketgpt.model.layers import linear
from pocketgpt.train.distributed import synchronize

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
    n = n or (512 if dev.type == "cpu" else 4096)
    # a private generator: measuring must not move the global RNG (exact resume depends on it)
    gen = torch.Generator(device=dev).manual_seed(0)
    x = torch.randn(n, n, device=dev, dtype=DTYPES[dtype], generator=gen)
    w = torch.randn(n, n, device=dev, dtype=DTYPES[dtype], generator=gen)

    def sync():
        synchronize(dev)

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
    reps = 1 if dev.type == "cpu" else 10  # GPU launches are asynchronous: time a batch of them
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        for _ in range(reps):
            mm()
        sync()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0))
    return best


def bf16_supported(device: torch.device) -> bool:
    """Whether the device computes in bf16: CUDA says so; MPS has it from macOS 14, and
    the honest test there is to try (older systems raise); the CPU always can."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "mps":
        try:
            (torch.ones(2, device=device, dtype=torch.bfloat16) * 2).cpu()
        except (RuntimeError, TypeError):
            return False
    return True


def choose_dtype(requested: str, device: torch.device) -> str:
    """``float32`` or ``bfloat16``. ``auto``: bf16 on CUDA with bf16 support; on CPU and
    MPS, bf16 only where it is supported and its measured matmul rate beats fp32 by 1.5x
    (AMX-class CPUs; Apple GPUs are measured the same way, not assumed)."""
    if requested != "auto":
        if requested == "bfloat16" and not bf16_supported(device):
            raise UserError(f"dtype bfloat16: not supported on device {device} (this torch/OS cannot compute in "
                            "bf16 there); use dtype=float32 or auto")
        return requested
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    if not bf16_supported(device):
        return "float32"
    fp32 = measure_matmul_peak(str(device), "float32")
    bf16 = measure_matmul_peak(str(device), "bfloat16")
    return "bfloat16" if bf16 > 1.5 * fp32 else "float32"
