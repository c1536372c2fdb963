"""The interop weight/config tables invert exactly, and refuse what our GPT cannot represent."""

from __future__ import annotations

import pytest
import torch
from interop_testlib import FAMILIES, perturb

from pocketgpt.errors import UserError
from pocketgpt.interop.weights import (from_hf_state_dict, gpt_config_from_hf, hf_config, load_hf_gpt2, qwen3_config,
                                       qwen3_state_dict, to_hf_state_dict)
from pocketgpt.model import GPT, GPTConfig


@pytest.mark.parametrize("family", list(FAMILIES))
def test_tables_invert(family):
    cfg = GPTConfig(vocab_size=70, block_size=16, n_layer=2, n_head=4, n_embd=32, **FAMILIES[family])
    model = GPT(cfg)
    perturb(model)
    assert gpt_config_from_hf(hf_config(cfg)) == cfg
    back = from_hf_state_dict(to_hf_state_dict(model), cfg)
    sd = model.state_dict()
    assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd)


def test_config_refusals():
    with pytest.raises(UserError, match="model_type None is not supported"):
        gpt_config_from_hf({})
    with pytest.raises(UserError, match="n_layer .* must be a positive integer, got 'two'"):
        gpt_config_from_hf({"model_type": "gpt2", "vocab_size": 50, "n_positions": 8, "n_layer": "two",
                            "n_head": 2, "n_embd": 16})
    with pytest.raises(UserError, match="config.json: model.n_embd: 15 is not divisible"):
        gpt_config_from_hf({"model_type": "gpt2", "vocab_size": 50, "n_positions": 8, "n_layer": 1,
                            "n_head": 2, "n_embd": 15})


def test_qwen3_names_refuse_a_llama_shaped_model():
    cfg = GPTConfig(vocab_size=32, block_size=8, n_layer=1, n_head=2, n_embd=16, qk_norm=False)
    with pytest.raises(ValueError, match="Llama"):
        qwen3_config(cfg)
    with pytest.raises(ValueError, match="Llama"):
        qwen3_state_dict(GPT(cfg))


def test_load_hf_gpt2_bad_dir(tmp_path):
    with pytest.raises(UserError, match="config.json"):
        load_hf_gpt2(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(UserError, match="gpt2"):
        load_hf_gpt2(tmp_path)
