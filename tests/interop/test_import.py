"""``import_hf``: Hugging Face GPT-2 directories and our own exports -> pocketgpt checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from interop_testlib import FAMILIES, TEXTS, gpt2_byte_order_tokenizer, greedy, make_hf_gpt2, make_run

from pocketgpt.chat.format import SPECIALS, check_tokenizer, render_for_completion
from pocketgpt.interop import export_hf, import_hf
from pocketgpt.train.checkpoint import load_checkpoint, read_checkpoint

transformers = pytest.importorskip("transformers")

CHAT = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")


@pytest.mark.parametrize("weights,tokenizer", [("safetensors", "gpt2files"), ("bin-legacy", "hf-json"),
                                               ("sharded", "gpt2files")])
def test_import_gpt2_matches_transformers(tmp_path, gpt2_tok, weights, tokenizer):
    tok = gpt2_byte_order_tokenizer(gpt2_tok)
    hf = make_hf_gpt2(tmp_path / "hf", tok, weights=weights, tokenizer=tokenizer)
    summary = import_hf(tmp_path / "hf", tmp_path / "run")
    assert summary["added_tokens"] == list(CHAT) and summary["vocab_size"] == 304
    model, ours, info = load_checkpoint(tmp_path / "run")
    assert info["step"] == 0 and model.config.arch == "gpt2"
    # logits over GPT-2's own vocabulary are unchanged by the four added rows
    idx = torch.randint(0, 300, (2, 64), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, (got, _) = hf(idx).logits, model(idx)
    assert (got[..., :300] - want).abs().max().item() < 1e-4
    # the tokenizer: same ids as transformers' GPT-2 tokenizer on the same files
    ref = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in TEXTS:
        assert ours.encode(text) == ref(text)["input_ids"]
        assert ours.decode(ours.encode(text)) == text
    assert ours.ranks == tok.ranks and ours.eot_id == tok.eot_id == 299
    # chat tokens: next ids, rows start at the mean embedding of the original vocabulary
    assert [ours.special_tokens[s] for s in CHAT] == [300, 301, 302, 303]
    wte = model.wte.weight.detach()
    assert torch.allclose(wte[300:], wte[:300].mean(0).expand(4, -1))
    check_tokenizer(ours)
    prompt = render_for_completion([{"role": "user", "content": "Hello!"}], ours)
    assert len(greedy(model, prompt, 3, [])) == len(prompt) + 3
    config = json.loads((info["path"] / "config.json").read_text())
    assert config["imported_from"]["model_type"] == "gpt2" and "assistant" not in config


def test_import_without_chat_tokens(tmp_path, gpt2_tok):
    make_hf_gpt2(tmp_path / "hf", gpt2_tok)
    summary = import_hf(tmp_path / "hf", tmp_path / "run", chat_tokens=False)
    model, tok, _ = load_checkpoint(tmp_path / "run")
    assert summary["added_tokens"] == [] and model.config.vocab_size == 300
    assert tok.special_tokens == {"<|endoftext|>": 299} and tok.fingerprint == gpt2_tok.fingerprint


def test_added_tokens_use_padding_rows(tmp_path, gpt2_tok):
    """A model padded past its tokenizer (here 320 rows for 300 ids) keeps its size."""
    make_hf_gpt2(tmp_path / "hf", gpt2_tok, vocab_size=320)
    summary = import_hf(tmp_path / "hf", tmp_path / "run")
    model, tok, _ = load_checkpoint(tmp_path / "run")
    assert model.config.vocab_size == 320 and summary["vocab_size"] == 320 and tok.vocab_size == 304


@pytest.mark.parametrize("family", list(FAMILIES))
def test_round_trip(tmp_path, chat_tok, family):
    """checkpoint -> export -> import: identical weights, config, tokenizer and chat status;
    exporting the import again writes identical weight and tokenizer files."""
    run, model = make_run(tmp_path, family, chat_tok)
    export_hf(run, tmp_path / "hf")
    summary = import_hf(tmp_path / "hf", tmp_path / "back")
    assert summary["added_tokens"] == [] and summary["tokenizer"] == "tokenizer.json"
    orig, back = read_checkpoint(next((run / "checkpoints").iterdir())), read_checkpoint(summary["path"])
    assert back["config"]["model"] == orig["config"]["model"]
    assert back["config"]["assistant"] is True and back["config"]["chat_format"] == orig["config"]["chat_format"]
    assert back["trainer_state"]["step"] == 7 and back["trainer_state"]["tokens"] == 12345
    assert summary["path"].name == "step_000007"
    assert orig["model_state"].keys() == back["model_state"].keys()
    for k, v in orig["model_state"].items():
        assert torch.equal(v, back["model_state"][k]), k
    _, tok, _ = load_checkpoint(tmp_path / "back")
    assert tok.fingerprint == chat_tok.fingerprint
    export_hf(tmp_path / "back", tmp_path / "hf2")
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        assert (tmp_path / "hf" / name).read_bytes() == (tmp_path / "hf2" / name).read_bytes(), name


def test_imported_gpt2_exports_back_to_transformers(tmp_path, gpt2_tok):
    hf = make_hf_gpt2(tmp_path / "hf", gpt2_tok)
    import_hf(tmp_path / "hf", tmp_path / "run")
    export_hf(tmp_path / "run", tmp_path / "out")
    again = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    idx = torch.randint(0, 300, (1, 32))
    with torch.no_grad():
        assert (again(idx).logits[..., :300] - hf(idx).logits).abs().max().item() < 1e-4
    # and its chat template works, with the tokens the import added
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "out")
    _, tok, _ = load_checkpoint(tmp_path / "run")
    msgs = [{"role": "user", "content": "Hi there"}]
    got = hf_tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)
    assert list(got) == render_for_completion(msgs, tok)


def test_sft_runs_on_imported_gpt2(tmp_path, gpt2_tok):
    """The imported checkpoint is a valid SFT base (tokenizer with the chat specials, no token count)."""
    from pocketgpt.train.sft import run_sft

    make_hf_gpt2(tmp_path / "hf", gpt2_tok)
    import_hf(tmp_path / "hf", tmp_path / "base")
    lines = [json.dumps({"messages": [{"role": "user", "content": f"What is {i} plus one?"},
                                      {"role": "assistant", "content": f"It is {i + 1}."}]}) for i in range(8)]
    (tmp_path / "chat.jsonl").write_text("\n".join(lines) + "\n")
    result = run_sft({"overrides": ["max_steps=2", "batch_size=2", "dtype=float32", "device=cpu"]},
                     [tmp_path / "chat.jsonl"], tmp_path / "sft", base=tmp_path / "base", progress=False)
    model, tok, info = load_checkpoint(tmp_path / "sft")
    assert info["step"] == 2 and set(SPECIALS) <= set(tok.special_tokens) and result is not None


def test_imported_gpt2_samples_chats_and_serves(tmp_path, gpt2_tok, capsys):
    """What a user does next with GPT-2 weights: the sample, chat and serve front ends accept the import."""
    from fastapi.testclient import TestClient

    from pocketgpt.cli import main
    from pocketgpt.serve.app import create_app

    make_hf_gpt2(tmp_path / "hf", gpt2_tok)
    assert main(["import", "--hf", str(tmp_path / "hf"), "--out", str(tmp_path / "run")]) == 0
    run = str(tmp_path / "run")
    assert main(["sample", "--checkpoint", run, "--prompt", "The capital", "--max-new-tokens", "4",
                 "--temperature", "0"]) == 0
    assert main(["chat", "--checkpoint", run, "--prompt", "Hello", "--max-new-tokens", "4", "--temperature", "0"]) == 0
    capsys.readouterr()
    with TestClient(create_app([run])) as client:
        r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}],
                                                       "max_tokens": 4, "temperature": 0})
    assert r.status_code == 200, r.text
    assert r.json()["usage"]["completion_tokens"] >= 1
