"""Tokenizing as N workers and merging: byte-identical to one run, and clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from data_testlib import make_docs
from hypothesis import given
from hypothesis import strategies as st

from pocketgpt.data import ShardLoader, merge_parts, read_shard_index, tokenize_part, tokenize_to_shards
from pocketgpt.data.parts import read_parts, share_out, worker_slice
from pocketgpt.errors import UserError


def shard_bytes(out: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.npy"))}


def without_timing(index: dict) -> dict:
    return {k: v for k, v in index.items() if k not in ("seconds", "parts")}


def write_inputs(root: Path, scale: int = 1) -> Path:
    """A jsonl file, a parquet file of many row groups, and a text file cut at blank lines."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "a.jsonl", "w") as f:
        for t in make_docs(11, 400 * scale, 20, 200):
            f.write(json.dumps({"text": t}) + "\n")
    pq.write_table(pa.table({"text": make_docs(12, 1500 * scale, 20, 200)}), root / "b.parquet",
                   row_group_size=100 * scale)
    (root / "c.txt").write_text("\n\n".join(make_docs(13, 300 * scale, 20, 200)))
    return root


def run_parts(inputs, tok_dir, out, n, **kw) -> list[dict]:
    return [tokenize_part(inputs, tok_dir, out, num_shards=n, shard_index=i, **kw) for i in range(n)]


def test_four_workers_merge_to_the_single_run_byte_for_byte(tmp_path, tok_dir):
    src = write_inputs(tmp_path / "in", scale=4)
    kw = dict(val_fraction=0.03, shard_tokens=50_000, split_on="blank-line")
    one = tokenize_to_shards([src], tok_dir, tmp_path / "one", **kw)
    assert one["characters"] > 3_000_000
    parts = run_parts([src], tok_dir, tmp_path / "four", 4, **kw)
    # the parquet file's row groups (pieces 1..15) are shared by more than one worker
    ranges = [p["part"]["pieces"] for p in parts]
    assert sum(1 for lo, hi in ranges if lo < 16 and hi > 1) >= 2, ranges
    assert all(hi > lo for lo, hi in ranges)
    merged = merge_parts(tmp_path / "four")
    assert len(shard_bytes(tmp_path / "one")) > 15
    assert shard_bytes(tmp_path / "four") == shard_bytes(tmp_path / "one")
    assert without_timing(merged) == without_timing(one)
    assert read_shard_index(tmp_path / "four")["parts"]["count"] == 4
    # the loader serves the same batches from either
    a, b = (ShardLoader(d, batch_size=2, seq_len=32, seed=3) for d in (tmp_path / "one", tmp_path / "four"))
    for _ in range(3):
        assert all((x == y).all() for x, y in zip(a.next_batch(), b.next_batch()))
    # a second merge returns the finished index untouched
    assert merge_parts(tmp_path / "four")["seconds"] == merged["seconds"]


def test_val_inputs_bad_records_and_more_workers_than_pieces(tmp_path, tok_dir):
    src = write_inputs(tmp_path / "in")
    with open(src / "a.jsonl", "a") as f:
        f.write('{"text": broken\n{"body": 1}\n')
    val = tmp_path / "val.parquet"
    pq.write_table(pa.table({"text": make_docs(14, 200)}), val, row_group_size=50)
    kw = dict(val_inputs=[val], shard_tokens=20_000, split_on="blank-line", skip_bad=True)
    one = tokenize_to_shards([src], tok_dir, tmp_path / "one", **kw)
    assert one["report"]["skipped"] == 2
    for n in (3, 25):  # 25 workers for 21 pieces: some parts are empty
        out = tmp_path / f"n{n}"
        run_parts([src], tok_dir, out, n, **kw)
        merged = merge_parts(out)
        assert shard_bytes(out) == shard_bytes(tmp_path / "one")
        assert without_timing(merged) == without_timing(one)


def test_the_deferred_split_counts_documents_by_global_position(tmp_path, tok_dir, tok):
    """Every part sees only its own documents; the val documents are still the evenly
    spaced ones of the whole input (checked against encoding each document here)."""
    files = []
    for k in range(5):
        files.append(tmp_path / f"{k}.jsonl")
        files[-1].write_text("".join(json.dumps({"text": t}) + "\n" for t in make_docs(20 + k, 37)))
    run_parts(files, tok_dir, tmp_path / "s", 3, val_fraction=0.1)
    merge_parts(tmp_path / "s")
    docs = [json.loads(line)["text"] for f in files for line in f.read_text().splitlines()]
    val = [d for i, d in enumerate(docs) if -(-(i + 1) // 10) > -(-i // 10)]
    expect = [t for d in val for t in tok.encode(d) + [tok.eot_id]]
    got = np.concatenate([np.load(tmp_path / "s" / s["file"]) for s in
                          read_shard_index(tmp_path / "s")["splits"]["val"]["shards"]])
    assert got.tolist() == expect


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=40), st.integers(1, 12))
def test_share_out_is_contiguous_and_balanced(sizes, count):
    ranges = share_out(sizes, count)
    assert len(ranges) == count and ranges[0][0] == 0 and ranges[-1][1] == len(sizes)
    assert all(a[1] == b[0] and a[0] <= a[1] for a, b in zip(ranges, ranges[1:]))
    total = sum(sizes)
    for lo, hi in ranges:  # no worker gets more than its share plus one piece
        assert sum(sizes[lo:hi]) <= (total / count if total else 0) + max(sizes)


def test_worker_slice_from_flags_and_launchers():
    assert worker_slice(None, None, {}) is None
    assert worker_slice(8, 7, {})[:2] == (7, 8)
    assert worker_slice(None, None, {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})[:2] == (3, 4)
    assert worker_slice(None, None, {"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"})[:2] == (1, 2)
    slurm = {"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_STEP": "4",
             "SLURM_ARRAY_TASK_COUNT": "4", "RANK": "0", "WORLD_SIZE": "1"}
    assert worker_slice(None, None, slurm)[:2] == (3, 4)  # --array=0-12:4; the array wins over RANK
    with pytest.raises(UserError, match=r"shard index 4 is out of range for 4 shard\(s\) \(from --shard-index"):
        worker_slice(4, 4, {})
    with pytest.raises(UserError, match="out of range.*SLURM_ARRAY_TASK_ID=5"):
        worker_slice(None, None, {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "4"})
    with pytest.raises(UserError, match="go together"):
        worker_slice(4, None, {})
    with pytest.raises(UserError, match="WORLD_SIZE='x'"):
        worker_slice(None, None, {"RANK": "0", "WORLD_SIZE": "x"})


@pytest.fixture
def two_parts(tmp_path, tok_dir):
    src = write_inputs(tmp_path / "in")
    run_parts([src], tok_dir, tmp_path / "s", 2, split_on="blank-line", shard_tokens=20_000)
    return src, tmp_path / "s"


def test_missing_unfinished_and_duplicated_parts_are_named(two_parts, tok_dir):
    src, out = two_parts
    p0, p1 = out / "parts" / "part-00000-of-00002", out / "parts" / "part-00001-of-00002"
    saved = out / "saved"
    shutil.move(p1, saved)
    with pytest.raises(UserError, match=r"part-00001-of-00002: part 1 of 2 is missing.*--shard-index 1"):
        merge_parts(out)
    p1.mkdir()
    (p1 / ".progress.json").write_text("{}")
    with pytest.raises(UserError, match=r"part 1 of 2 did not finish"):
        merge_parts(out)
    shutil.rmtree(p1)
    shutil.copytree(p0, p1)  # a copy of part 0 posing as part 1
    with pytest.raises(UserError, match=r"part-00001-of-00002/index.json: field part.shard_index says part 0 of 2"):
        merge_parts(out)
    shutil.rmtree(p1)
    shutil.move(saved, p1)
    (out / "parts" / "part-00002-of-00002").mkdir()
    with pytest.raises(UserError, match=r"part-00002-of-00002: shard index 2 is out of range for --num-shards 2"):
        merge_parts(out)
    (out / "parts" / "part-00002-of-00002").rmdir()
    assert len(read_parts(out)) == 2


def test_inconsistent_parts_are_errors_naming_the_part_and_field(two_parts, tok_dir, tmp_path):
    from pocketgpt.tokenizer import train

    src, out = two_parts
    tokenize_part([src], tok_dir, out, num_shards=3, shard_index=0, split_on="blank-line", shard_tokens=20_000)
    with pytest.raises(UserError, match=r"inconsistent --num-shards between parts: part-00000-of-00002 is one of 2, "
                                        r"part-00000-of-00003 one of 3"):
        merge_parts(out)
    shutil.rmtree(out / "parts" / "part-00000-of-00003")
    # part 1 redone with another --shard-tokens
    tokenize_part([src], tok_dir, out, num_shards=2, shard_index=1, split_on="blank-line", shard_tokens=30_000,
                  overwrite=True)
    with pytest.raises(UserError, match=r"part-00001-of-00002: field dataset.shard_tokens is 30000, but "
                                        r"part-00000-of-00002 has 20000"):
        merge_parts(out)
    other = tmp_path / "other-tok"
    train(make_docs(9, 100), 300, progress=False).save(other)
    tokenize_part([src], other, out, num_shards=2, shard_index=1, split_on="blank-line", shard_tokens=20_000,
                  overwrite=True)
    with pytest.raises(UserError, match=r"part-00001-of-00002: field dataset.tokenizer_fingerprint is"):
        merge_parts(out)
    # rerunning a part over one made with another tokenizer is refused without --overwrite
    with pytest.raises(UserError, match="another tokenizer"):
        tokenize_part([src], tok_dir, out, num_shards=2, shard_index=1, split_on="blank-line", shard_tokens=20_000)
    with pytest.raises(UserError, match="no parts"):
        merge_parts(tmp_path / "nothing")


def test_merge_refuses_to_replace_another_dataset(two_parts, tok_dir):
    src, out = two_parts
    tokenize_to_shards(["a different", "dataset", "here"], tok_dir, out / "elsewhere", val_fraction=0.34)
    for f in (out / "elsewhere").iterdir():
        shutil.move(f, out / f.name)
    with pytest.raises(UserError, match="other settings than its parts"):
        merge_parts(out)
    index = merge_parts(out, overwrite=True, remove_parts=True)
    assert index["parts"]["count"] == 2 and not (out / "parts").exists()
    assert read_shard_index(out)["splits"] == index["splits"]
