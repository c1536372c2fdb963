"""A batch of sequences being decoded: prefill, then one token per step.

Prompts of different lengths are left-padded to one length so that the whole
batch shares one preallocated :class:`~pocketgpt.model.KVCache` and each step
is a single (B, 1) forward. Padding never changes a sequence's maths:

- positions are per sequence (a sequence's first real token is position 0), so
  learned and rotary position embeddings see what they would see unbatched;
- a boolean "may attend" mask hides the padded key columns. A padded query
  row may attend to itself only: a row with no visible key would give NaN, and a
  NaN in the cache poisons later steps (0 weight x NaN value is still NaN).

Without padding (batch 1, or equal lengths) no mask or positions are passed
and the model takes its plain causal path.

>>> import torch
>>> from pocketgpt.model import GPT, GPTConfig
>>> model = GPT(GPTConfig(vocab_size=32, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()
>>> dec = Decoder(model, [[1, 2, 3], [4, 5]], max_new_tokens=4)
>>> with torch.inference_mode():
...     logits = dec.prefill()
...     logits = dec.step(logits.argmax(-1))
>>> tuple(logits.shape), dec.lengths
((2, 32), [4, 3])
"""

from __future__ import annotations

import torch

from pocketgpt.generate import fastpath
from pocketgpt.generate.fastpath import DecodeWeights, FastStep
from pocketgpt.model import KVCache


class Decoder:
    """Holds the cache, per-sequence positions and the padding mask of one batch.

    ``use_cache=False`` recomputes the full forward every step (the slow
    reference path); the logits are the same. ``fast`` decodes with
    :class:`~pocketgpt.generate.fastpath.FastStep` where it is supported (CPU,
    fp32); otherwise, or with ``fast=False``, each step is a ``model.forward``.
    ``weights`` passes a prepared :class:`~pocketgpt.generate.fastpath.DecodeWeights`
    of ``model`` to the fast step (the engine keeps one across requests).
    """

    def __init__(self, model, prompts: list[list[int]], max_new_tokens: int, *, use_cache: bool = True,
                 pad_id: int = 0, fast: bool = True, weights: DecodeWeights | None = None):
        if not prompts or any(len(p) == 0 for p in prompts):
            raise ValueError("Decoder needs non-empty prompts")
        self.model = model
        p = next(model.parameters())
        self.device = p.device
        self.lengths = [len(x) for x in prompts]
        width = max(self.lengths)
        self.pads = [width - n for n in self.lengths]
        self.padded = any(self.pads)
        B = len(prompts)
        self.max_len = width + max_new_tokens
        rows = [[pad_id] * pad + list(x) for pad, x in zip(self.pads, prompts)]
        self.tokens = torch.tensor(rows, dtype=torch.long, device=self.device)
        self.use_cache = use_cache
        self.cache = KVCache.for_model(model, B, self.max_len) if use_cache else None
        if self.padded:
            cols = torch.arange(self.max_len, device=self.device)
            pads = torch.tensor(self.pads, device=self.device)
            self.valid = cols[None, :] >= pads[:, None]  # (B, S): key j is a real token of row b
            # A finished sequence keeps stepping (its outputs unused) while the others go on,
            # and may run past the last position: clamp so the embedding lookups stay valid.
            self.positions = (cols[None, :] - pads[:, None]).clamp(0, model.config.block_size - 1)  # (B, S)
        self.width = width  # columns filled so far
        use_fast = use_cache and fast and fastpath.supported(model)
        self.fast = FastStep(model, self.cache, weights) if use_fast else None

    @property
    def batch_size(self) -> int:
        return self.tokens.shape[0]

    def _mask(self, start: int, end: int) -> torch.Tensor:
        """(B, 1, end-start, end): causal, real keys only, padded queries see themselves."""
        q = torch.arange(start, end, device=self.device)
        k = torch.arange(end, device=self.device)
        causal = k[None, :] <= q[:, None]
        mask = causal[None] & self.valid[:, None, :end]
        mask |= (k[None, :] == q[:, None])[None]
        return mask[:, None]

    def _forward(self, idx: torch.Tensor, start: int) -> torch.Tensor:
        end = start + idx.shape[1]
        kw = {}
        if self.padded:
            kw["positions"] = self.positions[:, start:end]
            kw["attn_mask"] = self._mask(start, end) if end - start > 1 else self.valid[:, None, None, :end]
        logits, _ = self.model(idx, kv_cache=self.cache, logits_to_keep=1, **kw)
        return logits[:, -1]

    def prefill(self) -> torch.Tensor:
        """Run the prompts; return the next-token logits (B, V)."""
        return self._forward(self.tokens, 0)

    def step(self, next_ids: torch.Tensor | list[int]) -> torch.Tensor:
        """Append one token per sequence (B,); return the next-token logits (B, V)."""
        ids = torch.as_tensor(next_ids, dtype=torch.long, device=self.device).view(-1, 1)
        if self.width >= self.max_len:
            raise ValueError(f"Decoder is full: {self.max_len} columns")
        self.lengths = [n + 1 for n in self.lengths]
        self.width += 1
        col = self.width - 1
        if self.fast is not None:
            if self.padded:
                return self.fast(ids[:, 0], self.positions[:, col], self.valid[:, None, None, : col + 1])
            return self.fast(ids[:, 0], col, None)
        if self.use_cache:
            return self._forward(ids, col)
        self.tokens = torch.cat([self.tokens, ids], 1)
        return self._forward(self.tokens, 0)
