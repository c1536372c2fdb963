"""Every CLI subcommand against its bad inputs, from one table (listed in docs/errors.md).

For every case: a non-zero exit, one paragraph on stderr that names the problem (the
needles), no Python traceback, and nothing written: no output left behind under the
case's own directory, and no input file (the shared fixtures) created, changed or removed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from pocketgpt.cli import main


@pytest.fixture(scope="module")
def fx(tiny_data, base_run, tmp_path_factory):
    """Good inputs (shards, tokenizer, a checkpoint) and a set of bad files, all read-only by contract."""
    shards, tok, docs = tiny_data
    d = tmp_path_factory.mktemp("bad_inputs")
    (d / "empty.txt").write_bytes(b"")
    (d / "empty.jsonl").write_bytes(b"")
    (d / "binary.bin").write_bytes(bytes(range(256)) * 8 + b"\xff\xfe\x00\x00PK\x03\x04")
    (d / "binary.jsonl").write_bytes((d / "binary.bin").read_bytes())
    good = docs.read_text().splitlines()
    (d / "truncated.jsonl").write_text("\n".join(good[:3]) + "\n" + good[3][: len(good[3]) // 2])
    (d / "text_int.jsonl").write_text('{"text": 5}\n')
    chat = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}
    (d / "chat_ok.jsonl").write_text((json.dumps(chat) + "\n") * 4)
    (d / "chat_truncated.jsonl").write_text(json.dumps(chat) + "\n" + json.dumps(chat)[:40])
    (d / "chat_content_int.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": 7},
                                                                       {"role": "assistant", "content": "x"}]}) + "\n")
    (d / "chat_messages_str.jsonl").write_text(json.dumps({"messages": "hello"}) + "\n")
    (d / "chat_bad_role.jsonl").write_text(json.dumps({"messages": [{"role": "wizard", "content": "x"},
                                                                    {"role": "assistant", "content": "y"}]}) + "\n")
    # chat sets by shape: parquet in neither shape, a row without messages, an empty
    # conversation, a tool turn
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"prompt": "Hi", "completion": "Hello"}]), d / "chat_neither.parquet")
    (d / "chat_no_messages.jsonl").write_text(json.dumps(chat) + "\n" + json.dumps({"text": "Hi"}) + "\n")
    pq.write_table(pa.Table.from_pylist([chat, {"messages": []}]), d / "chat_empty_conv.parquet")
    (d / "chat_tool_role.jsonl").write_text(json.dumps({"messages": [
        {"role": "user", "content": "2+2?"}, {"role": "tool", "content": "4"},
        {"role": "assistant", "content": "4."}]}) + "\n")
    (d / "countries_list.json").write_text('["France", "Paris"]')
    (d / "countries_num.json").write_text('{"France": 3}')
    (d / "fewshot_types.jsonl").write_text('{"input": 1, "output": [2]}\n')
    (d / "toml_types.toml").write_text('lr = "fast"\n')
    (d / "toml_bin.toml").write_bytes(b"\xff\xfe\x00garbage")
    # a run whose only checkpoint has truncated weights (checksum fails: nothing valid to load)
    ck = d / "ckpt_truncated"
    newest = sorted((base_run / "checkpoints").glob("step_*"))[-1]
    shutil.copytree(newest, ck / "checkpoints" / newest.name)
    w = ck / "checkpoints" / newest.name / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    # a checkpoint directory that is really a text file, and an empty run directory
    (d / "ckpt_is_file").write_text("not a checkpoint")
    (d / "empty_dir").mkdir()
    # shards with a truncated index, and shards with one shard replaced by binary junk
    sh = d / "shards_trunc_index"
    shutil.copytree(shards, sh)
    (sh / "index.json").write_text((shards / "index.json").read_text()[:50])
    sj = d / "shards_junk"
    shutil.copytree(shards, sj)
    first = sorted(sj.glob("train_*.npy"))[0]
    first.write_bytes(b"\x93NUMPY junk" + bytes(100))
    # tokenizer directory with a corrupted vocabulary file
    bt = d / "tok_bad"
    shutil.copytree(tok, bt)
    for f in bt.iterdir():
        if f.is_file():
            f.write_bytes(b"\x00\xff junk")
    # an HF directory whose config.json is binary
    hf = d / "hf_bad"
    hf.mkdir()
    (hf / "config.json").write_bytes(b"\x00\x01\x02binary")
    # an existing, non-empty export target
    (d / "taken").mkdir()
    (d / "taken" / "keep.txt").write_text("mine")
    return {"d": d, "shards": shards, "tok": tok, "docs": docs, "ckpt": base_run}


def _snapshot(*roots: Path) -> dict:
    out = {}
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                p = Path(dirpath) / name
                st = p.stat()
                out[str(p)] = (st.st_size, st.st_mtime_ns)
    return out


D = "{d}"  # placeholders filled from the fixture; O is the case's own output directory
O = "{out}"

# (case id, argv, text the message must contain); ids name the command and the bad input.
CASES = [
    # data tokenize
    ("tokenize/missing-input", ["data", "tokenize", "--input", D + "/nope.jsonl", "--tokenizer", "{tok}",
                                "--out", O + "/s", "--no-progress"], ["nope.jsonl", "no such file"]),
    ("tokenize/empty-input", ["data", "tokenize", "--input", D + "/empty.jsonl", "--tokenizer", "{tok}",
                              "--out", O + "/s", "--workers", "1", "--no-progress"], ["no documents"]),
    ("tokenize/binary-input", ["data", "tokenize", "--input", D + "/binary.bin", "--tokenizer", "{tok}",
                               "--out", O + "/s", "--workers", "1", "--no-progress"], ["train split is empty"]),
    ("tokenize/binary-jsonl", ["data", "tokenize", "--input", D + "/binary.jsonl", "--tokenizer", "{tok}",
                               "--out", O + "/s", "--workers", "1", "--no-progress"], ["binary.jsonl:1", "malformed JSON"]),
    ("tokenize/truncated-jsonl", ["data", "tokenize", "--input", D + "/truncated.jsonl", "--tokenizer", "{tok}",
                                  "--out", O + "/s", "--workers", "1", "--no-progress"], ["truncated.jsonl:4", "malformed JSON"]),
    ("tokenize/text-not-string", ["data", "tokenize", "--input", D + "/text_int.jsonl", "--tokenizer", "{tok}",
                                  "--out", O + "/s", "--workers", "1", "--no-progress"], ["text_int.jsonl:1"]),
    ("tokenize/missing-tokenizer", ["data", "tokenize", "--input", "{docs}", "--tokenizer", D + "/nope_tok",
                                    "--out", O + "/s", "--no-progress"], ["nope_tok"]),
    ("tokenize/corrupt-tokenizer", ["data", "tokenize", "--input", "{docs}", "--tokenizer", D + "/tok_bad",
                                    "--out", O + "/s", "--no-progress"], ["tok_bad"]),
    ("tokenize/val-fraction-out-of-range", ["data", "tokenize", "--input", "{docs}", "--tokenizer", "{tok}",
                                            "--out", O + "/s", "--val-fraction", "1.5", "--no-progress"], ["--val-fraction"]),
    ("tokenize/shard-tokens-zero", ["data", "tokenize", "--input", "{docs}", "--tokenizer", "{tok}",
                                    "--out", O + "/s", "--shard-tokens", "0", "--no-progress"], ["--shard-tokens"]),
    ("tokenize/workers-negative", ["data", "tokenize", "--input", "{docs}", "--tokenizer", "{tok}",
                                   "--out", O + "/s", "--workers", "-2", "--no-progress"], ["--workers"]),
    # data info
    ("data-info/missing-dir", ["data", "info", D + "/nope"], ["nope"]),
    ("data-info/empty-dir", ["data", "info", D + "/empty_dir"], ["empty_dir", "index.json"]),
    ("data-info/truncated-index", ["data", "info", D + "/shards_trunc_index"], ["index.json"]),
    # data default / default-chat
    ("data-default/unknown-preset", ["data", "default", "--out", O + "/c", "--preset", "huge"], ["preset 'huge'", "speedrun, balanced, general"]),
    ("data-default/share-out-of-range", ["data", "default", "--out", O + "/c", "--country-share", "1.7"],
     ["country_share=1.7", "[0, 1)"]),
    ("default-chat/phrasings-negative", ["data", "default-chat", "--out", O + "/c", "--capital-phrasings", "-1"],
     ["--capital-phrasings"]),
    # tokenizer
    ("tokenizer-train/vocab-too-small", ["tokenizer", "train", "--input", "{docs}", "--vocab-size", "10",
                                         "--out", O + "/t"], ["vocab_size", "261", "got 10"]),
    ("tokenizer-train/missing-input", ["tokenizer", "train", "--input", D + "/nope.txt", "--vocab-size", "300",
                                       "--out", O + "/t"], ["nope.txt"]),
    ("tokenizer-train/empty-input", ["tokenizer", "train", "--input", D + "/empty.txt", "--vocab-size", "300",
                                     "--out", O + "/t"], ["corpus is empty"]),
    ("tokenizer-encode/missing-tokenizer", ["tokenizer", "encode", "--tokenizer", D + "/nope_tok"], ["nope_tok"]),
    ("tokenizer-stats/corrupt-tokenizer", ["tokenizer", "stats", "--tokenizer", D + "/tok_bad", "--input", "{docs}"],
     ["tok_bad"]),
    # pretrain
    ("pretrain/missing-data", ["pretrain", "--data", D + "/nope", "--out", O + "/r", "max_steps=1"], ["nope"]),
    ("pretrain/empty-data-dir", ["pretrain", "--data", D + "/empty_dir", "--out", O + "/r", "max_steps=1"],
     ["empty_dir"]),
    ("pretrain/truncated-index", ["pretrain", "--data", D + "/shards_trunc_index", "--out", O + "/r",
                                  "max_steps=1"], ["index.json"]),
    ("pretrain/junk-shard", ["pretrain", "--data", D + "/shards_junk", "--tokenizer", "{tok}", "--out", O + "/r",
                             "max_steps=1", "n_layer=1", "n_embd=16", "n_head=2", "n_kv_head=1", "block_size=16"],
     ["train_000000.npy"]),
    ("pretrain/lr-negative", ["pretrain", "--data", "{shards}", "--tokenizer", "{tok}", "--out", O + "/r",
                              "max_steps=1", "lr=-1"], ["lr", "must be >= 0"]),
    ("pretrain/toml-wrong-type", ["pretrain", "--data", "{shards}", "--tokenizer", "{tok}", "--out", O + "/r",
                                  "--config", D + "/toml_types.toml", "max_steps=1"], ["config lr", "expected float"]),
    ("pretrain/toml-binary", ["pretrain", "--data", "{shards}", "--tokenizer", "{tok}", "--out", O + "/r",
                              "--config", D + "/toml_bin.toml", "max_steps=1"], ["toml_bin.toml"]),
    ("pretrain/mps-absent", ["pretrain", "--data", "{shards}", "--tokenizer", "{tok}", "--out", O + "/r",
                             "--device", "mps", "max_steps=1"], ["device 'mps'", "is_available() is False"]),
    ("pretrain/resume-and-init-from", ["pretrain", "--data", "{shards}", "--tokenizer", "{tok}", "--out", O + "/r",
                                       "--resume", "--init-from", "{ckpt}", "max_steps=1"], ["--init-from", "conflicts with --resume"]),
    # sft
    ("sft/missing-data", ["sft", "--base", "{ckpt}", "--data", D + "/nope.jsonl", "--out", O + "/s", "--no-progress"], ["nope.jsonl"]),
    ("sft/empty-data", ["sft", "--base", "{ckpt}", "--data", D + "/empty.jsonl", "--out", O + "/s", "--no-progress"], ["empty.jsonl"]),
    ("sft/binary-data", ["sft", "--base", "{ckpt}", "--data", D + "/binary.bin", "--out", O + "/s", "--no-progress"], ["binary.bin"]),
    ("sft/truncated-jsonl", ["sft", "--base", "{ckpt}", "--data", D + "/chat_truncated.jsonl", "--out", O + "/s", "--no-progress"],
     ["chat_truncated.jsonl:2"]),
    ("sft/content-not-string", ["sft", "--base", "{ckpt}", "--data", D + "/chat_content_int.jsonl",
                                "--out", O + "/s", "--no-progress"], ["chat_content_int.jsonl:1", "content"]),
    ("sft/messages-not-list", ["sft", "--base", "{ckpt}", "--data", D + "/chat_messages_str.jsonl",
                               "--out", O + "/s", "--no-progress"], ["chat_messages_str.jsonl:1", "messages"]),
    ("sft/unknown-role", ["sft", "--base", "{ckpt}", "--data", D + "/chat_bad_role.jsonl", "--out", O + "/s", "--no-progress"],
     ["chat_bad_role.jsonl:1", "wizard"]),
    ("sft/parquet-neither-shape", ["sft", "--base", "{ckpt}", "--data", D + "/chat_neither.parquet", "--out", O + "/s",
                                   "--no-progress"], ["chat_neither.parquet", "'prompt', 'completion'", "message_id"]),
    ("sft/row-without-messages", ["sft", "--base", "{ckpt}", "--data", D + "/chat_no_messages.jsonl", "--out",
                                  O + "/s", "--no-progress"], ["chat_no_messages.jsonl:2", "'messages'", "'text'"]),
    ("sft/empty-conversation", ["sft", "--base", "{ckpt}", "--data", D + "/chat_empty_conv.parquet", "--out",
                                O + "/s", "--no-progress"], ["chat_empty_conv.parquet: row 2", "non-empty"]),
    ("sft/tool-role", ["sft", "--base", "{ckpt}", "--data", D + "/chat_tool_role.jsonl", "--out", O + "/s",
                       "--no-progress"], ["chat_tool_role.jsonl:1", "'tool'", "--drop-unknown-roles"]),
    ("sft/field-not-found", ["sft", "--base", "{ckpt}", "--data", D + "/chat_ok.jsonl", "--field", "conversation",
                             "--out", O + "/s", "--no-progress"], ["chat_ok.jsonl", "'conversation'", "'messages'"]),
    ("sft/all-rows-bad-with-skip-bad", ["sft", "--base", "{ckpt}", "--data", D + "/chat_content_int.jsonl",
                                        "--skip-bad", "--out", O + "/s", "--no-progress"],
     ["chat_content_int.jsonl", "all 1 rows were bad"]),
    ("sft/truncated-base-checkpoint", ["sft", "--base", D + "/ckpt_truncated", "--data", D + "/chat_ok.jsonl",
                                       "--out", O + "/s", "--no-progress"], ["ckpt_truncated", "no valid checkpoint"]),
    ("sft/compute-frac-out-of-range", ["sft", "--base", "{ckpt}", "--data", D + "/chat_ok.jsonl", "--out", O + "/s",
                                       "--compute-frac", "0"], ["--compute-frac"]),
    ("sft/val-fraction-out-of-range", ["sft", "--base", "{ckpt}", "--data", D + "/chat_ok.jsonl", "--out", O + "/s",
                                       "--val-fraction", "2"], ["--val-fraction"]),
    ("sft/epochs-and-max-steps", ["sft", "--base", "{ckpt}", "--data", D + "/chat_ok.jsonl", "--out", O + "/s",
                                  "--epochs", "1", "--max-steps", "3"], ["--epochs", "--max-steps"]),
    ("sft/mps-absent", ["sft", "--base", "{ckpt}", "--data", D + "/chat_ok.jsonl", "--out", O + "/s", "--device", "mps",
                        "--no-progress"], ["device 'mps'", "is_available() is False"]),
    # sample
    ("sample/missing-checkpoint", ["sample", "--checkpoint", D + "/nope", "--prompt", "a"], ["nope"]),
    ("sample/checkpoint-is-a-file", ["sample", "--checkpoint", D + "/ckpt_is_file", "--prompt", "a"],
     ["ckpt_is_file"]),
    ("sample/truncated-checkpoint", ["sample", "--checkpoint", D + "/ckpt_truncated", "--prompt", "a"],
     ["no valid checkpoint"]),
    ("sample/temperature-negative", ["sample", "--checkpoint", "{ckpt}", "--prompt", "a", "--temperature", "-1"],
     ["temperature"]),
    ("sample/top-p-out-of-range", ["sample", "--checkpoint", "{ckpt}", "--prompt", "a", "--top-p", "1.5"],
     ["top_p"]),
    ("sample/max-new-tokens-negative", ["sample", "--checkpoint", "{ckpt}", "--prompt", "a",
                                        "--max-new-tokens", "-5"], ["max_new_tokens", "-5"]),
    ("sample/prompt-and-prompt-file", ["sample", "--checkpoint", "{ckpt}", "--prompt", "a", "--prompt-file",
                                       "{docs}"], ["--prompt-file", "--prompt"]),
    ("sample/binary-prompt-file", ["sample", "--checkpoint", "{ckpt}", "--prompt-file", D + "/binary.bin"],
     ["binary.bin"]),
    ("sample/few-shot-binary", ["sample", "--checkpoint", "{ckpt}", "--prompt", "a", "--few-shot",
                                D + "/binary.jsonl", "--template", "Q: {{input}}\nA: {{output}}"], ["binary.jsonl"]),
    ("sample/mps-absent", ["sample", "--checkpoint", "{ckpt}", "--prompt", "a", "--device", "mps"],
     ["device 'mps'", "is_available() is False"]),
    # chat
    ("chat/empty-run-dir", ["chat", "--checkpoint", D + "/empty_dir", "--prompt", "hi"], ["empty_dir"]),
    ("chat/temperature-negative", ["chat", "--checkpoint", "{ckpt}", "--prompt", "hi", "--temperature", "-1"],
     ["temperature"]),
    ("chat/top-k-negative", ["chat", "--checkpoint", "{ckpt}", "--prompt", "hi", "--top-k", "-3"], ["top"]),
    ("chat/mps-absent", ["chat", "--checkpoint", "{ckpt}", "--prompt", "hi", "--device", "mps"],
     ["device 'mps'", "is_available() is False"]),
    # serve (each fails before binding a port)
    ("serve/missing-checkpoint", ["serve", "--checkpoint", D + "/nope"], ["nope"]),
    ("serve/port-out-of-range", ["serve", "--checkpoint", "{ckpt}", "--port", "70000"], ["--port"]),
    ("serve/max-batch-zero", ["serve", "--checkpoint", "{ckpt}", "--max-batch", "0"], ["--max-batch"]),
    ("serve/mps-absent", ["serve", "--checkpoint", "{ckpt}", "--device", "mps"], ["device 'mps'", "is_available() is False"]),
    # export / import
    ("export/missing-checkpoint", ["export", "--checkpoint", D + "/nope", "--out", O + "/hf"], ["nope"]),
    ("export/out-exists", ["export", "--checkpoint", "{ckpt}", "--out", D + "/taken"], ["taken", "--force"]),
    ("import/empty-dir", ["import", "--hf", D + "/empty_dir", "--out", O + "/run"], ["empty_dir"]),
    ("import/binary-config", ["import", "--hf", D + "/hf_bad", "--out", O + "/run"], ["config.json"]),
    # eval / report / speedrun
    ("eval/unknown-task", ["eval", "--checkpoint", "{ckpt}", "--tasks", "telepathy"], ["telepathy"]),
    ("eval/countries-wrong-type", ["eval", "--checkpoint", "{ckpt}", "--tasks", "capitals", "--countries",
                                   D + "/countries_list.json"], ["countries_list.json"]),
    ("eval/countries-value-type", ["eval", "--checkpoint", "{ckpt}", "--tasks", "capitals", "--countries",
                                   D + "/countries_num.json"], ["countries_num.json"]),
    ("eval/text-missing", ["eval", "--checkpoint", "{ckpt}", "--tasks", "compression", "--text", D + "/nope.txt"],
     ["nope.txt"]),
    ("eval/limit-negative", ["eval", "--checkpoint", "{ckpt}", "--tasks", "capitals", "--limit", "-1"],
     ["--limit"]),
    ("eval/ngram-order-out-of-range", ["eval", "--checkpoint", "{ckpt}", "--tasks", "ngram", "--ngram-order", "9"],
     ["--ngram-order", "9"]),
    ("eval/assistant-and-base", ["eval", "--checkpoint", "{ckpt}", "--assistant", "--base"], ["--base"]),
    ("eval/mps-absent", ["eval", "--checkpoint", "{ckpt}", "--tasks", "bpb", "--device", "mps"],
     ["device 'mps'", "is_available() is False"]),
    ("report/missing-run", ["report", D + "/nope"], ["nope"]),
    ("report/empty-run-dir", ["report", D + "/empty_dir"], ["empty_dir"]),
    ("speedrun/unknown-preset", ["speedrun", "--preset", "warp", "--out", O + "/sr"], ["warp"]),
    ("speedrun/minutes-negative", ["speedrun", "--preset", "test", "--minutes", "-1", "--out", O + "/sr"],
     ["--minutes", "-1"]),
]


@pytest.mark.parametrize("case,argv,needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input(fx, tmp_path, capsys, monkeypatch, case, argv, needles):
    out = tmp_path / "out"
    subs = {"d": fx["d"], "out": out, "tok": fx["tok"], "docs": fx["docs"], "shards": fx["shards"],
            "ckpt": fx["ckpt"]}
    argv = [a.format(**{k: str(v) for k, v in subs.items()}) for a in argv]
    monkeypatch.setattr(sys, "stdin", io.StringIO("some text\n"))
    monkeypatch.setenv("POCKETGPT_CACHE", str(fx["d"] / "no_cache"))
    # the mps-absent cases: MPS absent even on a Mac (torch built with it), as on Linux CI
    monkeypatch.setattr("pocketgpt.train.distributed.mps_status", lambda: (False, True))
    inputs = [fx["d"], fx["tok"], fx["shards"], fx["ckpt"]]
    before = _snapshot(*inputs)
    try:
        code = main(argv)
    except SystemExit as e:  # argparse rejects the command line itself
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code not in (0, None), f"{case}: exit 0\n{err}"
    assert "Traceback" not in err, err
    assert err and "\n\n" not in err, f"{case}: not one paragraph:\n{err}"
    for n in needles:
        assert n in err, f"{case}: {n!r} not in message:\n{err}"
    assert not out.exists() or not any(out.rglob("*")), f"{case}: left {list(out.rglob('*'))}"
    assert _snapshot(*inputs) == before, f"{case}: an input file was created, changed or removed"
    print(f"\nCASE {case} | exit {code} | {err.splitlines()[-1]}")  # with -s: the rows of docs/errors.md


def test_every_case_is_in_docs_errors_md():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    missing = [c[0] for c in CASES if f"`{c[0]}`" not in doc]
    assert not missing, f"docs/errors.md lacks {missing}"
