"""The GPT: one class, two families.

``arch="gpt2"`` is GPT-2 exactly (learned positions, LayerNorm with bias, GELU(tanh)
MLP, biases, tied LM head). ``arch="modern"`` is Qwen3's maths (rotary positions,
RMSNorm, SwiGLU, per-head q/k RMSNorm, grouped-query attention, no biases).

>>> import torch
>>> cfg = GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=16)
>>> model = GPT(cfg)
>>> idx = torch.randint(0, 32, (2, 8))
>>> logits, loss = model(idx, targets=idx)
>>> tuple(logits.shape), loss.shape
((2, 8, 32), torch.Size([]))
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from pocketgpt.errors import UserError
from pocketgpt.model.layers import Linear, RMSNorm, apply_rotary, attention, linear, rotary_cos_sin

ARCHS = ("modern", "gpt2")


@dataclass
class GPTConfig:
    """Model shape and family. ``None`` fields are filled from the others.

    ``head_dim`` defaults to ``n_embd // n_head``, ``n_kv_head`` to ``n_head``,
    ``mlp_hidden`` to ``4 * n_embd`` (gpt2) or ``8/3 * n_embd`` rounded up to 64
    (modern), ``norm_eps`` to 1e-5 (gpt2) or 1e-6 (modern).
    """

    vocab_size: int = 4096
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_kv_head: int | None = None
    n_embd: int = 192
    head_dim: int | None = None
    mlp_hidden: int | None = None
    arch: str = "modern"
    tie_embeddings: bool = True
    qk_norm: bool = True
    rope_theta: float = 10000.0
    norm_eps: float | None = None
    dropout: float = 0.0
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise UserError(f"model.arch: unknown family {self.arch!r}; expected one of {', '.join(ARCHS)}")
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"model.{name}: must be a positive integer, got {getattr(self, name)!r}")
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.head_dim is None:
            if self.n_embd % self.n_head:
                raise UserError(f"model.n_embd: {self.n_embd} is not divisible by n_head={self.n_head}; set head_dim")
            self.head_dim = self.n_embd // self.n_head
        if self.n_head % self.n_kv_head:
            raise UserError(f"model.n_kv_head: n_head={self.n_head} must be a multiple of n_kv_head={self.n_kv_head}")
        if self.head_dim % 2:
            raise UserError(f"model.head_dim: must be even for rotary embeddings, got {self.head_dim}")
        if self.mlp_hidden is None:
            self.mlp_hidden = 4 * self.n_embd if self.arch == "gpt2" else 64 * math.ceil(8 * self.n_embd / 3 / 64)
        if self.norm_eps is None:
            self.norm_eps = 1e-5 if self.arch == "gpt2" else 1e-6
        if self.arch == "gpt2":
            if self.n_kv_head != self.n_head or not self.tie_embeddings or self.head_dim * self.n_head != self.n_embd:
                raise UserError("model: arch='gpt2' needs n_kv_head == n_head, head_dim == n_embd/n_head and tie_embeddings=true")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"model.dropout: must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GPTConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"model config: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(sorted(known))}")
        return cls(**d)


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head, self.n_kv_head, self.head_dim = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        bias = cfg.arch == "gpt2"
        # q, k and v in one matmul; export splits the rows back into q_proj/k_proj/v_proj.
        self.qkv = Linear(cfg.n_embd, (cfg.n_head + 2 * cfg.n_kv_head) * cfg.head_dim, bias=bias)
        self.proj = Linear(cfg.n_head * cfg.head_dim, cfg.n_embd, bias=bias)
        use_qk_norm = cfg.arch == "modern" and cfg.qk_norm
        self.q_norm = RMSNorm(cfg.head_dim, cfg.norm_eps) if use_qk_norm else None
        self.k_norm = RMSNorm(cfg.head_dim, cfg.norm_eps) if use_qk_norm else None
        self.dropout = cfg.dropout

    def forward(self, x, rope=None, attn_mask=None, kv_cache=None, layer_idx=0):
        B, T, _ = x.shape
        H, Hk, D = self.n_head, self.n_kv_head, self.head_dim
        q, k, v = self.qkv(x).split([H * D, Hk * D, Hk * D], dim=-1)
        q, k, v = q.view(B, T, H, D), k.view(B, T, Hk, D), v.view(B, T, Hk, D)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if rope is not None:
            q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        if kv_cache is not None:
            k, v = kv_cache.update(layer_idx, k, v)
        y = attention(
            q, k, v,
            attn_mask=attn_mask,
            is_causal=attn_mask is None and kv_cache is None,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=Hk != H,
        )
        return self.proj(y.transpose(1, 2).reshape(B, T, H * D))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.gated = cfg.arch == "modern"
        bias = cfg.arch == "gpt2"
        # SwiGLU's gate and up projections share one matmul: rows [0, hidden) are the gate.
        self.fc = Linear(cfg.n_embd, (2 if self.gated else 1) * cfg.mlp_hidden, bias=bias)
        self.proj = Linear(cfg.mlp_hidden, cfg.n_embd, bias=bias)

    def forward(self, x):
        h = self.fc(x)
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            h = F.silu(gate) * up
        else:
            h = F.gelu(h, approximate="tanh")
        return self.proj(h)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        norm = (lambda: nn.LayerNorm(cfg.n_embd, eps=cfg.norm_eps)) if cfg.arch == "gpt2" else (lambda: RMSNorm(cfg.n_embd, cfg.norm_eps))
        self.ln_1, self.attn, self.ln_2, self.mlp = norm(), Attention(cfg), norm(), MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, rope=None, attn_mask=None, kv_cache=None, layer_idx=0):
        x = x + self.drop(self.attn(self.ln_1(x), rope, attn_mask, kv_cache, layer_idx))
        return x + self.drop(self.mlp(self.ln_2(x)))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd) if cfg.arch == "gpt2" else None
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, eps=cfg.norm_eps) if cfg.arch == "gpt2" else RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.lm_head = None if cfg.tie_embeddings else Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2 init: N(0, init_std), residual projections scaled by 1/sqrt(2 n_layer)."""
        std = self.config.init_std
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 1:  # norm gains
                nn.init.ones_(p)
            elif name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, std / math.sqrt(2 * self.config.n_layer))
            else:
                nn.init.normal_(p, 0.0, std)

    @property
    def lm_head_weight(self) -> torch.Tensor:
        return self.wte.weight if self.lm_head is None else self.lm_head.weight

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count; ``non_embedding`` leaves out the token/position tables
        (the LM head stays in when it is untied)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wte.weight.numel() + (self.wpe.weight.numel() if self.wpe is not None else 0)
        return n

    def flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs per token (forward + backward): ``6 N + 12 L H D T``.

        N counts the parameters that take part in matmuls (the LM head included,
        embedding lookups not); the second term is attention's score and value
        products at full (non-causal) length, as in PaLM's MFU accounting.
        """
        cfg = self.config
        T = seq_len or cfg.block_size
        n_matmul = sum(p.numel() for n, p in self.h.named_parameters() if p.dim() == 2)
        n_matmul += self.lm_head_weight.numel()
        return 6 * n_matmul + 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * T

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        *,
        positions: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        kv_cache=None,
        logits_to_keep: int = 0,
    ):
        """Logits (B, T, V) and the mean cross-entropy over positions where
        ``loss_mask`` is 1 (all positions without a mask; targets of -1 are ignored).

        For inference and packed sequences: ``positions`` (T,) or (B, T) are the
        absolute positions (default ``arange(T)``, shifted by the cache length);
        ``attn_mask`` is a boolean (B, 1, T, S) "may attend" mask or an additive
        float mask, replacing the causal default; ``kv_cache`` is an object with
        ``seq_len`` (tokens already cached), ``update(layer_idx, k, v) -> (k_all,
        v_all)`` and ``advance(T)``; see :class:`pocketgpt.model.KVCache`.
        ``logits_to_keep=n`` returns logits for the last n positions only.
        """
        cfg = self.config
        B, T = idx.shape
        past = kv_cache.seq_len if kv_cache is not None else 0
        if positions is None:
            positions = torch.arange(past, past + T, device=idx.device)
        if kv_cache is not None and attn_mask is None and T > 1:
            q_pos = torch.arange(past, past + T, device=idx.device)
            attn_mask = torch.arange(past + T, device=idx.device)[None, :] <= q_pos[:, None]
        x = self.wte(idx)
        rope = None
        if cfg.arch == "gpt2":
            x = x + self.wpe(positions)
        else:
            rope = rotary_cos_sin(positions, cfg.head_dim, cfg.rope_theta)
        x = self.drop(x)
        for i, block in enumerate(self.h):
            x = block(x, rope, attn_mask, kv_cache, i)
        if kv_cache is not None:
            kv_cache.advance(T)
        x = self.ln_f(x)
        if logits_to_keep:
            x = x[:, -logits_to_keep:]
        logits = linear(x, self.lm_head_weight)
        if targets is None:
            return logits, None
        ce = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-1, reduction="none")
        weight = (targets.flatten() != -1).float()
        if loss_mask is not None:
            weight = weight * loss_mask.flatten().float()
        loss = (ce * weight).sum() / weight.sum().clamp(min=1.0)
        return logits, loss
