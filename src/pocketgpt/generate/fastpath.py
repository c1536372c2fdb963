"""A lean single-token decode step for :class:`~pocketgpt.model.GPT`.

At batch 1 a decode step's matmuls are a handful of matrix-vector products, so
for small models the per-op overhead weighs: ``GPT.forward`` dispatches ~40
tensor ops per layer (module calls, transposes, views, a generic cache update),
each costing microseconds of Python and dispatcher time. This
module computes the same maths with ~20 ops per layer, several of them views:

- activations stay 2-D (B, C), so each linear is one ``addmm`` with the bias
  and the residual folded in where the maths allows;
- the new key/value is written straight into the preallocated cache slot;
- weight transposes, and for the modern family the rotary cos/sin table for
  every position, are prepared once per batch, not per step.

It reads the model's own parameters (no copies) and writes the same
:class:`~pocketgpt.model.KVCache` buffers the model's prefill fills, so a
prefill by ``GPT.forward`` followed by fast steps is one computation. The
tests hold it to the full forward pass at 1e-5 for both families.

It is used only where it is known to be exact: a ``GPT`` in fp32 on CPU whose
config has no fields beyond those this file was written for (a new model
feature makes the engine fall back to ``GPT.forward`` until this file learns it).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from pocketgpt.model import GPT, GPTConfig
from pocketgpt.model.layers import rotary_cos_sin

# The GPTConfig fields whose meaning this file implements.
KNOWN_FIELDS = frozenset({
    "vocab_size", "block_size", "n_layer", "n_head", "n_kv_head", "n_embd", "head_dim", "mlp_hidden", "arch",
    "tie_embeddings", "qk_norm", "rope_theta", "norm_eps", "dropout", "init_std",
})


def supported(model) -> bool:
    """Whether :class:`FastStep` computes exactly what ``model.forward`` does."""
    if type(model) is not GPT or model.training:
        return False
    if {f.name for f in dataclasses.fields(GPTConfig)} != KNOWN_FIELDS:
        return False
    p = next(model.parameters())
    return p.device.type == "cpu" and all(q.dtype == torch.float32 for q in model.parameters())


class FastStep:
    """``step(ids, pos, mask)`` -> next-token logits (B, V) for one new token per row,
    written into ``cache`` (a :class:`~pocketgpt.model.KVCache` filled by a prefill)."""

    def __init__(self, model: GPT, cache):
        cfg = model.config
        self.cfg = cfg
        self.cache = cache
        self.gpt2 = cfg.arch == "gpt2"
        self.wte = model.wte.weight
        self.wpe = model.wpe.weight if model.wpe is not None else None
        self.head_t = model.lm_head_weight.t()
        self.ln_f = (model.ln_f.weight, getattr(model.ln_f, "bias", None))
        self.layers = []
        for i, blk in enumerate(model.h):
            a, m = blk.attn, blk.mlp
            self.layers.append((
                blk.ln_1.weight, getattr(blk.ln_1, "bias", None),
                a.qkv.weight.t(), a.qkv.bias, a.proj.weight.t(), a.proj.bias,
                None if a.q_norm is None else a.q_norm.weight, None if a.k_norm is None else a.k_norm.weight,
                blk.ln_2.weight, getattr(blk.ln_2, "bias", None),
                m.fc.weight.t(), m.fc.bias, m.proj.weight.t(), m.proj.bias,
                cache.k[i], cache.v[i],  # (B, Hk, max_len, D) views of this layer's cache
            ))
        if not self.gpt2:
            pos = torch.arange(cfg.block_size, device=self.wte.device)
            self.cos, self.sin = rotary_cos_sin(pos, cfg.head_dim, cfg.rope_theta)  # (block_size, D)

    def _norm(self, x, w, b):
        # the aten ops directly: F.layer_norm's Python wrapper costs as much as the op here
        if self.gpt2:
            return torch.layer_norm(x, (x.shape[-1],), w, b, self.cfg.norm_eps)
        return torch.rms_norm(x, (x.shape[-1],), w, self.cfg.norm_eps)

    def __call__(self, ids: torch.Tensor, pos: torch.Tensor | int, mask: torch.Tensor | None) -> torch.Tensor:
        """``ids`` (B,) new tokens; ``pos`` their positions (an int shared by all rows,
        or (B,)); ``mask`` None or a (B, 1, 1, cache.seq_len + 1) "may attend" mask."""
        cfg, cache = self.cfg, self.cache
        B = ids.shape[0]
        H, Hk, D = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        S = cache.seq_len
        x = F.embedding(ids, self.wte)
        if self.gpt2:
            x = x + self.wpe[pos]
        else:
            cos, sin = self.cos[pos].view(-1, 1, 1, D), self.sin[pos].view(-1, 1, 1, D)
            half = D // 2
        gqa, eps, split = Hk != H, cfg.norm_eps, [H, Hk, Hk]
        for w1, b1, qkv_t, qkv_b, proj_t, proj_b, qn, kn, w2, b2, fc_t, fc_b, p_t, p_b, kc, vc in self.layers:
            h = self._norm(x, w1, b1)
            qkv = torch.addmm(qkv_b, h, qkv_t) if qkv_b is not None else torch.mm(h, qkv_t)
            q, k, v = qkv.view(B, H + 2 * Hk, 1, D).split(split, dim=1)  # (B, heads, 1, D)
            if qn is not None:
                q, k = torch.rms_norm(q, (D,), qn, eps), torch.rms_norm(k, (D,), kn, eps)
            if not self.gpt2:  # rotary, "rotate half" layout as in layers.apply_rotary
                q = q * cos + torch.cat((-q[..., half:], q[..., :half]), dim=-1) * sin
                k = k * cos + torch.cat((-k[..., half:], k[..., :half]), dim=-1) * sin
            kc.narrow(2, S, 1).copy_(k)
            vc.narrow(2, S, 1).copy_(v)
            y = F.scaled_dot_product_attention(q, kc.narrow(2, 0, S + 1), vc.narrow(2, 0, S + 1),
                                               attn_mask=mask, enable_gqa=gqa)
            x = torch.addmm(x, y.view(B, H * D), proj_t)
            if proj_b is not None:
                x = x.add_(proj_b)
            h = self._norm(x, w2, b2)
            f = torch.addmm(fc_b, h, fc_t) if fc_b is not None else torch.mm(h, fc_t)
            if self.gpt2:
                f = F.gelu(f, approximate="tanh")
            else:
                gate, up = f.chunk(2, dim=-1)
                f = F.silu(gate).mul_(up)
            x = torch.addmm(x, f, p_t)
            if p_b is not None:
                x = x.add_(p_b)
        cache.advance(1)
        x = self._norm(x, *self.ln_f)
        return torch.mm(x, self.head_t)
