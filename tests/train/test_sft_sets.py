"""``pocketgpt sft`` on a parquet file in the smol-smoltalk shape (written here with pyarrow)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from pocketgpt.cli import main


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on 2 shared cores: one thread is faster
    yield
    torch.set_num_threads(n)


def test_smoltalk_shaped_parquet_trains_through_the_cli(tiny_data, tmp_path, capsys):
    from pocketgpt.train.config import build_config
    from pocketgpt.train.pretrain import run_pretraining
    from pocketgpt.train.sft import is_assistant_checkpoint

    shards, tok = tiny_data
    base = tmp_path / "base"
    cfg = build_config("cpu-tiny", overrides=["n_layer=1", "n_embd=32", "n_head=2", "n_kv_head=1", "block_size=64",
                                              "batch_size=4", "dtype=float32", "max_steps=2", "eval_every=1000"])
    run_pretraining(cfg, shards, base, tokenizer_dir=tok, progress=False)
    # smol-smoltalk: columns messages (list of {content, role}) and source; a system turn on some rows
    rows = [{"messages": ([{"content": "Be brief.", "role": "system"}] if i % 3 == 0 else [])
             + [{"content": f"What is {i} plus one?", "role": "user"},
                {"content": f"It is {i + 1}.", "role": "assistant"}],
             "source": "smol-magpie-ultra-short"} for i in range(12)]
    data = tmp_path / "data" / "train-00000-of-00001.parquet"
    data.parent.mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:10]), data, row_group_size=4)
    val = tmp_path / "data" / "test-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows[10:]), val)
    out = tmp_path / "sft"
    code = main(["sft", "--base", str(base), "--data", str(data), "--val", str(val), "--out", str(out),
                 "--max-steps", "3", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "done at step 3" in capsys.readouterr().out
    assert is_assistant_checkpoint(out)[0]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in m for m in metrics)
