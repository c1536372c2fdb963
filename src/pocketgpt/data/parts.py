"""Tokenizing as many independent workers, and merging their parts into one dataset.

Worker ``I`` of ``N`` (``--num-shards N --shard-index I``, or the launcher's environment:
see :func:`worker_slice`) lists the inputs' *pieces* (a file, or one row group of a
parquet file) exactly as every other worker does, takes its contiguous share of them
(balanced by size, :func:`share_out`), and writes a *part*::

    OUT/parts/part-0000I-of-0000N/
        index.json           written last; the part's pieces, documents and files
        tokens_000000.npy    every document's tokens and <|endoftext|>, in input order
        lengths_000000.npy   uint32: each document's token count (its separator included)
        .progress.json       only while the part is unfinished (a rerun resumes from it)

A part does not decide the train/val split: the rule holds out documents by their position
in the whole input (:func:`~pocketgpt.data.split.is_val_document`), which no worker knows.
:func:`merge_parts` walks the parts in order, decides each document's split from its global
position, and cuts the same ``train_*.npy``/``val_*.npy`` shards a single run writes, byte
for byte, with the same ``index.json`` (plus a ``parts`` entry). No worker talks to another:
the shared output directory is the only meeting point.

>>> share_out([5, 5, 5, 5], 2), share_out([10, 1, 1, 1], 2), share_out([4, 4, 5, 4, 4], 2)
([(0, 2), (2, 4)], [(0, 1), (1, 4)], [(0, 2), (2, 5)])
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import re
import shutil
import time
from collections import deque
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pocketgpt.data.shards import (
    DEFAULT_SHARD_TOKENS,
    FORMAT,
    FORMAT_VERSION,
    INDEX_NAME,
    PROGRESS_NAME,
    SPLITS,
    SplitWriter,
    check_train_not_empty,
    dataset_settings,
    encode_streams,
    open_shard,
    prepare_out_dir,
    same_config,
    val_fraction_of,
)
from pocketgpt.data.sources import SourceReport
from pocketgpt.data.split import val_mask
from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_write_text

PARTS_DIR = "parts"
PART_FORMAT = "pocketgpt-token-part"
PART_VERSION = 1
LENGTHS_PER_FILE = 1 << 20  # documents per lengths_*.npy
MERGE_BATCH_TOKENS = 1 << 23  # tokens a merge holds at once, besides the shard being cut
_PART_RE = re.compile(r"part-(\d+)-of-(\d+)")


def part_name(index: int, count: int) -> str:
    """The directory name of worker ``index`` of ``count``.

    >>> part_name(2, 16)
    'part-00002-of-00016'
    """
    return f"part-{index:05d}-of-{count:05d}"


class WorkerSlice(NamedTuple):
    """Which share of the work this worker does, and who said so (for messages)."""

    index: int
    count: int
    origin: str = "--shard-index/--num-shards"


def worker_slice(num_shards: int | None, shard_index: int | None, environ=None) -> WorkerSlice | None:
    """This worker's slice: from the flags, else from the launcher's environment, else None
    (a whole single run).

    Launchers read: SLURM job arrays (``SLURM_ARRAY_TASK_ID`` minus ``SLURM_ARRAY_TASK_MIN``,
    divided by ``SLURM_ARRAY_TASK_STEP``, of ``SLURM_ARRAY_TASK_COUNT``: ``--array=1-8``
    works), torchrun (``RANK`` of ``WORLD_SIZE``) and Open MPI (``OMPI_COMM_WORLD_RANK`` of
    ``OMPI_COMM_WORLD_SIZE``).

    >>> worker_slice(None, None, {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_MIN": "1",
    ...                           "SLURM_ARRAY_TASK_COUNT": "4"})[:2]
    (2, 4)
    >>> worker_slice(4, 1, {"RANK": "0", "WORLD_SIZE": "2"})[:2]  # the flags win
    (1, 4)
    """
    environ = os.environ if environ is None else environ
    if (num_shards is None) != (shard_index is None):
        raise UserError("--num-shards and --shard-index go together: give both (worker I of N), or neither "
                        "(a single run, or the slice read from SLURM/torchrun's environment)")
    if num_shards is not None:
        got = WorkerSlice(shard_index, num_shards)
    elif "SLURM_ARRAY_TASK_ID" in environ:
        task, low, step, count = (_env_int(environ, k, d) for k, d in (
            ("SLURM_ARRAY_TASK_ID", None), ("SLURM_ARRAY_TASK_MIN", 0), ("SLURM_ARRAY_TASK_STEP", 1),
            ("SLURM_ARRAY_TASK_COUNT", None)))
        got = WorkerSlice((task - low) // max(step, 1), count,
                          f"SLURM_ARRAY_TASK_ID={task} (min {low}, step {step}) of SLURM_ARRAY_TASK_COUNT={count}")
    else:
        for rank, size in (("RANK", "WORLD_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE")):
            if rank in environ and size in environ:
                r, n = _env_int(environ, rank, None), _env_int(environ, size, None)
                got = WorkerSlice(r, n, f"{rank}={r} of {size}={n}")
                break
        else:
            return None
    if got.count < 1 or not 0 <= got.index < got.count:
        raise UserError(f"shard index {got.index} is out of range for {got.count} shard(s) (from {got.origin}); "
                        f"expected 0 <= --shard-index < --num-shards")
    return got


def _env_int(environ, name: str, default: int | None) -> int:
    value = environ.get(name)
    if value is None and default is not None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UserError(f"environment variable {name}={value!r}: expected an integer (set by the launcher); "
                        "or pass --num-shards and --shard-index") from None


def share_out(sizes: list[int], count: int) -> list[tuple[int, int]]:
    """Cut pieces ``0..len(sizes)`` into ``count`` contiguous ranges of about equal total size:
    a piece goes to the worker in whose ``1/count`` of the total its middle falls (its start
    would hand a big piece that starts just before a boundary to the worker already full)."""
    total, start, owners = sum(sizes), 0, []
    for j, size in enumerate(sizes):
        owners.append(min((2 * start + size) * count // (2 * total), count - 1) if total else j * count // len(sizes))
        start += size
    return [(bisect.bisect_left(owners, k), bisect.bisect_left(owners, k + 1)) for k in range(count)]


def tokenize_part(
    inputs,
    tokenizer_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    num_shards: int,
    shard_index: int,
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
    """Tokenize worker ``shard_index``'s share of the inputs into ``out_dir/parts/``; return
    the part's index. Settings as :func:`~pocketgpt.data.tokenize_to_shards`; every worker
    must get the same ones. An interrupted part resumes on rerun."""
    worker_slice(num_shards, shard_index, {})  # range checks
    train_src, val_src, config = dataset_settings(
        inputs, tokenizer_dir, val_fraction=val_fraction, val_inputs=val_inputs, shard_tokens=shard_tokens,
        workers=workers, field=field, split_on=split_on, skip_bad=skip_bad)
    streams = [[p for s in train_src for p in s.pieces()], [p for s in val_src or [] for p in s.pieces()]]
    pieces = streams[0] + streams[1]
    lo, hi = share_out([p.size for p in pieces], num_shards)[shard_index]
    plan = hashlib.sha256(json.dumps([[p.name(), p.size] for p in pieces]).encode()).hexdigest()
    part = {"num_shards": num_shards, "shard_index": shard_index, "pieces": [lo, hi], "total_pieces": len(pieces),
            "plan_sha256": plan, "lengths_per_file": LENGTHS_PER_FILE}
    part_config = {"dataset": config, "part": part}

    out = Path(out_dir) / PARTS_DIR / part_name(shard_index, num_shards)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    done = prepare_out_dir(out, part_config, overwrite)
    if done is not None and done.get("complete"):
        return done["index"]
    done = done or {}
    writers = {"tokens": SplitWriter(out, "tokens", shard_tokens, done.get("tokens")),
               "lengths": SplitWriter(out, "lengths", LENGTHS_PER_FILE, done.get("lengths"))}
    n_train = len(streams[0])
    mine = [(streams[0][lo:min(hi, n_train)], "train"), (streams[1][max(lo - n_train, 0):max(hi - n_train, 0)], "val")]
    counts, report, seconds = encode_streams(out, config, mine, writers, tokenizer_dir, workers=workers,
                                             progress=progress, created=created, defer_split=True,
                                             resume_config=part_config)
    index = {
        "format": PART_FORMAT,
        "version": PART_VERSION,
        **part_config,
        # documents per input stream, in order: the train inputs' (split at merge), then the val inputs'
        "documents": {"train": counts["train"], "val": counts["val"]},
        "characters": counts["bytes"],
        "tokens": sum(x["tokens"] for x in writers["tokens"].shards),
        "files": {k: w.shards for k, w in writers.items()},
        "report": report.as_dict(),
        "seconds": round(seconds, 3),
    }
    atomic_write_text(out / INDEX_NAME, json.dumps(index, indent=1))
    (out / PROGRESS_NAME).unlink(missing_ok=True)
    return index


def read_parts(out_dir: str | os.PathLike) -> list[tuple[Path, dict]]:
    """Every part under ``out_dir/parts``, in order, checked to be complete and consistent."""
    root = Path(out_dir) / PARTS_DIR
    found = sorted((d, int(m[1]), int(m[2])) for d in (root.iterdir() if root.is_dir() else [])
                   if d.is_dir() and (m := _PART_RE.fullmatch(d.name)))
    if not found:
        raise UserError(f"{root}: no parts; expected the output of `pocketgpt data tokenize --num-shards N "
                        "--shard-index I --out ...` for every I from 0 to N-1")
    counts = sorted({n for _, _, n in found})
    if len(counts) > 1:
        a, b = (next(d for d, _, n in found if n == c) for c in counts[:2])
        raise UserError(f"{root}: inconsistent --num-shards between parts: {a.name} is one of {counts[0]}, "
                        f"{b.name} one of {counts[1]}; every worker must be given the same --num-shards "
                        "(remove the other run's parts)")
    n = counts[0]
    for d, i, _ in found:
        if i >= n:
            raise UserError(f"{d}: shard index {i} is out of range for --num-shards {n}; remove it")
    parts = []
    for i in range(n):
        d = root / part_name(i, n)
        if not (d / INDEX_NAME).is_file():
            what = ("did not finish (it has a .progress.json but no index.json)" if (d / PROGRESS_NAME).is_file()
                    else "is missing" if not d.is_dir() else "has no index.json")
            raise UserError(f"{d}: part {i} of {n} {what}; run (or rerun) that worker: "
                            f"`pocketgpt data tokenize ... --num-shards {n} --shard-index {i}` with the others' "
                            "inputs and settings, then merge again")
        parts.append((d, _read_part_index(d, i, n)))
    ref_dir, ref = parts[0]
    expected = 0
    for d, idx in parts:
        for group in ("dataset", "part"):
            for key, want in ref[group].items():
                if key != "shard_index" and key != "pieces" and idx[group].get(key) != want:
                    raise UserError(
                        f"{d}: field {group}.{key} is {_short(idx[group].get(key))}, but {ref_dir.name} has "
                        f"{_short(want)}; every part must be made with the same tokenizer, inputs and settings "
                        "(rerun this part with the others' settings and --overwrite)")
        lo, hi = idx["part"]["pieces"]
        if lo != expected:
            raise UserError(f"{d}: field part.pieces starts at piece {lo}, but the parts before it end at "
                            f"{expected}; the parts overlap or leave a gap: retokenize this part")
        expected = hi
    if expected != ref["part"]["total_pieces"]:
        raise UserError(f"{parts[-1][0]}: the parts end at piece {expected} of {ref['part']['total_pieces']}")
    return parts


def _read_part_index(d: Path, i: int, n: int) -> dict:
    path = d / INDEX_NAME
    try:
        idx = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a readable part index ({e}); rerun that worker with --overwrite") from None
    if idx.get("format") != PART_FORMAT or idx.get("version") != PART_VERSION:
        raise UserError(f"{path}: field format/version is {idx.get('format')!r}/{idx.get('version')!r}, "
                        f"expected {PART_FORMAT!r}/{PART_VERSION}")
    got = (idx["part"]["shard_index"], idx["part"]["num_shards"])
    if got != (i, n):
        raise UserError(f"{path}: field part.shard_index says part {got[0]} of {got[1]}, but the directory is "
                        f"part {i} of {n}: a copied or renamed part duplicates another; retokenize part {i}")
    return idx


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def merge_parts(out_dir: str | os.PathLike, *, overwrite: bool = False, remove_parts: bool = False) -> dict:
    """Merge ``out_dir/parts/*`` into the train/val shards and ``index.json`` of ``out_dir``,
    byte-identical to a single run over the same inputs and settings; return the index.
    A finished merge (or a single run's index with the same settings) is returned as is."""
    out = Path(out_dir)
    parts = read_parts(out)
    config = parts[0][1]["dataset"]
    index_path = out / INDEX_NAME
    if index_path.is_file() and not overwrite:
        old = json.loads(index_path.read_text())
        if same_config(old, config):
            return old
        raise UserError(f"{index_path}: a dataset made with other settings than its parts is already here; "
                        "pass --overwrite to replace it with the merge")
    for f in [index_path, *out.glob(".*.tmp"), *(f for s in SPLITS for f in out.glob(f"{s}_*.npy"))]:
        f.unlink(missing_ok=True)
    started = time.perf_counter()
    writers = {s: SplitWriter(out, s, config["shard_tokens"], None) for s in SPLITS}
    fraction = val_fraction_of(config)
    docs = {"train": 0, "val": 0}
    position = 0  # of the next train-input document: the split rule's counter
    batch = 0
    for d, idx in parts:
        tokens = _Cursor([open_shard(d, s, config["dtype"]) for s in idx["files"]["tokens"]], d, config["dtype"])
        left = dict(idx["documents"])
        for lengths in _length_batches(d, idx):
            while len(lengths):
                stream = "train" if left["train"] else "val"
                if not left[stream]:
                    raise UserError(f"{d}: more documents in its lengths files than its index.json counts; "
                                    "the part is damaged: retokenize it (--overwrite)")
                take, lengths = lengths[: left[stream]], lengths[left[stream]:]
                left[stream] -= len(take)
                if stream == "val" or fraction is None:
                    is_val = np.full(len(take), stream == "val")
                else:
                    is_val = val_mask(position, len(take), fraction)
                    position += len(take)
                arr = tokens.take(int(take.sum(dtype=np.int64)))
                mask = np.repeat(is_val, take)
                writers["train"].add(batch, arr[~mask], lambda: None)
                writers["val"].add(batch, arr[mask], lambda: None)
                batch += 1
                n_val = int(is_val.sum())
                docs["val"] += n_val
                docs["train"] += len(take) - n_val
        if any(left.values()) or tokens.left():
            raise UserError(f"{d}: the part's lengths and tokens files disagree with its index.json; "
                            "the part is damaged: retokenize it (--overwrite)")
    for w in writers.values():
        w.finish()
    if docs["train"] + docs["val"] == 0:
        raise UserError("the input holds no documents (empty input); expected at least one non-empty document")
    index = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **config,
        "documents": docs["train"] + docs["val"],
        "characters": sum(idx["characters"] for _, idx in parts),
        "splits": {
            s: {"tokens": sum(x["tokens"] for x in w.shards), "documents": docs[s], "shards": w.shards}
            for s, w in writers.items()
        },
        "report": merged_report([idx["report"] for _, idx in parts]),
        "seconds": round(time.perf_counter() - started, 3),
        "parts": {"count": len(parts), "dir": PARTS_DIR, "plan_sha256": parts[0][1]["part"]["plan_sha256"],
                  "seconds": [idx["seconds"] for _, idx in parts]},
    }
    check_train_not_empty(index, out, [x["file"] for w in writers.values() for x in w.shards], False)
    atomic_write_text(index_path, json.dumps(index, indent=1))
    if remove_parts:
        shutil.rmtree(out / PARTS_DIR)
    return index


def _length_batches(d: Path, idx: dict):
    """The part's document lengths in order, in batches of about MERGE_BATCH_TOKENS tokens."""
    for shard in idx["files"]["lengths"]:
        lengths = np.asarray(open_shard(d, shard, "uint32"), dtype=np.int64)
        ends = np.cumsum(lengths)
        start = 0
        while start < len(lengths):
            base = ends[start - 1] if start else 0
            stop = max(start + 1, int(np.searchsorted(ends, base + MERGE_BATCH_TOKENS, side="right")))
            yield lengths[start:stop]
            start = stop


class _Cursor:
    """Reads a part's token files as one stream."""

    def __init__(self, arrays: list, where: Path, dtype: str):
        self.arrays, self.offset, self.where, self.dtype = deque(arrays), 0, where, dtype

    def take(self, n: int) -> np.ndarray:
        pieces = []
        while n:
            if not self.arrays:
                raise UserError(f"{self.where}: fewer tokens than its lengths files count; the part is damaged: "
                                "retokenize it (--overwrite)")
            a = self.arrays[0]
            k = min(n, len(a) - self.offset)
            pieces.append(a[self.offset : self.offset + k])
            self.offset += k
            n -= k
            if self.offset == len(a):
                self.arrays.popleft()
                self.offset = 0
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=self.dtype)

    def left(self) -> int:
        return sum(len(a) for a in self.arrays) - self.offset


def merged_report(reports: list[dict]) -> dict:
    """The source reports of consecutive parts as one run's report (the first places listed)."""
    listed = SourceReport().max_listed
    out = {"skipped": 0, "skipped_where": [], "replaced_invalid_utf8": 0, "replaced_where": [], "empty_documents": 0}
    for r in reports:
        for key in ("skipped", "replaced_invalid_utf8", "empty_documents"):
            out[key] += r[key]
        for key in ("skipped_where", "replaced_where"):
            out[key] = (out[key] + r[key])[:listed]
    return out


def parts_status(out_dir: str | os.PathLike) -> list[dict]:
    """One row per part directory under ``out_dir/parts``: name, state, tokens, documents."""
    root = Path(out_dir) / PARTS_DIR
    rows = []
    for d in sorted(root.iterdir() if root.is_dir() else []):
        if not (d.is_dir() and _PART_RE.fullmatch(d.name)):
            continue
        row = {"name": d.name, "state": "unfinished", "tokens": None, "documents": None}
        if (d / INDEX_NAME).is_file():
            with_index = json.loads((d / INDEX_NAME).read_text())
            row.update(state="done", tokens=with_index.get("tokens"),
                       documents=sum(with_index.get("documents", {}).values()))
        elif not (d / PROGRESS_NAME).is_file():
            row["state"] = "empty"
        rows.append(row)
    return rows
