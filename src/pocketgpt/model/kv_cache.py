"""A minimal preallocated key/value cache: the protocol ``GPT.forward`` expects.

The inference engine may bring its own cache; any object with ``seq_len``,
``update(layer_idx, k, v)`` and ``advance(n)`` works. This one is the reference:
all sequences in the batch share one length (left-pad ragged prompts and pass an
``attn_mask`` that hides the padding).

>>> import torch
>>> from pocketgpt.model import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8)).eval()
>>> idx = torch.randint(0, 16, (1, 5))
>>> cache = KVCache.for_model(model, batch_size=1, max_len=8)
>>> _ = model(idx[:, :4], kv_cache=cache)
>>> step, _ = model(idx[:, 4:], kv_cache=cache)
>>> full, _ = model(idx)
>>> torch.allclose(step[:, -1], full[:, -1], atol=1e-5)
True
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(self, n_layer: int, batch_size: int, n_kv_head: int, max_len: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
        shape = (n_layer, batch_size, n_kv_head, max_len, head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.max_len = max_len
        self.seq_len = 0

    @classmethod
    def for_model(cls, model, batch_size: int, max_len: int, dtype=None, device=None) -> "KVCache":
        cfg = model.config
        p = next(model.parameters())
        return cls(cfg.n_layer, batch_size, cfg.n_kv_head, max_len, cfg.head_dim,
                   dtype=dtype or p.dtype, device=device or p.device)

    def update(self, layer_idx: int, k: torch.Tensor, v: torch.Tensor):
        """Store this step's k/v (B, Hk, T, D) after the cached ones; return all of them."""
        end = self.seq_len + k.shape[2]
        if end > self.max_len:
            raise ValueError(f"KV cache is full: {end} > max_len={self.max_len}")
        self.k[layer_idx, :, :, self.seq_len:end] = k
        self.v[layer_idx, :, :, self.seq_len:end] = v
        return self.k[layer_idx, :, :, :end], self.v[layer_idx, :, :, :end]

    def advance(self, n: int) -> None:
        self.seq_len += n

    def reset(self) -> None:
        self.seq_len = 0
