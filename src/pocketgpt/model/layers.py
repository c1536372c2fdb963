"""Building blocks of the GPT: norms, rotary embeddings, a CPU-friendly bf16 linear.

Everything here computes exactly what the Hugging Face GPT-2 / Qwen3 layers compute,
so weights map one to one (see :mod:`pocketgpt.interop.weights`).

>>> import torch
>>> cos, sin = rotary_cos_sin(torch.arange(3), head_dim=4, theta=10000.0)
>>> tuple(cos.shape)
(3, 4)
>>> q = torch.ones(1, 1, 3, 4)
>>> torch.allclose(apply_rotary(q, cos, sin)[..., 0, :], q[..., 0, :])  # position 0 is unrotated
True
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """``weight * x / sqrt(mean(x^2) + eps)``, computed in fp32 like Qwen3RMSNorm."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # fp32 statistics even under bf16 autocast; the result goes back to x's dtype
        # so q, k and v reach attention in one dtype.
        return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).type_as(x)


def rotary_cos_sin(positions: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables for positions of shape (T,) or (B, T); result (..., T, head_dim).

    Uses the "rotate half" layout of Llama/Qwen (first half of each head pairs with
    the second half), in fp32 whatever the model dtype.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim))
    freqs = positions.to(torch.float32)[..., None] * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate ``x`` (B, H, T, D) by cos/sin of shape (T, D) or (B, T, D)."""
    if cos.dim() == 3:  # per-sequence positions: broadcast over heads
        cos, sin = cos[:, None], sin[:, None]
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def _cpu_bf16_autocast(x: torch.Tensor) -> bool:
    return x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16


class _CpuBf16Linear(torch.autograd.Function):
    """``F.linear`` on bf16 inputs with bf16 outputs, for CPUs, in both directions.

    Measured on a 2-core AMD EPYC (AVX2, no AVX512-BF16/AMX): PyTorch's own bf16
    GEMMs run at 1-15 GFLOP/s against ~100 for fp32, and autograd's linear backward
    (``grad @ W``, both row-major) takes the slowest of them. Without bf16 hardware
    we therefore multiply the bf16 values in fp32 (exact products, fp32
    accumulation, as a bf16 GEMM does) and round the result to bf16; with it we
    stay in bf16 but hand ``grad @ W`` to oneDNN in the layout it accelerates.
    Saved activations stay bf16 either way.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, compute_dtype):
        ctx.save_for_backward(x, weight)
        ctx.has_bias, ctx.compute_dtype = bias is not None, compute_dtype
        c = compute_dtype
        y = F.linear(x.to(c), weight.to(c), None if bias is None else bias.to(c))
        return y.to(torch.bfloat16)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        c = ctx.compute_dtype
        g = grad.to(c)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ weight.to(c).t().contiguous().t()).to(torch.bfloat16)
        g2 = g.reshape(-1, g.shape[-1])
        if ctx.needs_input_grad[1]:
            grad_w = (g2.t() @ x.reshape(-1, x.shape[-1]).to(c)).to(torch.bfloat16)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g2.sum(0).to(torch.bfloat16)
        return grad_x, grad_w, grad_b, None


@torch.compiler.disable
def _cpu_bf16_linear(x, weight, bias):
    # Kept out of torch.compile graphs: measured, inductor lowered this back onto the slow bf16 GEMM
    # (compiled bf16 ran at a quarter of eager speed on the AVX2 EPYC).
    compute = torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    bias = None if bias is None else bias.to(torch.bfloat16)
    with torch.autocast("cpu", enabled=False):
        return _CpuBf16Linear.apply(x.to(torch.bfloat16), weight.to(torch.bfloat16), bias, compute)


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``, routing CPU bf16 autocast through :class:`_CpuBf16Linear`."""
    if _cpu_bf16_autocast(x):
        return _cpu_bf16_linear(x, weight, bias)
    return F.linear(x, weight, bias)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kwargs) -> torch.Tensor:
    """``F.scaled_dot_product_attention``; bf16 on a CPU without bf16 hardware runs in fp32
    (flash attention accumulates in fp32 anyway) and returns bf16."""
    if q.dtype == torch.bfloat16 and q.device.type == "cpu" and not cpu_has_native_bf16():
        with torch.autocast("cpu", enabled=False):
            return F.scaled_dot_product_attention(q.float(), k.float(), v.float(), **kwargs).to(torch.bfloat16)
    return F.scaled_dot_product_attention(q, k, v, **kwargs)


class Linear(nn.Linear):
    """``nn.Linear`` whose forward is :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
