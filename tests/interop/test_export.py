"""``export_hf`` against transformers itself: logits, tokenizer ids, chat template, greedy generation."""

from __future__ import annotations

import json

import pytest
import torch
from interop_testlib import FAMILIES, TEXTS, greedy, make_run

from pocketgpt.chat.format import render, render_for_completion, render_text
from pocketgpt.errors import UserError
from pocketgpt.interop import export_hf

transformers = pytest.importorskip("transformers")

CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello! How are you?"}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! I am fine, thanks."},
     {"role": "user", "content": " Zürich  or 東京?\n\nthanks\t"}],
]


@pytest.fixture(scope="module", params=list(FAMILIES))
def exported(request, tmp_path_factory, chat_tok):
    """(family, our model, our tokenizer, export dir, HF model, HF tokenizer)."""
    root = tmp_path_factory.mktemp(f"export_{request.param}")
    run, model = make_run(root, request.param, chat_tok)
    summary = export_hf(run, root / "hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(root / "hf").eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(root / "hf")
    assert summary["step"] == 7 and summary["chat_template"]
    return request.param, model, chat_tok, root / "hf", hf, hf_tok


def test_architecture_and_files(exported):
    family, model, tok, d, hf, _ = exported
    want = {"gpt2": "GPT2LMHeadModel", "qwen3": "Qwen3ForCausalLM", "llama": "LlamaForCausalLM"}[family]
    assert type(hf).__name__ == want
    config = json.loads((d / "config.json").read_text())
    assert config["architectures"] == [want] and "auto_map" not in config  # no custom code
    assert sum(p.numel() for p in hf.parameters()) == model.num_params()
    gen = json.loads((d / "generation_config.json").read_text())
    assert gen["eos_token_id"] == [tok.special_tokens["<|end|>"], tok.special_tokens["<|endoftext|>"]]
    assert hf.generation_config.eos_token_id == gen["eos_token_id"]


def test_logits_match(exported):
    _, model, _, _, hf, _ = exported
    idx = torch.randint(0, model.config.vocab_size, (2, model.config.block_size), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want, (got, _) = hf(idx).logits, model(idx)
    assert want.dtype == torch.float32 and want.shape == got.shape
    assert (got - want).abs().max().item() < 1e-4


def test_tokenizer_ids_match(exported):
    _, _, tok, _, _, hf_tok = exported
    for text in TEXTS + ["", " ", "a", "The capital of Spain is Madrid.  \n"]:
        ids = tok.encode(text)
        assert hf_tok(text)["input_ids"] == ids, text
        assert hf_tok.decode(ids) == text
    # HF always reads special-token strings as specials: the same as ours with them allowed
    s = "<|user|>hi<|end|><|endoftext|>"
    assert hf_tok(s)["input_ids"] == tok.encode(s, allowed_special="all")
    assert hf_tok.bos_token == hf_tok.pad_token == "<|endoftext|>" and hf_tok.eos_token == "<|end|>"


@pytest.mark.parametrize("conv", range(len(CONVERSATIONS)))
def test_chat_template_matches_render(exported, conv):
    _, _, tok, _, _, hf_tok = exported
    msgs = CONVERSATIONS[conv]
    ids = hf_tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_dict=False)
    assert list(ids) == render_for_completion(msgs, tok)
    text = hf_tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)
    assert text == render_text(msgs, add_generation_prompt=True)
    # a finished conversation (training layout) renders like chat.render
    full = msgs + [{"role": "assistant", "content": "Paris."}]
    ids = hf_tok.apply_chat_template(full, tokenize=True, return_dict=False)
    assert list(ids) == render(full, tok)[0]


def test_chat_template_rejects_unknown_role(exported):
    hf_tok = exported[5]
    with pytest.raises(Exception, match="role"):
        hf_tok.apply_chat_template([{"role": "tool", "content": "x"}], tokenize=False)


def test_greedy_generate_matches(exported):
    _, model, tok, _, hf, _ = exported
    prompt = render_for_completion(CONVERSATIONS[1], tok)
    stop = [tok.special_tokens["<|end|>"], tok.special_tokens["<|endoftext|>"]]
    ours = greedy(model, prompt, 12, stop)
    theirs = hf.generate(torch.tensor([prompt]), max_new_tokens=12, do_sample=False)[0].tolist()
    assert theirs == ours


def test_generate_stops_at_end_token(tmp_path, chat_tok):
    """Rig the LM head so <|end|> wins where some token did: both must stop there."""
    run, model = make_run(tmp_path, "llama", chat_tok)
    prompt = render_for_completion(CONVERSATIONS[0], chat_tok)
    free = greedy(model, prompt, 8, [])
    target, end = free[len(prompt) + 3], chat_tok.special_tokens["<|end|>"]
    with torch.no_grad():
        model.lm_head.weight[end] = 1.5 * model.lm_head.weight[target]
    from pocketgpt.train.checkpoint import save_checkpoint
    save_checkpoint(run, 8, model_state=model.state_dict(), optimizer_state=None,
                    trainer_state={"step": 8}, config={"model": model.config.to_dict()}, tokenizer=chat_tok)
    export_hf(run, tmp_path / "hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    ours = greedy(model, prompt, 8, [end, chat_tok.eot_id])
    theirs = hf.generate(torch.tensor([prompt]), max_new_tokens=8, do_sample=False)[0].tolist()
    assert ours[-1] == end and len(ours) < len(prompt) + 8
    assert theirs == ours


def test_pocketgpt_generate_matches(exported):
    generate = pytest.importorskip("pocketgpt.generate").generate
    _, model, tok, _, hf, _ = exported
    prompt = render_for_completion(CONVERSATIONS[1], tok)
    new = generate(model, prompt, 10, temperature=0, stop_ids=[tok.special_tokens["<|end|>"], tok.eot_id])
    theirs = hf.generate(torch.tensor([prompt]), max_new_tokens=10, do_sample=False)[0].tolist()[len(prompt):]
    assert theirs[: len(new)] == new and len(theirs) - len(new) in (0, 1)


def test_padded_vocab_and_base_model(tmp_path, chat_tok):
    """Model rows beyond the tokenizer (vocab padding) export as extra logits; a base model's eos is
    <|endoftext|>."""
    run, model = make_run(tmp_path, "gpt2", chat_tok, vocab_size=400, assistant=False)
    export_hf(run, tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    assert hf_tok.eos_token == "<|endoftext|>" and hf.config.vocab_size == 400
    idx = torch.randint(0, chat_tok.vocab_size, (1, 20))
    with torch.no_grad():
        assert (hf(idx).logits - model(idx)[0]).abs().max().item() < 1e-4


def test_tokenizer_without_chat_tokens(tmp_path, gpt2_tok):
    run, _ = make_run(tmp_path, "gpt2", gpt2_tok, vocab_size=320, assistant=False)
    summary = export_hf(run, tmp_path / "hf")
    assert not summary["chat_template"] and not (tmp_path / "hf" / "chat_template.jinja").exists()
    assert json.loads((tmp_path / "hf" / "generation_config.json").read_text())["eos_token_id"] == [gpt2_tok.eot_id]
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert hf_tok(TEXTS[1])["input_ids"] == gpt2_tok.encode(TEXTS[1])


def test_bfloat16_export(tmp_path, chat_tok):
    from safetensors import safe_open

    run, model = make_run(tmp_path, "qwen3", chat_tok)
    export_hf(run, tmp_path / "hf", dtype="bfloat16")
    with safe_open(str(tmp_path / "hf" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    idx = torch.randint(0, 300, (1, 16))
    with torch.no_grad():
        assert (hf(idx).logits - model(idx)[0]).abs().max().item() < 0.1  # bf16 rounding of the weights only


def test_export_bad_input(tmp_path, chat_tok):
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.train.checkpoint import save_checkpoint

    with pytest.raises(UserError, match="no such checkpoint"):
        export_hf(tmp_path / "nothing", tmp_path / "hf")
    cfg = GPTConfig(vocab_size=320, block_size=16, n_layer=1, n_head=2, n_embd=16)
    save_checkpoint(tmp_path / "notok", 1, model_state=GPT(cfg).state_dict(), optimizer_state=None,
                    trainer_state={"step": 1}, config={"model": cfg.to_dict()})
    with pytest.raises(UserError, match="no tokenizer"):
        export_hf(tmp_path / "notok", tmp_path / "hf")
    small = GPTConfig(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=16)
    save_checkpoint(tmp_path / "small", 1, model_state=GPT(small).state_dict(), optimizer_state=None,
                    trainer_state={"step": 1}, config={"model": small.to_dict()}, tokenizer=chat_tok)
    with pytest.raises(UserError, match="330 ids but the model only 300"):
        export_hf(tmp_path / "small", tmp_path / "hf")
    run, _ = make_run(tmp_path, "gpt2", chat_tok)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty"):
        export_hf(run, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    export_hf(run, tmp_path / "busy", overwrite=True)
    assert not (tmp_path / "busy" / "keep.txt").exists() and (tmp_path / "busy" / "config.json").exists()
