"""Batches of (B, T) input/target windows from memory-mapped token shards.

A split is cut into *slots*: non-overlapping windows of ``T+1`` tokens taken at a
stride of ``T`` inside each shard (a window never spans two shards), so that
``x = w[:-1]`` and ``y = w[1:]``. The loader reads an endless stream of slots:

- sequential: slots in file order, epoch after epoch;
- random (default): each epoch is a fresh permutation of the slots, seeded by
  ``(seed, epoch)``, and each shard's slot grid is shifted by a seeded offset
  inside its spare tokens, so windows start at different places across epochs.

Step ``s`` of rank ``r`` reads stream positions ``(s * world_size + r) * B`` up to
``+B``, so ranks read disjoint slots and together walk the stream once per epoch.
The whole state is the count of stream positions consumed, so ``state_dict()``
/ ``load_state_dict()`` resume exactly (even with another world size).

>>> import tempfile
>>> from pocketgpt.tokenizer import train
>>> from pocketgpt.data import tokenize_to_shards
>>> tok_dir, out = tempfile.mkdtemp(), tempfile.mkdtemp() + "/s"
>>> _ = train(["abc def"] * 5, 270, progress=False).save(tok_dir)
>>> _ = tokenize_to_shards(["abc def " * 40] * 4, tok_dir, out, val_fraction=0.25)
>>> loader = ShardLoader(out, batch_size=2, seq_len=8)
>>> x, y = loader.next_batch()
>>> tuple(x.shape), bool((x[:, 1:] == y[:, :-1]).all())
((2, 8), True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import torch

from pocketgpt.data.shards import open_shard, read_shard_index
from pocketgpt.errors import UserError

STATE_VERSION = 1


class ShardLoader:
    """Serve ``(x, y)`` LongTensor batches of shape ``(batch_size, seq_len)``."""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        split: str = "train",
        batch_size: int = 8,
        seq_len: int = 256,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        sequential: bool = False,
    ):
        if batch_size < 1 or seq_len < 1:
            raise UserError(f"batch_size={batch_size}, seq_len={seq_len}: both must be positive")
        if not 0 <= rank < world_size:
            raise UserError(f"rank={rank}, world_size={world_size}: expected 0 <= rank < world_size")
        self.data_dir = Path(data_dir)
        self.index = read_shard_index(self.data_dir)
        if split not in self.index["splits"]:
            raise UserError(f"{self.data_dir}: no split {split!r}; splits are {', '.join(self.index['splits'])}")
        self.split, self.batch_size, self.seq_len = split, batch_size, seq_len
        self.rank, self.world_size, self.seed, self.sequential = rank, world_size, seed, sequential
        info = self.index["splits"][split]
        self.tokens = int(info["tokens"])
        self._arrays = [self._open(s) for s in info["shards"]]
        lengths = np.array([len(a) for a in self._arrays], dtype=np.int64)
        self._slots_per_shard = np.maximum(lengths - 1, 0) // seq_len
        self._slack = np.maximum(lengths - 1, 0) - self._slots_per_shard * seq_len
        self._first_slot = np.concatenate([[0], np.cumsum(self._slots_per_shard)])
        self.num_windows = int(self._first_slot[-1])
        if self.num_windows == 0:
            longest = int(lengths.max()) if len(lengths) else 0
            raise UserError(
                f"{self.data_dir}: split {split!r} has {self.tokens} tokens (longest shard {longest}); "
                f"a window needs seq_len+1 = {seq_len + 1} (block_size larger than the shards allow); "
                "use a smaller block size or more data"
            )
        self.position = 0
        self._epoch_cache: tuple[int, np.ndarray | None, np.ndarray] | None = None

    def _open(self, shard: dict) -> np.ndarray:
        return open_shard(self.data_dir, shard, self.index["dtype"])

    @property
    def batches_per_epoch(self) -> int:
        """Steps (of all ranks together) that walk every window once."""
        return max(1, self.num_windows // (self.batch_size * self.world_size))

    def _epoch(self, epoch: int) -> tuple[np.ndarray | None, np.ndarray]:
        if self._epoch_cache is None or self._epoch_cache[0] != epoch:
            if self.sequential:
                order, offsets = None, np.zeros(len(self._arrays), dtype=np.int64)
            else:
                rng = np.random.default_rng([self.seed, epoch])
                order = rng.permutation(self.num_windows)
                offsets = rng.integers(0, self._slack + 1)
            self._epoch_cache = (epoch, order, offsets)
        return self._epoch_cache[1], self._epoch_cache[2]

    def _window(self, stream_pos: int) -> np.ndarray:
        epoch, k = divmod(stream_pos, self.num_windows)
        order, offsets = self._epoch(epoch)
        slot = int(order[k]) if order is not None else k
        shard = int(np.searchsorted(self._first_slot, slot, side="right")) - 1
        start = int(offsets[shard]) + (slot - int(self._first_slot[shard])) * self.seq_len
        return self._arrays[shard][start : start + self.seq_len + 1]

    def served(self, positions: Iterable[int] | None = None) -> Iterator[np.ndarray]:
        """The windows at the given stream positions (default ``0 .. position - 1``), each
        ``seq_len + 1`` tokens: what :meth:`next_batch` has handed out so far, every rank's share
        together. The n-gram baseline is fitted on exactly these tokens."""
        for pos in range(self.position) if positions is None else positions:
            yield self._window(int(pos))

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next ``(x, y)`` for this rank; advances the shared stream by ``B * world_size``."""
        base = self.position + self.rank * self.batch_size
        batch = np.stack([self._window(base + j) for j in range(self.batch_size)]).astype(np.int64)
        self.position += self.batch_size * self.world_size
        t = torch.from_numpy(batch)
        return t[:, :-1], t[:, 1:]

    def __iter__(self):
        while True:
            yield self.next_batch()

    def reset(self) -> None:
        """Go back to the start of the stream (e.g. before each validation pass)."""
        self.position = 0

    def state_dict(self) -> dict:
        """JSON-serialisable state; with :meth:`load_state_dict` a resumed run sees the same batches."""
        return {
            "version": STATE_VERSION,
            "split": self.split,
            "position": self.position,
            "seed": self.seed,
            "seq_len": self.seq_len,
            "sequential": self.sequential,
            "tokenizer_fingerprint": self.index["tokenizer_fingerprint"],
            "split_tokens": self.tokens,
        }

    def load_state_dict(self, state: dict) -> None:
        mine = self.state_dict()
        for key in ("split", "seed", "seq_len", "sequential", "tokenizer_fingerprint", "split_tokens"):
            if state.get(key) != mine[key]:
                raise UserError(
                    f"loader state: {key} is {state.get(key)!r} in the checkpoint but {mine[key]!r} now; "
                    "resume with the same data and settings"
                )
        self.position = int(state["position"])
