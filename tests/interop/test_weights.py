"""The interop weight/config tables agree with the model package's own HF maps and invert exactly."""

from __future__ import annotations

import json

import pytest
import torch
from interop_testlib import FAMILIES, make_hf_gpt2, perturb

from pocketgpt.errors import UserError
from pocketgpt.interop.weights import from_hf_state_dict, gpt_config_from_hf, hf_config, to_hf_state_dict
from pocketgpt.model import GPT, GPTConfig, load_hf_gpt2, qwen3_config, qwen3_state_dict


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tables_invert(family):
    cfg = GPTConfig(vocab_size=70, block_size=16, n_layer=2, n_head=4, n_embd=32, **FAMILIES[family])
    model = GPT(cfg)
    perturb(model)
    assert gpt_config_from_hf(hf_config(cfg)) == cfg
    back = from_hf_state_dict(to_hf_state_dict(model), cfg)
    sd = model.state_dict()
    assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd)


@pytest.mark.parametrize("tied", [True, False])
def test_qwen3_matches_model_package(tied):
    cfg = GPTConfig(vocab_size=70, block_size=16, n_layer=2, n_head=4, n_kv_head=2, n_embd=32, head_dim=12,
                    tie_embeddings=tied)
    model = GPT(cfg)
    perturb(model)
    ours, theirs = to_hf_state_dict(model), qwen3_state_dict(model)
    if tied:  # the package map lists the tied head; export leaves it to transformers to tie
        assert torch.equal(theirs.pop("lm_head.weight"), ours["model.embed_tokens.weight"])
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    expected = qwen3_config(cfg)
    got = hf_config(cfg)
    assert {k: got[k] for k in expected} == expected


def test_gpt2_import_matches_model_package(tmp_path, gpt2_tok):
    from safetensors.torch import load_file

    make_hf_gpt2(tmp_path, gpt2_tok)
    theirs = load_hf_gpt2(tmp_path)
    cfg = gpt_config_from_hf(json.loads((tmp_path / "config.json").read_text()))
    ours = from_hf_state_dict(load_file(str(tmp_path / "model.safetensors")), cfg)
    assert cfg == theirs.config
    sd = theirs.state_dict()
    assert ours.keys() == sd.keys() and all(torch.equal(ours[k], sd[k]) for k in sd)


def test_config_refusals():
    with pytest.raises(UserError, match="model_type None is not supported"):
        gpt_config_from_hf({})
    with pytest.raises(UserError, match="n_layer .* must be a positive integer, got 'two'"):
        gpt_config_from_hf({"model_type": "gpt2", "vocab_size": 50, "n_positions": 8, "n_layer": "two",
                            "n_head": 2, "n_embd": 16})
    with pytest.raises(UserError, match="config.json: model.n_embd: 15 is not divisible"):
        gpt_config_from_hf({"model_type": "gpt2", "vocab_size": 50, "n_positions": 8, "n_layer": 1,
                            "n_head": 2, "n_embd": 15})
