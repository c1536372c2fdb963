"""A lean single-token decode step for :class:`~pocketgpt.model.GPT`.

At batch 1 a decode step's matmuls are matrix-vector products: each streams a
weight matrix from memory once and does two flops per weight, so a step costs
(weight bytes / memory bandwidth) plus per-op overhead. ``GPT.forward``
dispatches ~40 tensor ops per layer (module calls, transposes, views, a generic
cache update), each costing microseconds of Python and dispatcher time. This
module computes the same maths with ~25 ops per layer, several of them views:

- activations stay 2-D (B, C);
- the new key/value is written straight into the preallocated cache slot;
- the weights are arranged once (a :class:`DecodeWeights`, reused across
  requests while the model's parameters are unchanged), and for the modern
  family the rotary cos/sin table for every position is built once per batch;
- each matrix-vector product is split ``splits`` ways along its output features
  and run as one batched matmul (:func:`matvec`). The BLAS parallelises a
  matmul over its rows, and at batch 1 there is one row, so one core streams
  the weights while the other idles; ``bmm`` parallelises over its batch, so
  ``splits=2`` puts both cores' memory bandwidth to work (1.5x per step on a
  2-core EPYC, docs/benchmarks.md);
- a split is a view of the weight's own (out, in) storage. With ``copy=True``
  the matrices with more outputs than inputs (qkv, the MLP's up projection,
  the LM head) are also stored as contiguous (in, out) blocks, which the BLAS
  streams ~13% faster here, at the price of that much memory again (about
  two thirds of the weights for a GPT-2 shape).

It writes the same :class:`~pocketgpt.model.KVCache` buffers the model's
prefill fills, so a prefill by ``GPT.forward`` followed by fast steps is one
computation. The tests hold it to the full forward pass at 1e-5 for both
families, every split count and both layouts.

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


# Below this many weights (256 KiB in fp32) a matvec is over in a few microseconds,
# less than handing half of it to a second thread costs.
MIN_SPLIT = 1 << 16


def split_weight(w: torch.Tensor, b: torch.Tensor | None, splits: int, copy: bool = False,
                 min_split: int = MIN_SPLIT):
    """An (out, in) linear weight and its bias as ``splits`` blocks of output
    features, shaped for :func:`matvec`: views of ``w``, unless ``copy`` and
    out >= in, when the blocks are contiguous (in, out/splits) copies.
    ``splits`` falls back to 1 when it does not divide ``out``, and for a weight
    under ``min_split`` elements, which streams faster than a second thread can
    be woken up.

    >>> w, b = split_weight(torch.zeros(768, 384), torch.zeros(768), 2)
    >>> tuple(w.shape), tuple(b.shape), w.is_contiguous()
    ((2, 384, 384), (2, 1, 384), False)
    >>> split_weight(torch.zeros(768, 384), None, 2, copy=True)[0].is_contiguous()
    True
    >>> tuple(split_weight(torch.zeros(6, 4), None, 2)[0].shape)
    (1, 4, 6)
    """
    out, inp = w.shape
    k = splits if splits > 0 and out % splits == 0 and w.numel() >= min_split else 1
    blocks = w.view(k, out // k, inp).transpose(1, 2)
    if copy and out >= inp:
        blocks = blocks.contiguous()
    return blocks, None if b is None else b.view(k, 1, out // k)


def matvec(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for (B, in) ``x``, with the weight and bias as
    :func:`split_weight` returns them: one ``bmm`` whose batch is the splits.

    >>> w, b = torch.randn(6, 4), torch.randn(6)
    >>> x = torch.randn(3, 4)
    >>> torch.allclose(matvec(x, *split_weight(w, b, 2)), F.linear(x, w, b), atol=1e-6)
    True
    """
    k, B = w.shape[0], x.shape[0]
    if k == 1:  # a plain matmul dispatches faster than a one-element batch
        return torch.mm(x, w[0]) if b is None else torch.addmm(b[0], x, w[0])
    xs = x.expand(k, B, x.shape[1])
    y = torch.bmm(xs, w) if b is None else torch.baddbmm(b, xs, w)
    return y.view(1, -1) if B == 1 else y.transpose(0, 1).reshape(B, -1)


class DecodeWeights:
    """A model's parameters arranged for :class:`FastStep`: built once, shared by
    every batch decoded while the parameters stay the same (:meth:`fresh`).

    >>> from pocketgpt.model import GPT, GPTConfig
    >>> model = GPT(GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()
    >>> w = DecodeWeights(model, splits=2)
    >>> w.fresh(model)
    True
    >>> with torch.no_grad():
    ...     _ = model.wte.weight.mul_(2)
    >>> w.fresh(model)
    False
    """

    def __init__(self, model: GPT, splits: int | None = None, copy: bool = False, min_split: int = MIN_SPLIT):
        k = torch.get_num_threads() if splits is None else splits
        self.splits, self.copy = k, copy
        self.extra_bytes = 0  # memory held beyond the model's own parameters (the copied blocks)

        def sw(w, b):
            blocks, bias = split_weight(w, b, k, copy, min_split)
            if blocks.data_ptr() != w.data_ptr():
                self.extra_bytes += blocks.numel() * blocks.element_size()
            return blocks, bias

        self.key = self._key(model)
        self.wte = model.wte.weight
        self.wpe = model.wpe.weight if model.wpe is not None else None
        self.head = sw(model.lm_head_weight, None)
        self.ln_f = (model.ln_f.weight, getattr(model.ln_f, "bias", None))
        self.layers = []
        for blk in model.h:
            a, m = blk.attn, blk.mlp
            self.layers.append((
                blk.ln_1.weight, getattr(blk.ln_1, "bias", None),
                sw(a.qkv.weight, a.qkv.bias), sw(a.proj.weight, a.proj.bias),
                None if a.q_norm is None else a.q_norm.weight, None if a.k_norm is None else a.k_norm.weight,
                blk.ln_2.weight, getattr(blk.ln_2, "bias", None),
                sw(m.fc.weight, m.fc.bias), sw(m.proj.weight, m.proj.bias),
            ))

    @staticmethod
    def _key(model) -> tuple:
        # Storage and version counter of every parameter: an optimizer step or a
        # load_state_dict bumps the version, a replaced tensor changes the storage.
        return tuple((p.data_ptr(), p._version) for p in model.parameters())

    def fresh(self, model) -> bool:
        """Whether these weights still are ``model``'s (no parameter changed since)."""
        return self._key(model) == self.key

    @staticmethod
    def copy_bytes(model: GPT) -> int:
        """What ``copy=True`` would hold beyond ``model``'s parameters: its matrices
        with at least as many outputs as inputs."""
        mats = [model.lm_head_weight] + [lin.weight for blk in model.h
                                         for lin in (blk.attn.qkv, blk.attn.proj, blk.mlp.fc, blk.mlp.proj)]
        return sum(w.numel() * w.element_size() for w in mats if w.shape[0] >= w.shape[1])


class FastStep:
    """``step(ids, pos, mask)`` -> next-token logits (B, V) for one new token per row,
    written into ``cache`` (a :class:`~pocketgpt.model.KVCache` filled by a prefill).
    ``weights`` is a :class:`DecodeWeights` of ``model`` (built here if not
    given); its split count and layout do not change the logits beyond rounding."""

    def __init__(self, model: GPT, cache, weights: DecodeWeights | None = None):
        cfg = model.config
        self.cfg = cfg
        self.cache = cache
        self.gpt2 = cfg.arch == "gpt2"
        self.w = weights if weights is not None else DecodeWeights(model)
        self.layers = [lw + (cache.k[i], cache.v[i]) for i, lw in enumerate(self.w.layers)]  # (B, Hk, max_len, D)
        if not self.gpt2:
            pos = torch.arange(cfg.block_size, device=self.w.wte.device)
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
        x = F.embedding(ids, self.w.wte)
        if self.gpt2:
            x = x + self.w.wpe[pos]
        else:
            cos, sin = self.cos[pos].view(-1, 1, 1, D), self.sin[pos].view(-1, 1, 1, D)
            half = D // 2
        gqa, eps, split = Hk != H, cfg.norm_eps, [H, Hk, Hk]
        for w1, b1, qkv, proj, qn, kn, w2, b2, fc, mproj, kc, vc in self.layers:
            h = self._norm(x, w1, b1)
            q, k, v = matvec(h, *qkv).view(B, H + 2 * Hk, 1, D).split_with_sizes(split, 1)  # (B, heads, 1, D)
            if qn is not None:
                q, k = torch.rms_norm(q, (D,), qn, eps), torch.rms_norm(k, (D,), kn, eps)
            if not self.gpt2:  # rotary, "rotate half" layout as in layers.apply_rotary
                q = q * cos + torch.cat((-q[..., half:], q[..., :half]), dim=-1) * sin
                k = k * cos + torch.cat((-k[..., half:], k[..., :half]), dim=-1) * sin
            kc.narrow(2, S, 1).copy_(k)
            vc.narrow(2, S, 1).copy_(v)
            y = F.scaled_dot_product_attention(q, kc.narrow(2, 0, S + 1), vc.narrow(2, 0, S + 1),
                                               attn_mask=mask, enable_gqa=gqa)
            x = x + matvec(y.view(B, H * D), *proj)
            h = self._norm(x, w2, b2)
            f = matvec(h, *fc)
            if self.gpt2:
                f = F.gelu(f, approximate="tanh")
            else:
                gate, up = f.chunk(2, dim=-1)
                f = F.silu(gate).mul_(up)
            x = x + matvec(f, *mproj)
        cache.advance(1)
        x = self._norm(x, *self.w.ln_f)
        return matvec(x, *self.w.head)
