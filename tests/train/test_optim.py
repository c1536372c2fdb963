"""LR schedules and optimizer parameter groups."""

from __future__ import annotations

import pytest
import torch

from pocketgpt.model import GPT, GPTConfig
from pocketgpt.train import build_config
from pocketgpt.train.optim import build_optimizer, lr_multiplier


def test_lr_schedules():
    cos = [lr_multiplier(p / 100, warmup_frac=0.1, min_lr_frac=0.1) for p in range(101)]
    assert cos[0] == 0 and cos[10] == 1.0 and cos[100] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(cos[10:], cos[11:]))  # monotone decay after warmup
    wsd = [lr_multiplier(p / 100, warmup_frac=0.1, min_lr_frac=0.0, schedule="wsd", decay_frac=0.2)
           for p in range(101)]
    assert set(wsd[10:81]) == {1.0} and wsd[90] == pytest.approx(0.5) and wsd[100] == pytest.approx(0.0, abs=1e-12)


def test_decay_only_on_2d_weights_and_muon_on_hidden():
    model = GPT(GPTConfig(vocab_size=64, block_size=8, n_layer=2, n_head=2, n_embd=16))
    names = {id(p): n for n, p in model.named_parameters()}
    opt = build_optimizer(model, build_config("cpu-tiny", overrides=["optimizer='muon'"]), "cpu")
    adamw, muon = opt.optimizers
    decayed = {names[id(p)] for g in adamw.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    plain = {names[id(p)] for g in adamw.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    hidden = {names[id(p)] for g in muon.param_groups for p in g["params"]}
    assert decayed == {"wte.weight"}
    assert plain == {n for n, p in model.named_parameters() if p.dim() == 1}  # norm gains: no decay
    assert hidden == {n for n, p in model.named_parameters() if p.dim() == 2 and n.startswith("h.")}
    assert isinstance(muon, torch.optim.Muon)
    # its state round-trips
    opt.load_state_dict(opt.state_dict())
