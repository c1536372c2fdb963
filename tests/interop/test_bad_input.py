"""Bad Hugging Face directories: each problem is a UserError naming it; the CLI exits 2 without a traceback."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from interop_testlib import make_hf_gpt2, make_run

from pocketgpt.cli import main
from pocketgpt.errors import UserError
from pocketgpt.interop import import_hf

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def good(tmp_path_factory, gpt2_tok):
    d = tmp_path_factory.mktemp("good") / "hf"
    make_hf_gpt2(d, gpt2_tok)
    return d


def _copy(good, tmp_path):
    return shutil.copytree(good, tmp_path / "hf")


def _edit_config(d, **changes):
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("changes,message", [
    ({"model_type": "bert"}, "model_type 'bert' is not supported"),
    ({"vocab_size": 290}, "the tokenizer has 300 ids but the model's vocab_size is 290"),
    ({"vocab_size": 2000}, "the tokenizer has 300 ids but the model's vocab_size is 2000"),
    ({"n_positions": 32}, r"'transformer.wpe.weight' has shape \(64, 48\); config.json implies \(32, 48\)"),
    ({"n_embd": 64}, r"'transformer.wte.weight' has shape \(300, 48\); config.json implies \(300, 64\)"),
    ({"n_layer": 3}, "missing tensor 'transformer.h.2.ln_1.weight'"),
    ({"n_layer": 1}, "unexpected tensor"),
    ({"activation_function": "relu"}, "activation_function 'relu'"),
    ({"n_head": None}, "missing field 'n_head'"),
])
def test_bad_config(good, tmp_path, changes, message):
    d = _copy(good, tmp_path)
    _edit_config(d, **changes)
    with pytest.raises(UserError, match=message):
        import_hf(d, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # checked before anything is written


def test_modern_config_refusals(tmp_path, chat_tok):
    from pocketgpt.interop import export_hf

    run, _ = make_run(tmp_path, "llama", chat_tok)
    export_hf(run, tmp_path / "hf")
    for changes, message in [({"attention_bias": True}, "attention_bias=true"),
                             ({"rope_scaling": {"rope_type": "linear", "factor": 2.0}}, "rope_scaling"),
                             ({"hidden_act": "gelu"}, "hidden_act 'gelu'")]:
        _edit_config(tmp_path / "hf", **changes)
        with pytest.raises(UserError, match=message):
            import_hf(tmp_path / "hf", tmp_path / "back")
        export_hf(run, tmp_path / "hf", overwrite=True)


def test_missing_and_unreadable_files(good, tmp_path):
    d = _copy(good, tmp_path)
    (d / "config.json").write_text("{not json")
    with pytest.raises(UserError, match="config.json: not valid JSON"):
        import_hf(d, tmp_path / "run")
    (d / "config.json").unlink()
    with pytest.raises(UserError, match="no config.json"):
        import_hf(d, tmp_path / "run")
    shutil.rmtree(d)
    d = _copy(good, tmp_path)
    (d / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError, match="model.safetensors: cannot read the weights"):
        import_hf(d, tmp_path / "run")
    (d / "model.safetensors").unlink()
    with pytest.raises(UserError, match="no weights; expected model.safetensors or pytorch_model.bin"):
        import_hf(d, tmp_path / "run")
    (d / "vocab.json").unlink()
    with pytest.raises(UserError, match="no tokenizer; expected tokenizer.json, or vocab.json and merges.txt"):
        import_hf(d, tmp_path / "run")
    with pytest.raises(UserError, match="no such directory"):
        import_hf(tmp_path / "nope", tmp_path / "run")


class _Payload:
    """Stands for code hidden in a pickle: weights_only loading must refuse it."""


def test_pickle_with_code_is_refused(good, tmp_path):
    d = _copy(good, tmp_path)
    from safetensors.torch import load_file

    sd = load_file(str(d / "model.safetensors"))
    (d / "model.safetensors").unlink()
    torch.save({**sd, "evil": _Payload()}, d / "pytorch_model.bin")
    with pytest.raises(UserError, match="pytorch_model.bin: cannot read the weights"):
        import_hf(d, tmp_path / "run")


def test_extra_or_untied_tensors(good, tmp_path):
    from safetensors.torch import load_file, save_file

    d = _copy(good, tmp_path)
    sd = load_file(str(d / "model.safetensors"))
    save_file({**sd, "transformer.h.0.attn.extra": torch.zeros(3)}, str(d / "model.safetensors"))
    with pytest.raises(UserError, match="unexpected tensor.*transformer.h.0.attn.extra"):
        import_hf(d, tmp_path / "run")
    save_file({**sd, "lm_head.weight": torch.randn_like(sd["transformer.wte.weight"])}, str(d / "model.safetensors"))
    with pytest.raises(UserError, match="lm_head.weight differs from the token embedding"):
        import_hf(d, tmp_path / "run")
    save_file({**sd, "lm_head.weight": sd["transformer.wte.weight"].clone()}, str(d / "model.safetensors"))
    import_hf(d, tmp_path / "run")  # a stored copy of the tied head is fine


def test_missing_shard(tmp_path, gpt2_tok):
    d = tmp_path / "hf"
    make_hf_gpt2(d, gpt2_tok, weights="sharded")
    next(d.glob("model-0000*-of-*.safetensors")).unlink()
    with pytest.raises(UserError, match="lists shard .* which is missing"):
        import_hf(d, tmp_path / "run")


def test_unsupported_tokenizer_json(good, tmp_path, chat_tok):
    d = _copy(good, tmp_path)
    for name in ("vocab.json", "merges.txt"):
        (d / name).unlink()
    chat_tok.save(tmp_path / "t")
    doc = json.loads((tmp_path / "t" / "tokenizer.json").read_text())
    doc["normalizer"] = {"type": "NFC"}
    (d / "tokenizer.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="normalizer 'NFC' is not supported"):
        import_hf(d, tmp_path / "run")
    doc["normalizer"] = None
    doc["model"]["merges"] = doc["model"]["merges"][::-1]
    (d / "tokenizer.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="increase along the merge list"):
        import_hf(d, tmp_path / "run")
    doc["model"] = {"type": "WordPiece", "vocab": {}}
    (d / "tokenizer.json").write_text(json.dumps(doc))
    with pytest.raises(UserError, match="model type 'WordPiece' is not supported"):
        import_hf(d, tmp_path / "run")


def test_existing_run_is_not_overwritten(good, tmp_path):
    import_hf(good, tmp_path / "run")
    with pytest.raises(UserError, match="already holds checkpoints"):
        import_hf(good, tmp_path / "run")
    from pocketgpt.train.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint

    model, tok, _ = load_checkpoint(tmp_path / "run")
    save_checkpoint(tmp_path / "run", 50, model_state=model.state_dict(), optimizer_state=None,
                    trainer_state={"step": 50}, config={"model": model.config.to_dict()}, tokenizer=tok)
    import_hf(good, tmp_path / "run", overwrite=True)  # replaces step 50 too: the import is the newest
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [0]


def test_cli(good, tmp_path, capsys):
    d = _copy(good, tmp_path)
    assert main(["import", "--hf", str(d), "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "imported" in out and "added special tokens <|system|> <|user|> <|assistant|> <|end|>" in out
    assert main(["export", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "exp")]) == 0
    assert "as GPT2LMHeadModel (float32)" in capsys.readouterr().out
    assert (tmp_path / "exp" / "model.safetensors").is_file()
    # bad input: exit 2, one message naming the problem, no traceback
    _edit_config(d, model_type="t5")
    assert main(["import", "--hf", str(d), "--out", str(tmp_path / "run2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pocketgpt import: error: ") and "model_type 't5'" in err and "Traceback" not in err
    assert main(["export", "--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "e2")]) == 2
    err = capsys.readouterr().err
    assert "pocketgpt export: error:" in err and "no such checkpoint" in err and "Traceback" not in err
    assert main(["export", "--checkpoint", str(tmp_path / "run"), "--out", str(tmp_path / "exp")]) == 2
    assert "--force" in capsys.readouterr().err
