"""Presets, TOML files and overrides resolve in the documented order."""

from __future__ import annotations

import pytest

from pocketgpt.errors import UserError
from pocketgpt.train import PRESETS, build_config


def test_toml_config_and_precedence(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('lr = 1e-3\nschedule = "wsd"\n[model]\nn_layer = 3\n')
    cfg = build_config("d12", f, ["lr=2e-3"], {"max_steps": 7})
    assert (cfg.lr, cfg.schedule, cfg.model["n_layer"], cfg.model["n_embd"], cfg.max_steps) == (2e-3, "wsd", 3, 768, 7)
    assert cfg.model_config(vocab_size=50257).vocab_size == 50304  # rounded up to a multiple of 64


def test_every_preset_builds_and_validates():
    for name in PRESETS:
        cfg = build_config(name)
        model_cfg = cfg.model_config(vocab_size=4096)
        assert model_cfg.n_layer >= 4 and cfg.max_steps + cfg.max_tokens + cfg.max_minutes > 0


def test_bad_values_are_user_errors():
    for override, needle in [("optimizer=sgd", "optimizer"), ("batch_size=0", "batch_size"), ("lr=abc", "lr"),
                             ("dropout=2", "dropout"), ("n_kv_head=3", "n_kv_head")]:
        with pytest.raises(UserError, match=needle):
            build_config("cpu-tiny", overrides=[override]).model_config(vocab_size=256)
