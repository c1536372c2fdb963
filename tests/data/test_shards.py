"""Token shards: counts match direct encoding, splits, dtype, resume, tokenizer checks."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from data_testlib import make_docs

import pocketgpt.data.shards as shards
from pocketgpt.data import DocumentList, check_tokenizer, read_shard_index, tokenize_to_shards
from pocketgpt.data.split import is_val_document
from pocketgpt.errors import UserError


def all_tokens(out: Path, split: str) -> np.ndarray:
    index = read_shard_index(out)
    arrays = [np.load(out / s["file"]) for s in index["splits"][split]["shards"]]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=index["dtype"])


def shard_bytes(out: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.npy"))}


def test_tokens_equal_direct_encoding_plus_one_separator(tmp_path, tok, tok_dir, monkeypatch):
    monkeypatch.setattr(shards, "CHUNK_CHARS", 500)  # many chunks, so shards span chunks
    docs = make_docs(1, 120)
    docs[3] = "text that mentions <|endoftext|> as plain text"
    index = tokenize_to_shards(docs, tok_dir, tmp_path / "s", val_fraction=0.1, shard_tokens=700)
    f = Fraction(1, 10)
    for split, want_val in (("train", False), ("val", True)):
        expect = []
        for i, d in enumerate(docs):
            if is_val_document(i, f) == want_val:
                expect += tok.encode(d) + [tok.eot_id]
        got = all_tokens(tmp_path / "s", split)
        assert got.tolist() == expect
        info = index["splits"][split]
        assert info["tokens"] == len(expect) == sum(s["tokens"] for s in info["shards"])
        assert all(s["tokens"] == 700 for s in info["shards"][:-1])
    assert index["splits"]["val"]["documents"] == 12 and index["splits"]["train"]["documents"] == 108
    # the literal special in text is not the separator: exactly one eot per document
    assert int((all_tokens(tmp_path / "s", "train") == tok.eot_id).sum()) == 108
    assert index["dtype"] == "uint16" and index["tokenizer_fingerprint"] == tok.fingerprint
    assert np.load(tmp_path / "s" / "train_000000.npy", mmap_mode="r").dtype == np.uint16


def test_large_vocab_uses_uint32(tmp_path):
    from pocketgpt.tokenizer import Tokenizer

    big = Tokenizer({bytes([i]): i for i in range(256)}, {"<|endoftext|>": 70_000})
    big.save(tmp_path / "tok")
    index = tokenize_to_shards(["abc", "def"], tmp_path / "tok", tmp_path / "s", val_fraction=0.5)
    assert index["dtype"] == "uint32"
    assert all_tokens(tmp_path / "s", "train").tolist() == [100, 101, 102, 70_000]


def test_two_workers_match_one(tmp_path, tok_dir, monkeypatch):
    monkeypatch.setattr(shards, "CHUNK_CHARS", 2000)
    docs = make_docs(2, 300)
    tokenize_to_shards(docs, tok_dir, tmp_path / "one", shard_tokens=1500, workers=1)
    tokenize_to_shards(docs, tok_dir, tmp_path / "two", shard_tokens=1500, workers=2)
    assert shard_bytes(tmp_path / "one") == shard_bytes(tmp_path / "two")
    assert len(shard_bytes(tmp_path / "one")) > 4


def test_interrupted_run_resumes_to_identical_shards(tmp_path, tok_dir, monkeypatch):
    monkeypatch.setattr(shards, "CHUNK_CHARS", 300)
    docs = make_docs(3, 200)
    clean = tmp_path / "clean"
    tokenize_to_shards(docs, tok_dir, clean, val_fraction=0.2, shard_tokens=900)

    real_cut, cuts = shards.SplitWriter._cut, []

    def failing_cut(self, n):
        if len(cuts) == 4:
            raise KeyboardInterrupt
        cuts.append(self.split)
        real_cut(self, n)

    monkeypatch.setattr(shards.SplitWriter, "_cut", failing_cut)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        tokenize_to_shards(docs, tok_dir, out, val_fraction=0.2, shard_tokens=900)
    assert not (out / "index.json").exists() and (out / ".progress.json").exists()
    with pytest.raises(UserError, match="did not finish"):
        read_shard_index(out)
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    assert len(kept) == 4
    monkeypatch.setattr(shards.SplitWriter, "_cut", real_cut)
    index = tokenize_to_shards(docs, tok_dir, out, val_fraction=0.2, shard_tokens=900)
    assert shard_bytes(out) == shard_bytes(clean)
    assert {p: (out / p).stat().st_mtime_ns for p in kept} == kept  # finished shards were kept
    assert index["splits"] == read_shard_index(clean)["splits"]
    assert not (out / ".progress.json").exists()
    # a second rerun of a finished directory does nothing and returns the same index
    assert tokenize_to_shards(docs, tok_dir, out, val_fraction=0.2, shard_tokens=900)["splits"] == index["splits"]


def test_stale_temp_files_are_removed(tmp_path, tok_dir):
    out = tmp_path / "s"
    out.mkdir()
    (out / ".train_000000.npy.abc.tmp").write_bytes(b"half")
    tokenize_to_shards(["a b c"] * 3, tok_dir, out, val_fraction=0.34)
    assert not list(out.glob(".*.tmp"))


def test_other_tokenizer_is_an_error(tmp_path, tok_dir, tok):
    from pocketgpt.tokenizer import train

    other = train(make_docs(9, 50), 290, progress=False)
    other.save(tmp_path / "other")
    out = tmp_path / "s"
    tokenize_to_shards(make_docs(4, 20), tok_dir, out, val_fraction=0.1)
    check_tokenizer(out, tok)
    check_tokenizer(out, tok_dir)
    with pytest.raises(UserError) as e:
        check_tokenizer(out, other)
    assert tok.fingerprint[:16] in str(e.value) and other.fingerprint[:16] in str(e.value)
    with pytest.raises(UserError, match="another tokenizer"):
        tokenize_to_shards(make_docs(4, 20), tmp_path / "other", out, val_fraction=0.1)
    index = tokenize_to_shards(make_docs(4, 20), tmp_path / "other", out, val_fraction=0.1, overwrite=True)
    assert index["tokenizer_fingerprint"] == other.fingerprint


def test_sources_and_explicit_val_inputs(tmp_path, tok, tok_dir):
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in ["one", "two"]))
    (tmp_path / "v.txt").write_text("held out")
    index = tokenize_to_shards([tmp_path / "a.jsonl"], tok_dir, tmp_path / "s", val_inputs=[tmp_path / "v.txt"])
    assert all_tokens(tmp_path / "s", "val").tolist() == tok.encode("held out") + [tok.eot_id]
    assert all_tokens(tmp_path / "s", "train").tolist() == tok.encode("one") + [tok.eot_id] + tok.encode("two") + [
        tok.eot_id
    ]
    assert index["sources"]["train"][0]["spec"].endswith("a.jsonl")


def test_bad_documents(tmp_path, tok_dir):
    with pytest.raises(UserError, match=r"<documents>\[1\]: document is int, expected a string"):
        tokenize_to_shards([DocumentList(["ok", 7, "fine"])], tok_dir, tmp_path / "a")
    index = tokenize_to_shards([DocumentList(["ok", 7, "fine"])], tok_dir, tmp_path / "b", skip_bad=True,
                               val_fraction=0.5)
    assert index["report"]["skipped"] == 1 and index["documents"] == 2
    with pytest.raises(UserError, match="empty input"):
        tokenize_to_shards(["", ""], tok_dir, tmp_path / "c")
    with pytest.raises(UserError, match="train split is empty"):
        tokenize_to_shards(["only one"], tok_dir, tmp_path / "d", val_fraction=0.5)


RSS_CHILD = """
import resource, sys
from pocketgpt.data import parse_source, tokenize_to_shards
tokenize_to_shards([parse_source(sys.argv[1])], sys.argv[2], sys.argv[3], shard_tokens=1 << 20, workers=1)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # peak resident set, KiB
"""


def test_a_parquet_file_bigger_than_the_memory_allowed_streams_into_shards(tmp_path, tok_dir):
    """Peak RSS of a tokenize process over a 24 MB uncompressed parquet file stays within
    half the file's size of the same process over a tiny file: the file is never held whole."""
    import subprocess
    import sys

    import pyarrow as pa
    import pyarrow.parquet as pq

    group = pa.table({"text": make_docs(31, 2000, 40, 120)})  # one ~1 MB row group, written again and again
    big, small = tmp_path / "big.parquet", tmp_path / "small.parquet"
    with pq.ParquetWriter(big, group.schema, compression="none") as w:
        for _ in range(24_000_000 // group.nbytes + 2):
            w.write_table(group)
    pq.write_table(group.slice(0, 20), small)

    def peak_kib(path: Path) -> int:
        r = subprocess.run([sys.executable, "-c", RSS_CHILD, str(path), str(tok_dir), str(tmp_path / path.stem)],
                           capture_output=True, text=True, check=True)
        return int(r.stdout.split()[-1])

    size = big.stat().st_size
    assert size > 24_000_000
    extra = (peak_kib(big) - peak_kib(small)) * 1024
    assert extra < size / 2, f"peak RSS grew by {extra / 1e6:.1f} MB for a {size / 1e6:.1f} MB file"
    assert read_shard_index(tmp_path / "big")["documents"] == pq.ParquetFile(big).metadata.num_rows
