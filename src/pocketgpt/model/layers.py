"""Building blocks of the GPT: norms, rotary embeddings, a CPU-friendly bf16 linear.

Everything here computes exactly what the Hugging Face GPT-2 / Qwen3 layers compute,
so weights map one to one (see :mod:`pocketgpt.model.hf`).

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


class _CpuBf16Linear(torch.autograd.Function):
    """``F.linear`` in bf16 with a backward laid out for oneDNN on AVX2-only CPUs.

    Measured on a 2-core AMD EPYC (no AVX-512/AMX): a bf16 ``grad @ W`` with both
    operands row-major takes MKL's slow reference path (~1.6 GFLOP/s), while the
    same product with ``W`` given as a transposed view runs on oneDNN (~9 GFLOP/s).
    Autograd's own linear backward uses the slow layout, so bf16 training there
    spent most of its time in that one product. The maths is unchanged.
    """

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad @ weight.t().contiguous().t()
        g2 = grad.reshape(-1, grad.shape[-1])
        if ctx.needs_input_grad[1]:
            grad_w = g2.t() @ x.reshape(-1, x.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = g2.sum(0)
        return grad_x, grad_w, grad_b


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear``, routing CPU bf16 autocast through :class:`_CpuBf16Linear`."""
    if x.device.type == "cpu" and torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16:
        bias = None if bias is None else bias.to(torch.bfloat16)
        with torch.autocast("cpu", enabled=False):
            return _CpuBf16Linear.apply(x.to(torch.bfloat16), weight.to(torch.bfloat16), bias)
    return F.linear(x, weight, bias)


class Linear(nn.Linear):
    """``nn.Linear`` whose forward is :func:`linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
