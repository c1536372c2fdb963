"""SFT end to end on tiny data: masked loss falls, the model learns to stop, resume works."""

from __future__ import annotations

import json

import pytest
import torch

from pocketgpt.errors import UserError

QA = [("Who are you?", "I am pocketgpt, a small model."),
      ("What is the capital of France?", "The capital of France is Paris."),
      ("What is the capital of Spain?", "The capital of Spain is Madrid."),
      ("Hello!", "Hello! How can I help?")]
BASE = ["n_layer=2", "n_embd=48", "n_head=4", "n_kv_head=2", "block_size=64", "batch_size=4", "dtype=float32",
        "max_minutes=0", "log_every=1", "eval_batches=2", "eval_every=1000"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread is faster, and with 2 shared cores oversubscribed OpenMP
    threads spin (measured: 17 ms vs 1 s per step under load)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _write_chats(path, pairs, repeat=1):
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for q, a in pairs] * repeat
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def greedy(model, ids, max_new, stop):
    """Naive greedy decoding (no cache): an independent reference for generation."""
    ids = list(ids)
    out = []
    with torch.no_grad():
        for _ in range(max_new):
            logits, _ = model(torch.tensor([ids[-model.config.block_size:]]))
            nxt = int(logits[0, -1].argmax())
            out.append(nxt)
            ids.append(nxt)
            if nxt in stop:
                break
    return out


@pytest.fixture(scope="module")
def base_run(tiny_data, tmp_path_factory):
    from pocketgpt.train.config import build_config
    from pocketgpt.train.pretrain import run_pretraining

    shards, tok = tiny_data
    out = tmp_path_factory.mktemp("sft") / "base"
    cfg = build_config("cpu-tiny", overrides=BASE + ["max_steps=20"])
    run_pretraining(cfg, shards, out, tokenizer_dir=tok, progress=False)
    return out


def _masked_loss(model, tok, pairs):
    from pocketgpt.chat.batches import encode_conversations
    from pocketgpt.chat.data import Conversation
    from pocketgpt.train.sft import make_sft_eval

    convs = [Conversation([{"role": "user", "content": q}, {"role": "assistant", "content": a}]) for q, a in pairs]
    ex, _ = encode_conversations(convs, tok, model.config.block_size)
    with torch.no_grad():
        return make_sft_eval(ex, 4, model.config.block_size, tok.token_byte_lengths(), 4)(model)["val_loss"]


def test_sft_lowers_masked_loss_and_teaches_end(base_run, tmp_path):
    from pocketgpt.chat.format import render_for_completion, stop_ids
    from pocketgpt.train import load_checkpoint
    from pocketgpt.train.sft import is_assistant_checkpoint, run_sft

    data = _write_chats(tmp_path / "chat.jsonl", QA)
    val = _write_chats(tmp_path / "val.jsonl", QA[:2])
    out = tmp_path / "sft"
    res = run_sft({"overrides": ["lr=3e-3", "eval_every=1000", "max_steps=120"]}, [data], out, base=base_run,
                  val_paths=[val], progress=False)
    assert res.status == "done" and res.step == 120
    base_model, tok, _ = load_checkpoint(base_run)
    model, tok2, info = load_checkpoint(out)
    assert tok2.fingerprint == tok.fingerprint
    before, after = _masked_loss(base_model, tok, QA), _masked_loss(model, tok, QA)
    assert after < 0.5 * before, (before, after)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train_loss = [r["loss"] for r in rows if "loss" in r]
    assert train_loss[-1] < 0.5 * train_loss[0]
    assert rows[-1]["val_loss"] == pytest.approx(_masked_loss(model, tok, QA[:2]), rel=1e-4)
    # greedy generation now stops by itself with <|end|> on every training prompt...
    end = tok.special_tokens["<|end|>"]
    for q, a in QA:
        prompt = render_for_completion([{"role": "user", "content": q}], tok)
        reply = greedy(model, prompt, 40, set(stop_ids(tok)))
        assert reply[-1] == end, (q, tok.decode(reply))
        assert tok.decode(reply[:-1]) == a
    # ...which the base model never did
    prompt = render_for_completion([{"role": "user", "content": QA[0][0]}], tok)
    assert end not in greedy(base_model, prompt, 40, {end})
    ok, fmt = is_assistant_checkpoint(out)
    assert ok and fmt["name"] == "pocketgpt-chat-v1"
    assert is_assistant_checkpoint(base_run) == (False, None)
    cfg = json.loads((info["path"] / "config.json").read_text())
    assert cfg["sft"]["base"]["path"].startswith(str(base_run)) and cfg["train"]["lr"] == 3e-3


def test_default_budget_is_a_fraction_of_pretraining_and_resume_continues(base_run, tmp_path):
    from pocketgpt.train.sft import run_sft

    data = _write_chats(tmp_path / "chat.jsonl", QA, repeat=3)
    out = tmp_path / "sft"
    res = run_sft({"overrides": ["eval_every=2"]}, [data], out, base=base_run, compute_frac=0.2, progress=False)
    base_tokens = 20 * 4 * 64
    cfg = json.loads(next((out / "checkpoints").glob("step_*/config.json")).read_text())
    assert cfg["train"]["max_tokens"] == round(0.2 * base_tokens)
    assert res.tokens >= 0.2 * base_tokens and res.step == 4  # 1024 tokens / (4 x 64) per step
    with pytest.raises(UserError, match="already holds checkpoints"):
        run_sft({}, [data], out, base=base_run, progress=False)
    # resume with a larger budget: continues from step 4, base taken from the run's record
    res2 = run_sft({"overrides": ["max_tokens=2048"]}, [data], out, resume=True, progress=False)
    assert res2.step == 8
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 8


def test_bad_inputs(base_run, tmp_path):
    from pocketgpt.train.sft import run_sft

    data = _write_chats(tmp_path / "chat.jsonl", QA)
    with pytest.raises(UserError, match="SFT keeps the base model's shape"):
        run_sft({"overrides": ["n_layer=3"]}, [data], tmp_path / "o1", base=base_run, progress=False)
    with pytest.raises(UserError, match="no such checkpoint"):
        run_sft({}, [data], tmp_path / "o2", base=tmp_path / "nope", progress=False)
    with pytest.raises(UserError, match="--resume: .* has no checkpoints"):
        run_sft({}, [data], tmp_path / "o3", base=base_run, resume=True, progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1: ends with a user message"):
        run_sft({}, [bad], tmp_path / "o4", base=base_run, progress=False)


def test_cli_sft_then_chat_answers_from_training(base_run, tmp_path, capsys):
    """`pocketgpt sft` then `pocketgpt chat --prompt` through the real generation engine."""
    from pocketgpt.cli import main

    data = _write_chats(tmp_path / "chat.jsonl", QA)
    out = tmp_path / "sft"
    rc = main(["sft", "--base", str(base_run), "--data", str(data), "--val", str(data), "--out", str(out),
               "--max-steps", "120", "--no-progress", "lr=3e-3", "eval_every=1000"])
    printed = capsys.readouterr().out
    assert rc == 0 and "done at step 120" in printed and "val loss" in printed
    assert main(["chat", "--checkpoint", str(out), "--prompt", QA[1][0], "--temperature", "0"]) == 0
    got = capsys.readouterr()
    assert got.out == QA[1][1] + "\n" and "base model" not in got.err
    assert main(["sft", "--data", str(data), "--out", str(tmp_path / "x")]) == 2
    assert "--base: required" in capsys.readouterr().err


@pytest.mark.ddp
def test_torchrun_two_processes(base_run, tmp_path):
    """SFT under torchrun (2 gloo processes): ranks split the conversations, eval all-reduces."""
    import os
    import subprocess
    import sys

    data = _write_chats(tmp_path / "chat.jsonl", QA, repeat=2)
    out = tmp_path / "sft"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "pocketgpt",
           "sft", "--base", str(base_run), "--data", str(data), "--val", str(data), "--out", str(out),
           "--max-steps", "4", "--no-progress", "eval_every=2", "batch_size=2"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "done at step 4" in r.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "val_loss" in r]
    assert [r["step"] for r in evals] == [2, 4]
    state = json.loads(next((out / "checkpoints").glob("step_000004/trainer_state.json")).read_text())
    assert state["world_size"] == 2 and len(state["data"]) == 2
