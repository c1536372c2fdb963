"""The :class:`Tokenizer`: a byte-level BPE vocabulary, encoded fast through tiktoken.

A tokenizer is three things: the split ``pattern``, the ``ranks`` (token bytes ->
id; a lower id merges first) and the ``special_tokens`` (string -> id). Encoding
runs in tiktoken, built offline from our own ranks; :mod:`.reference` is the short
pure-Python twin that the tests hold it to.

>>> tok = train(["the cat sat on the mat"] * 3, vocab_size=256 + 3 + 2, special_tokens=("<|endoftext|>", "<|end|>"))
>>> tok.vocab_size, tok.special_tokens
(261, {'<|endoftext|>': 259, '<|end|>': 260})
>>> ids = tok.encode("the mat")
>>> tok.decode(ids)
'the mat'
>>> tok.encode("<|end|>") == [tok.special_tokens["<|end|>"]]  # plain text unless allowed
False
>>> tok.encode("<|end|>", allowed_special="all")
[260]
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path

import tiktoken

from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_dir
from pocketgpt.tokenizer import hf, reference
from pocketgpt.tokenizer.bpe import train_bpe
from pocketgpt.tokenizer.patterns import DEFAULT_SPECIALS, ENDOFTEXT, GPT2_PATTERN, GPT4_PATTERN

FORMAT_VERSION = 1
META_FILE = "pocketgpt_tokenizer.json"
RANKS_FILE = "tokenizer.tiktoken"
HF_FILE = "tokenizer.json"

# Above this many characters, encode_batch fans out to worker processes: tiktoken's
# threads contend on its regex, separate processes scale (notes: ~21 vs ~15 MB/s).
_PROCESS_THRESHOLD_CHARS = 4 << 20


class EmptyCorpusError(UserError):
    """:func:`train` was given no text at all."""


class Tokenizer:
    """A byte-level BPE tokenizer. Build one with :func:`train` or a ``from_*``/``load``."""

    def __init__(
        self,
        ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        pattern: str = GPT4_PATTERN,
        merges: list[tuple[bytes, bytes]] | None = None,
        meta: dict | None = None,
    ):
        ids = list(ranks.values()) + list(special_tokens.values())
        if len(set(ids)) != len(ids):
            raise UserError("tokenizer: two tokens share an id (ranks and special tokens must not overlap)")
        if len(set(ranks)) < 256 or any(bytes([b]) not in ranks for b in range(256)):
            raise UserError("tokenizer: the ranks must contain all 256 single bytes")
        self.ranks = ranks
        self.special_tokens = dict(special_tokens)
        self.pattern = pattern
        self._merges = merges
        self.meta = dict(meta or {})
        self.vocab_size = max(ids) + 1
        self.encoding = tiktoken.Encoding(
            name=f"pocketgpt-{self.fingerprint[:12]}",
            pat_str=pattern,
            mergeable_ranks=ranks,
            special_tokens=self.special_tokens,
        )
        self._id_to_bytes: dict[int, bytes] | None = None

    # -- identity -----------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """sha256 of the pattern, the specials and the ranks: equal iff ids are equal."""
        fp = self.__dict__.get("_fingerprint")
        if fp is None:
            h = hashlib.sha256()
            h.update(self.pattern.encode())
            h.update(json.dumps(sorted(self.special_tokens.items())).encode())
            h.update(_ranks_text(self.ranks).encode())
            fp = self.__dict__["_fingerprint"] = h.hexdigest()
        return fp

    @property
    def eot_id(self) -> int:
        """The id of ``<|endoftext|>``, the document separator."""
        return self.special_id(ENDOFTEXT)

    def special_id(self, name: str) -> int:
        try:
            return self.special_tokens[name]
        except KeyError:
            raise UserError(f"tokenizer: no special token {name!r}; it has {sorted(self.special_tokens)}") from None

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        """The merges in priority order, recovered from the ranks when not known."""
        if self._merges is None:
            self._merges = recover_merges(self.ranks)
        return self._merges

    def token_bytes(self, token_id: int) -> bytes:
        if self._id_to_bytes is None:
            table = {i: b for b, i in self.ranks.items()}
            table.update({i: s.encode() for s, i in self.special_tokens.items()})
            self._id_to_bytes = table
        try:
            return self._id_to_bytes[token_id]
        except KeyError:
            raise ValueError(f"token id {token_id} is not in this vocabulary (size {self.vocab_size})") from None

    def token_byte_lengths(self) -> list[int]:
        """UTF-8 byte length of each id (0 for specials and unused ids): for bits per byte."""
        lengths = [0] * self.vocab_size
        for b, i in self.ranks.items():
            lengths[i] = len(b)
        return lengths

    # -- encode / decode ----------------------------------------------------------

    def _allowed(self, allowed_special: str | Collection[str]) -> set[str]:
        if allowed_special == "all":
            return set(self.special_tokens)
        allowed = set(allowed_special)
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise ValueError(f"unknown special tokens {sorted(unknown)}; this tokenizer has {sorted(self.special_tokens)}")
        return allowed

    def encode(self, text: str, allowed_special: str | Collection[str] = ()) -> list[int]:
        """Encode ``text``. Special-token strings are plain text unless allowed."""
        return self.encoding.encode(text, allowed_special=self._allowed(allowed_special), disallowed_special=())

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def encode_batch(
        self, texts: Sequence[str], allowed_special: str | Collection[str] = (), workers: int | None = None
    ) -> list[list[int]]:
        """Encode many texts. Large batches use ``workers`` processes (default: all cores)."""
        allowed = self._allowed(allowed_special)
        workers = workers or os.cpu_count() or 1
        if workers > 1 and sum(map(len, texts)) > _PROCESS_THRESHOLD_CHARS:
            return _encode_in_processes(self, list(texts), allowed, workers)
        return self.encoding.encode_batch(list(texts), num_threads=1, allowed_special=allowed, disallowed_special=())

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """Exact bytes of ``ids``: ``decode_bytes(encode(s)) == s.encode()``."""
        ids = list(ids)
        try:
            return self.encoding.decode_bytes(ids)
        except (KeyError, OverflowError, TypeError):
            bad = next((i for i in ids if not isinstance(i, int) or i < 0 or i >= self.vocab_size), None)
            raise ValueError(f"token id {bad!r} is not in this vocabulary (size {self.vocab_size})") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Decode to text; invalid UTF-8 (a split multi-byte character) becomes U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def encode_reference(self, text: str, allowed_special: str | Collection[str] = ()) -> list[int]:
        """The slow pure-Python encoder (:mod:`.reference`); same ids as :meth:`encode`."""
        specials = {s: self.special_tokens[s] for s in self._allowed(allowed_special)}
        return reference.encode(text, self.ranks, self.pattern, specials)

    # -- files --------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> Path:
        """Write ``tokenizer.json`` (HF), ``tokenizer.tiktoken`` and ``pocketgpt_tokenizer.json``."""
        directory = Path(directory)
        doc = hf.hf_tokenizer_json(self.ranks, self.merges, self.special_tokens, self.pattern)
        meta = {
            "format": "pocketgpt-tokenizer",
            "format_version": FORMAT_VERSION,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "vocab_size": self.vocab_size,
            "fingerprint": self.fingerprint,
            "trained_on": self.meta.get("trained_on"),
        }
        with atomic_dir(directory, overwrite=True) as tmp:
            (tmp / HF_FILE).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            (tmp / RANKS_FILE).write_text(_ranks_text(self.ranks), encoding="ascii")
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Tokenizer:
        directory = Path(directory)
        meta_path = directory / META_FILE
        if not directory.is_dir():
            raise UserError(f"{directory}: tokenizer directory not found")
        if not meta_path.is_file():
            raise UserError(f"{directory}: not a pocketgpt tokenizer directory (no {META_FILE})")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            pattern, specials = meta["pattern"], {str(k): int(v) for k, v in meta["special_tokens"].items()}
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError, AttributeError) as e:
            raise UserError(f"{meta_path}: corrupt tokenizer metadata ({type(e).__name__}: {e})") from None
        ranks = read_tiktoken_ranks(directory / RANKS_FILE)
        tok = cls(ranks, specials, pattern, meta={"trained_on": meta.get("trained_on")})
        if meta.get("fingerprint") not in (None, tok.fingerprint):
            raise UserError(f"{directory}: tokenizer files disagree with the fingerprint in {META_FILE}")
        return tok

    @classmethod
    def from_tiktoken_file(
        cls, path: str | os.PathLike, pattern: str = GPT4_PATTERN, special_tokens: dict[str, int] | None = None
    ) -> Tokenizer:
        """Load a ``.tiktoken`` ranks file (e.g. cl100k_base) with its pattern and specials."""
        return cls(read_tiktoken_ranks(path), dict(special_tokens or {}), pattern)

    @classmethod
    def from_gpt2_files(cls, vocab_json: str | os.PathLike, merges_txt: str | os.PathLike) -> Tokenizer:
        """Load GPT-2's ``vocab.json`` + ``merges.txt`` with the GPT-2 pattern.

        ``<|endoftext|>`` takes its id from ``vocab.json`` (50256 for GPT-2), or the
        next free id when the file has none.
        """
        ranks, merges, specials = hf.read_gpt2_files(vocab_json, merges_txt)
        specials.setdefault(ENDOFTEXT, max(ranks.values()) + 1)
        return cls(ranks, specials, GPT2_PATTERN, merges=merges)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, specials={len(self.special_tokens)}, fingerprint={self.fingerprint[:12]})"


def train(
    texts: Iterable[str],
    vocab_size: int,
    pattern: str = GPT4_PATTERN,
    special_tokens: Sequence[str] = DEFAULT_SPECIALS,
    workers: int | None = None,
    progress: bool = True,
) -> Tokenizer:
    """Train a byte-level BPE tokenizer on ``texts`` (an iterable of documents).

    ``vocab_size`` counts the 256 bytes, the merges and the special tokens, which
    take the ids right after the merges. See :mod:`.bpe` for the exact merge rule.
    """
    specials = list(special_tokens)
    dupes = sorted({s for s in specials if specials.count(s) > 1})
    if dupes:
        raise UserError(f"special tokens: {dupes} listed more than once")
    if any(not isinstance(s, str) or not s for s in specials):
        raise UserError("special tokens must be non-empty strings")
    floor = 256 + len(specials)
    if not isinstance(vocab_size, int) or vocab_size < floor:
        raise UserError(f"vocab_size must be at least 256 bytes + {len(specials)} special tokens = {floor}, got {vocab_size}")
    t0 = time.time()
    result = train_bpe(texts, vocab_size - floor, pattern, workers=workers, progress=progress)
    if result.stats["chars"] == 0:
        raise EmptyCorpusError("training corpus is empty: no text to learn merges from")
    vocab = result.vocab
    ranks = {b: i for i, b in enumerate(vocab)}
    merges = [(vocab[a], vocab[b]) for a, b in result.merges]
    n = len(vocab)
    trained_on = {
        "documents": result.stats["documents"],
        "characters": result.stats["chars"],
        "distinct_chunks": result.stats["distinct_chunks"],
        "merges_requested": vocab_size - floor,
        "merges_learned": len(merges),
        "presplit_seconds": round(result.stats["presplit_seconds"], 3),
        "merge_seconds": round(result.stats["merge_seconds"], 3),
        "seconds": round(time.time() - t0, 3),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return Tokenizer(ranks, {s: n + k for k, s in enumerate(specials)}, pattern, merges=merges, meta={"trained_on": trained_on})


# -- helpers ------------------------------------------------------------------------


def _ranks_text(ranks: dict[bytes, int]) -> str:
    """The ``.tiktoken`` format: ``base64(token) rank`` per line, by rank."""
    return "".join(f"{base64.b64encode(t).decode()} {r}\n" for t, r in sorted(ranks.items(), key=lambda kv: kv[1]))


def read_tiktoken_ranks(path: str | os.PathLike) -> dict[bytes, int]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: ranks file not found")
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token, validate=True)] = int(rank)
            except ValueError:
                raise UserError(f"{path}:{lineno}: expected 'BASE64TOKEN RANK', got {line[:60]!r}") from None
    if not ranks:
        raise UserError(f"{path}: the ranks file is empty")
    return ranks


def recover_merges(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Recover the merge list of a ranks-only vocabulary.

    A token of rank r is what BPE makes of its own bytes using only tokens of
    lower rank, stopped at two parts: those two parts are its merge.

    >>> ranks = {bytes([i]): i for i in range(256)}
    >>> ranks.update({b"ab": 256, b"abc": 257})
    >>> recover_merges(ranks)
    [(b'a', b'b'), (b'ab', b'c')]
    """
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = [token[i : i + 1] for i in range(len(token))]
        while len(parts) > 2:
            best, best_rank = -1, rank
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < best_rank:
                    best, best_rank = i, r
            if best < 0:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        if len(parts) != 2:
            raise UserError(f"ranks: token {token!r} (rank {rank}) is not the merge of two lower-ranked tokens")
        merges.append((parts[0], parts[1]))
    return merges


def _init_worker(ranks: dict[bytes, int], specials: dict[str, int], pattern: str) -> None:
    global _WORKER_TOKENIZER  # a per-process cache, set only inside pool workers
    _WORKER_TOKENIZER = Tokenizer(ranks, specials, pattern)


def _encode_job(args: tuple[list[str], set[str]]):
    import numpy as np

    texts, allowed = args
    enc = _WORKER_TOKENIZER.encoding
    ids = [enc.encode(t, allowed_special=allowed, disallowed_special=()) for t in texts]
    # One flat array pickles far faster than a list of int lists.
    flat = np.concatenate([np.asarray(seq, dtype=np.uint32) for seq in ids]) if ids else np.zeros(0, np.uint32)
    return flat, [len(seq) for seq in ids]


_WORKER_TOKENIZER: Tokenizer | None = None


def _encode_in_processes(tok: Tokenizer, texts: list[str], allowed: set[str], workers: int) -> list[list[int]]:
    from pocketgpt.parallel import process_pool

    jobs, batch, size = [], [], 0
    for t in texts:
        batch.append(t)
        size += len(t)
        if size >= 1 << 20:
            jobs.append((batch, allowed))
            batch, size = [], 0
    if batch:
        jobs.append((batch, allowed))
    with process_pool(workers, _init_worker, (tok.ranks, tok.special_tokens, tok.pattern)) as pool:
        out: list[list[int]] = []
        for flat, lengths in pool.imap(_encode_job, jobs):
            ids, start = flat.tolist(), 0
            for n in lengths:
                out.append(ids[start : start + n])
                start += n
    return out
