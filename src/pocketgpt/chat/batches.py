"""SFT batches: whole conversations, packed (or padded) into rows of ``block_size``.

Each conversation is rendered to ``(ids, mask)``; its training pairs are
``x = ids[:-1]``, ``y = ids[1:]`` with ``loss_mask = mask[1:]``, so the loss falls on
assistant content and its ``<|end|>``. A conversation longer than ``block_size + 1``
tokens is cut to that length (counted and warned about at encoding).

**Packed** (default): conversations are laid end to end in a row while they fit. Each
gets positions starting at 0 and a block-diagonal causal ``attn_mask``, so no
conversation attends to another; the row's tail is padding (target -1, mask 0).
**Padded**: one conversation per row, right-padded; the default causal mask suffices.

>>> ex = [Example([1, 2, 3], [0, 1, 1]), Example([4, 5], [0, 1])]
>>> b = SFTBatches(ex, batch_size=1, block_size=4, shuffle=False).next_batch()
>>> b["x"].tolist(), b["y"].tolist(), b["positions"].tolist()
([[1, 2, 4, 0]], [[2, 3, 5, -1]], [[0, 1, 0, 0]])
>>> b["attn_mask"][0, 0].int().tolist()
[[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from pocketgpt.chat.format import render
from pocketgpt.errors import UserError


@dataclass
class Example:
    ids: list[int]
    mask: list[int]


@dataclass
class EncodeReport:
    conversations: int = 0
    truncated: int = 0
    dropped: int = 0  # truncation left no assistant token to learn from
    tokens: int = 0
    trained_tokens: int = 0


def encode_conversations(conversations, tokenizer, block_size: int) -> tuple[list[Example], EncodeReport]:
    """Render and cut conversations to ``block_size + 1`` tokens; warn about any cut."""
    rep, out = EncodeReport(), []
    for c in conversations:
        rep.conversations += 1
        ids, mask = render(c.messages, tokenizer, c.where or "conversation")
        if len(ids) > block_size + 1:
            rep.truncated += 1
            ids, mask = ids[:block_size + 1], mask[:block_size + 1]
        if not any(mask[1:]):
            rep.dropped += 1
            continue
        rep.tokens += len(ids)
        rep.trained_tokens += sum(mask)
        out.append(Example(ids, mask))
    if rep.truncated:
        warnings.warn(f"{rep.truncated} of {rep.conversations} conversations are longer than block_size+1 = "
                      f"{block_size + 1} tokens and were truncated ({rep.dropped} of them kept no assistant "
                      "token and were dropped)", stacklevel=2)
    return out, rep


class SFTBatches:
    """A resumable batch source of conversations for :class:`~pocketgpt.train.Trainer`.

    Every epoch is a fresh shuffle (``seed + epoch``); rank ``r`` of ``world_size`` takes
    every ``world_size``-th conversation. ``state_dict`` is ``{epoch, cursor}``.
    """

    def __init__(self, examples: list[Example], batch_size: int, block_size: int, *, pack: bool = True,
                 seed: int = 0, rank: int = 0, world_size: int = 1, shuffle: bool = True, pad_id: int = 0, wrap: bool = True):
        if len(examples) < world_size:
            raise UserError(f"SFT data: {len(examples)} conversations for {world_size} processes; need at least one each")
        self.examples, self.B, self.T, self.pack = examples, batch_size, block_size, pack
        self.seed, self.rank, self.world, self.shuffle, self.pad_id = seed, rank, world_size, shuffle, pad_id
        self.wrap = wrap  # False: stop after one epoch (``exhausted``), padding the last batch
        self.epoch, self.cursor = 0, 0
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> list[int]:
        n = len(self.examples)
        order = np.random.default_rng(self.seed + epoch).permutation(n) if self.shuffle else np.arange(n)
        return order[self.rank::self.world].tolist()

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self._order = self._epoch_order(self.epoch)

    @property
    def exhausted(self) -> bool:
        return not self.wrap and self.cursor >= len(self._order)

    def _peek(self) -> Example | None:
        if self.exhausted:
            return None
        if self.cursor >= len(self._order):
            self.epoch, self.cursor = self.epoch + 1, 0
            self._order = self._epoch_order(self.epoch)
        return self.examples[self._order[self.cursor]]

    def rows_per_epoch(self) -> int:
        """Rows one epoch fills on this rank (packing is greedy, in epoch-0 order)."""
        if not self.pack:
            return len(self._epoch_order(0))
        rows, room = 0, 0
        for i in self._epoch_order(0):
            n = len(self.examples[i].ids) - 1
            if n > room:
                rows, room = rows + 1, self.T
            room -= n
        return rows

    def next_batch(self) -> dict:
        B, T = self.B, self.T
        x = torch.full((B, T), self.pad_id, dtype=torch.long)
        y = torch.full((B, T), -1, dtype=torch.long)
        loss_mask = torch.zeros((B, T), dtype=torch.float32)
        positions = torch.zeros((B, T), dtype=torch.long)
        seg = torch.full((B, T), -1, dtype=torch.long)
        for b in range(B):
            at, k = 0, 0
            while True:
                ex = self._peek()
                if ex is None:
                    break
                n = len(ex.ids) - 1
                if at + n > T and at > 0:
                    break
                x[b, at:at + n] = torch.tensor(ex.ids[:-1])
                y[b, at:at + n] = torch.tensor(ex.ids[1:])
                loss_mask[b, at:at + n] = torch.tensor(ex.mask[1:], dtype=torch.float32)
                positions[b, at:at + n] = torch.arange(n)
                seg[b, at:at + n] = k
                at, k = at + n, k + 1
                self.cursor += 1
                if not self.pack or at >= T:
                    break
        batch = {"x": x, "y": y, "loss_mask": loss_mask}
        if self.pack:
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            pad = seg < 0
            # padding positions attend only to themselves: a fully masked row would give NaN
            same = (seg[:, :, None] == seg[:, None, :]) & ~pad[:, :, None]
            same |= torch.eye(T, dtype=torch.bool) & pad[:, :, None]
            batch["positions"] = positions
            batch["attn_mask"] = (same & causal)[:, None]
        return batch
