"""Token shards: documents -> flat arrays of token ids on disk, train and val apart.

Layout of a shard directory::

    index.json          written last; its presence means the run is complete
    train_000000.npy    flat uint16 (vocab <= 65536) or uint32 array, ``shard_tokens`` long
    train_000001.npy    ... the last shard of a split may be shorter
    val_000000.npy
    .progress.json      only while a run is incomplete: shards done and where to resume

Every document is followed by ``<|endoftext|>``. Documents go to ``val`` by an evenly
spaced rule on their position (see :func:`~pocketgpt.data.split.is_val_document`), so
the first document is always in ``val`` when ``val_fraction > 0``. Each ``.npy`` is
written to a temp file and renamed; an interrupted run resumes from its last finished
shard and produces exactly the shards of one clean run.

>>> import tempfile
>>> from pocketgpt.tokenizer import train
>>> tok_dir, out = tempfile.mkdtemp(), tempfile.mkdtemp() + "/shards"
>>> _ = train(["hello world"] * 10, 270, progress=False).save(tok_dir)
>>> idx = tokenize_to_shards(["hello", "world", "hello world"], tok_dir, out, val_fraction=0.25)
>>> idx["splits"]["val"]["documents"], idx["splits"]["train"]["documents"]
(1, 2)
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from pocketgpt.data.default_corpus import corpus_files
from pocketgpt.data.sources import DocumentList, Source, SourceReport, iter_documents, parse_source
from pocketgpt.data.split import is_val_document
from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_file, atomic_write_text, sha256_file
from pocketgpt.parallel import bounded_imap, process_pool

INDEX_NAME = "index.json"
PROGRESS_NAME = ".progress.json"
FORMAT = "pocketgpt-token-shards"
FORMAT_VERSION = 1
SPLITS = ("train", "val")
DEFAULT_SHARD_TOKENS = 50_000_000
# Work unit sent to a worker. Fixed, because resume points are recorded per chunk.
CHUNK_CHARS = 1 << 20


def shard_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits in 16 bits, else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)


def _as_sources(inputs, field: str, split_on: str | None) -> list:
    """``str`` items are documents; ``Path``/``Source`` items are sources."""
    if isinstance(inputs, (str, os.PathLike, Source, DocumentList)):
        inputs = [inputs]
    sources, loose = [], []
    for item in inputs:
        if isinstance(item, str):
            loose.append(item)
            continue
        if loose:
            sources.append(DocumentList(loose))
            loose = []
        if isinstance(item, os.PathLike):
            item = parse_source(item, field=field, split_on=split_on)
        if not hasattr(item, "documents"):
            raise UserError(f"input {item!r}: expected a document string, a Path or a Source")
        sources.append(item)
    if loose:
        sources.append(DocumentList(loose))
    if not sources:
        raise UserError("no inputs given (empty input); expected documents or sources")
    return sources


def _expand_default_corpus(sources: list) -> tuple[list, list | None]:
    """A default-corpus directory (``manifest.json``) brings its own held-out files for val."""
    train, val = [], []
    for src in sources:
        manifest = Path(src.spec) / "manifest.json" if isinstance(src, Source) else None
        if manifest is not None and manifest.is_file():
            tr, va = corpus_files(Path(src.spec))
            train += [parse_source(p) for p in tr]
            val += [parse_source(p) for p in va]
        else:
            train.append(src)
    return train, (val or None)


class _Encoder:
    """Per-process encoder; loads the tokenizer from its directory (never pickled)."""

    tokenizer = None

    @classmethod
    def init(cls, tokenizer_dir: str) -> None:
        from pocketgpt.tokenizer import Tokenizer

        cls.tokenizer = Tokenizer.load(tokenizer_dir)

    @classmethod
    def encode_chunk(cls, job: tuple) -> tuple:
        """``(chunk_id, arrays, characters, tokens)``: the train and val arrays, or with no
        flags (a part, whose split is decided at merge) every token and each document's length."""
        chunk_id, texts, val_flags, dtype = job
        tok = cls.tokenizer
        # One call per document: tiktoken's *_batch hands each text to a thread pool, ~10% slower here.
        encode = tok.encoding.encode_ordinary
        ids = [encode(t) for t in texts]
        if val_flags is None:
            arrays = (_join(ids, tok.eot_id, dtype), np.fromiter(map(len, ids), np.uint32, len(ids)) + 1)
        else:
            arrays = tuple(_join([x for x, v in zip(ids, val_flags) if v == want], tok.eot_id, dtype)
                           for want in (False, True))
        return chunk_id, arrays, sum(map(len, texts)), sum(len(a) for a in arrays[: 1 if val_flags is None else 2])


def _join(lists: list, eot: int, dtype) -> np.ndarray:
    """Token lists end to end, each followed by ``eot``."""
    arr = np.empty(sum(map(len, lists)) + len(lists), dtype=dtype)
    pos = 0
    for x in lists:
        arr[pos : pos + len(x)] = x
        arr[pos + len(x)] = eot
        pos += len(x) + 1
    return arr


def _chunks(docs: Iterator[str], fraction: Fraction, force_split: str | None, counts: dict,
            defer: bool = False) -> Iterator[tuple]:
    """Group documents into ~CHUNK_CHARS work units, deciding each one's split (with
    ``defer``, none: the flags are None and ``counts`` counts the stream's documents)."""
    texts, flags, size, chunk_id = [], [], 0, 0
    for i, doc in enumerate(docs):
        is_val = (force_split == "val") if force_split or defer else is_val_document(i, fraction)
        counts["val" if is_val else "train"] += 1
        counts["bytes"] += len(doc)
        texts.append(doc)
        flags.append(is_val)
        size += len(doc)
        if size >= CHUNK_CHARS:
            yield chunk_id, texts, None if defer else flags
            texts, flags, size, chunk_id = [], [], 0, chunk_id + 1
    if texts:
        yield chunk_id, texts, None if defer else flags


class SplitWriter:
    """Cuts one split's token stream into fixed-size shards, tracking the resume point."""

    def __init__(self, out: Path, split: str, shard_tokens: int, done: dict | None):
        self.out, self.split, self.shard_tokens = out, split, shard_tokens
        self.shards = list(done["shards"]) if done else []
        self.resume = tuple(done["resume"]) if done else (0, 0)
        self.pieces: deque = deque()  # (chunk_id, offset within that chunk's array, array)
        self.buffered = 0

    def add(self, chunk_id: int, arr: np.ndarray, save) -> None:
        r_chunk, r_off = self.resume
        if chunk_id < r_chunk:
            return
        start = r_off if chunk_id == r_chunk else 0
        if start:
            arr = arr[start:]
        if len(arr):
            self.pieces.append((chunk_id, start, arr))
            self.buffered += len(arr)
        while self.buffered >= self.shard_tokens:
            self._cut(self.shard_tokens)
            save()

    def finish(self) -> None:
        if self.buffered:
            self._cut(self.buffered)

    def _cut(self, n: int) -> None:
        parts, need = [], n
        while need:
            chunk_id, off, arr = self.pieces.popleft()
            take = min(need, len(arr))
            parts.append(arr[:take])
            if take < len(arr):
                self.pieces.appendleft((chunk_id, off + take, arr[take:]))
            need -= take
            last = (chunk_id, off + take)
        self.buffered -= n
        data = np.concatenate(parts) if len(parts) > 1 else parts[0]
        name = f"{self.split}_{len(self.shards):06d}.npy"
        with atomic_file(self.out / name, "wb") as f:
            np.save(f, data, allow_pickle=False)
        self.shards.append({"file": name, "tokens": int(n), "sha256": sha256_file(self.out / name)})
        # Resume at the first token not yet written: the next piece, or the chunk after
        # the one just used up.
        self.resume = self.pieces[0][:2] if self.pieces else (last[0] + 1, 0)

    def state(self) -> dict:
        return {"shards": self.shards, "resume": list(self.resume)}


def tokenize_to_shards(
    inputs,
    tokenizer_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    val_fraction: float = 0.01,
    val_inputs=None,
    shard_tokens: int = DEFAULT_SHARD_TOKENS,
    workers: int = 1,
    field: str = "text",
    split_on: str | None = None,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = False,
) -> dict:
    """Encode documents into train/val token shards under ``out_dir``; return the index.

    ``inputs`` is a list of document strings and/or sources (``Path``, :class:`Source`,
    :class:`DocumentList`). A default-corpus directory supplies its own held-out
    documents as val; so does ``val_inputs`` (then ``val_fraction`` is not used).
    Completed shards of an interrupted run with the same settings are kept.
    (:func:`pocketgpt.data.parts.tokenize_part` does one worker's share of the same job.)
    """
    train_src, val_src, config = dataset_settings(
        inputs, tokenizer_dir, val_fraction=val_fraction, val_inputs=val_inputs, shard_tokens=shard_tokens,
        workers=workers, field=field, split_on=split_on, skip_bad=skip_bad)
    out = Path(out_dir)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    done = prepare_out_dir(out, config, overwrite)
    if done is not None and done.get("complete"):
        return done["index"]

    writers = {s: SplitWriter(out, s, shard_tokens, (done or {}).get(s)) for s in SPLITS}
    streams = [(train_src, None if val_src is None else "train")]
    if val_src is not None:
        streams.append((val_src, "val"))
    counts, report, seconds = encode_streams(out, config, streams, writers, tokenizer_dir, workers=workers,
                                             progress=progress, created=created)
    index = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **config,
        "documents": counts["train"] + counts["val"],
        "characters": counts["bytes"],
        "splits": {
            s: {"tokens": sum(x["tokens"] for x in w.shards), "documents": counts[s], "shards": w.shards}
            for s, w in writers.items()
        },
        "report": report.as_dict(),
        "seconds": round(seconds, 3),
    }
    check_train_not_empty(index, out, [x["file"] for w in writers.values() for x in w.shards], created)
    atomic_write_text(out / INDEX_NAME, json.dumps(index, indent=1))
    (out / PROGRESS_NAME).unlink(missing_ok=True)
    return index


def dataset_settings(inputs, tokenizer_dir, *, val_fraction: float, val_inputs, shard_tokens: int, workers: int,
                     field: str, split_on: str | None, skip_bad: bool) -> tuple[list, list | None, dict]:
    """Check the settings; return the train and val sources and the dataset's ``config``
    (what ``index.json`` records, and what a rerun or a merge must find the same)."""
    from pocketgpt.tokenizer import Tokenizer

    if shard_tokens < 1:
        raise UserError(f"--shard-tokens: {shard_tokens}; expected a positive number of tokens")
    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction: {val_fraction}; expected a number in [0, 1)")
    if workers < 1:
        raise UserError(f"--workers: {workers}; expected at least 1")
    tok = Tokenizer.load(Path(tokenizer_dir))
    train_src, val_src = _expand_default_corpus(_as_sources(inputs, field, split_on))
    if val_inputs is not None:
        val_src = _as_sources(val_inputs, field, split_on)
    config = {
        "tokenizer_fingerprint": tok.fingerprint,
        "vocab_size": tok.vocab_size,
        "dtype": shard_dtype(tok.vocab_size).name,
        "eot_id": tok.eot_id,
        "shard_tokens": shard_tokens,
        "val_fraction": None if val_src else val_fraction,
        "chunk_chars": CHUNK_CHARS,
        "skip_bad": skip_bad,
        "sources": {"train": [s.describe() for s in train_src], "val": [s.describe() for s in val_src or []]},
    }
    return train_src, val_src, config


def val_fraction_of(config: dict) -> Fraction | None:
    """The exact fraction the split rule uses (None: val comes from its own inputs)."""
    f = config["val_fraction"]
    return None if f is None else Fraction(f).limit_denominator(1_000_000)


def encode_streams(out: Path, config: dict, streams: list, writers: dict, tokenizer_dir, *, workers: int,
                   progress: bool, created: bool, defer_split: bool = False,
                   resume_config: dict | None = None) -> tuple[dict, SourceReport, float]:
    """Encode each ``(sources, forced split or None)`` stream in order into ``writers``, which
    take the encoder's arrays in order (train and val; or, ``defer_split``, every token and
    the document lengths), saving resume points in ``.progress.json`` under ``resume_config``
    (default ``config``). Returns the document counts (per split, or per stream when
    deferred), the source report and the seconds."""
    counts = {"train": 0, "val": 0, "bytes": 0}
    report = SourceReport(skip_bad=config["skip_bad"])

    def save_progress() -> None:
        state = {"config": resume_config or config, **{s: w.state() for s, w in writers.items()}}
        atomic_write_text(out / PROGRESS_NAME, json.dumps(state, indent=1))

    # Claim the directory before the first shard, so a kill right after writing a shard
    # leaves a resumable directory rather than anonymous .npy files.
    save_progress()
    fraction = val_fraction_of(config) or Fraction(0)
    dtype = np.dtype(config["dtype"])
    started = time.perf_counter()
    chunk_base = 0
    with contextlib.ExitStack() as stack:
        # One pool for both streams, started before the progress bar's thread (see parallel.py).
        if workers > 1:
            pool = stack.enter_context(process_pool(workers, _Encoder.init, (str(tokenizer_dir),)))
        else:
            pool = None
            _Encoder.init(str(tokenizer_dir))
        bar = _progress_bar(progress)
        if bar is not None:
            stack.callback(bar.close)
        try:
            for sources, force in streams:
                docs = iter_documents(sources, report, allow_empty=defer_split)
                jobs = (
                    (chunk_base + cid, texts, flags, dtype)
                    for cid, texts, flags in _chunks(docs, fraction, force, counts, defer_split)
                )
                chunk_base = max(chunk_base, _run_jobs(jobs, writers, save_progress, pool, workers, bar, started) + 1)
            for w in writers.values():
                w.finish()
        except UserError:
            if not any(w.shards for w in writers.values()):
                _abandon(out, [], created)  # bad input before the first shard: leave no claim behind
            raise
    return counts, report, time.perf_counter() - started


def check_train_not_empty(index: dict, out: Path, shard_files: list[str], created: bool) -> None:
    if index["splits"]["train"]["tokens"] == 0:
        # the same command can never succeed, so its val-only shards are not worth keeping
        _abandon(out, shard_files, created)
        raise UserError("every document went to the val split; the train split is empty (add documents, "
                        "lower --val-fraction, or use --split-on to cut a single file into documents)")


def _abandon(out: Path, shard_files: list[str], created: bool) -> None:
    """Remove what a failed run wrote (its shards and progress file), and ``out`` if it made it."""
    for name in shard_files:
        (out / name).unlink(missing_ok=True)
    (out / PROGRESS_NAME).unlink(missing_ok=True)
    if created:
        with contextlib.suppress(OSError):
            out.rmdir()


def _run_jobs(jobs, writers: dict, save_progress, pool, workers: int, bar, started: float) -> int:
    """Encode chunks (in order, in ``pool`` or here when it is None) and feed each
    writer its array; return the last chunk id seen (-1 for none)."""
    min_resume = min(w.resume[0] for w in writers.values())
    last, tokens = -1, 0

    def tick(nchars: int) -> None:
        if bar is not None:
            bar.update(nchars)
            bar.set_postfix_str(f"{tokens / max(time.perf_counter() - started, 1e-9):,.0f} tok/s")

    def todo():
        nonlocal last
        for job in jobs:
            last = job[0]
            if last < min_resume:  # finished by an earlier, interrupted run
                tick(sum(map(len, job[1])))
            else:
                yield job

    if pool is None:
        results = map(_Encoder.encode_chunk, todo())
    else:  # bounded in-flight work keeps memory flat on corpora larger than RAM
        results = bounded_imap(pool, _Encoder.encode_chunk, todo(), max_pending=2 * workers)
    for chunk_id, arrays, nchars, ntokens in results:
        for w, arr in zip(writers.values(), arrays):
            w.add(chunk_id, arr, save_progress)
        tokens += ntokens
        tick(nchars)
    return last


def _progress_bar(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(unit="B", unit_scale=True, unit_divisor=1000, desc="tokenize", dynamic_ncols=True)


def prepare_out_dir(out: Path, config: dict, overwrite: bool) -> dict | None:
    """Clean stale temp files; return resume state, or the finished index, for this config."""
    for tmp in out.glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    index_path, progress_path = out / INDEX_NAME, out / PROGRESS_NAME
    old = None
    if index_path.exists():
        old = json.loads(index_path.read_text())
        if same_config(old, config) and not overwrite:
            return {"complete": True, "index": old}
    elif progress_path.exists():
        old = json.loads(progress_path.read_text())
        if same_config(old.get("config", {}), config) and not overwrite:
            return old
        if not any(old.get(s, {}).get("shards") for s in SPLITS):
            old = None  # a run that wrote nothing: nothing to protect
    elif any(out.glob("*.npy")) and not overwrite:
        raise UserError(f"{out}: holds .npy files but no {INDEX_NAME}; choose an empty --out or pass --overwrite")
    if old is not None and not overwrite:
        why = "another tokenizer" if _fingerprint(old) != _fingerprint(config) else "other inputs or settings"
        raise UserError(f"{out}: holds shards made with {why}; choose another --out or pass --overwrite")
    for f in list(out.glob("*.npy")) + [index_path, progress_path]:
        f.unlink(missing_ok=True)
    return None


def same_config(old: dict, new: dict) -> bool:
    return all(old.get(k) == v for k, v in new.items())


def _fingerprint(state: dict) -> str | None:
    """The tokenizer fingerprint of an index, a progress file or a config (a part's nests it)."""
    for d in (state, state.get("config", {})):
        for holder in (d, d.get("dataset", {})):
            if "tokenizer_fingerprint" in holder:
                return holder["tokenizer_fingerprint"]
    return None


def open_shard(data_dir: Path, shard: dict, dtype: str) -> np.ndarray:
    """Memory-map one ``.npy`` shard listed in an index, checking its dtype and length."""
    path = Path(data_dir) / shard["file"]
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read shard ({e}); retokenize the data") from None
    if arr.ndim != 1 or arr.dtype.name != dtype or len(arr) != shard["tokens"]:
        raise UserError(
            f"{path}: shard is {arr.dtype.name}[{len(arr)}], the index says "
            f"{dtype}[{shard['tokens']}]; the shard directory is damaged, retokenize"
        )
    return arr


def read_shard_index(data_dir: str | os.PathLike) -> dict:
    """Load ``index.json`` of a finished shard directory.

    Keys include ``tokenizer_fingerprint``, ``vocab_size``, ``dtype``, ``eot_id`` and
    ``splits`` -> ``{"train": {"tokens", "documents", "shards": [{"file", "tokens", "sha256"}]}, "val": ...}``.
    """
    d = Path(data_dir)
    path = d / INDEX_NAME
    if not path.is_file():
        if (d / PROGRESS_NAME).is_file():
            raise UserError(f"{d}: the tokenize run that writes here did not finish; rerun it to complete the shards")
        raise UserError(f"{path}: no shard index; expected a directory made by `pocketgpt data tokenize`")
    try:
        index = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e}); expected a shard index") from None
    if index.get("format") != FORMAT:
        raise UserError(f"{path}: format {index.get('format')!r}, expected {FORMAT!r}")
    if index.get("version") != FORMAT_VERSION:
        raise UserError(f"{path}: version {index.get('version')!r}; this pocketgpt reads version {FORMAT_VERSION}")
    return index


def check_tokenizer(data_dir: str | os.PathLike, tokenizer) -> None:
    """Raise :class:`UserError` unless ``tokenizer`` (object or directory) made these shards."""
    if isinstance(tokenizer, (str, os.PathLike)):
        from pocketgpt.tokenizer import Tokenizer

        tokenizer = Tokenizer.load(tokenizer)
    index = read_shard_index(data_dir)
    have, want = tokenizer.fingerprint, index["tokenizer_fingerprint"]
    if have != want:
        raise UserError(
            f"{data_dir}: the shards were tokenized with tokenizer {want[:16]}… but this run uses "
            f"tokenizer {have[:16]}…; retokenize the data with this tokenizer or use the one that made them"
        )
