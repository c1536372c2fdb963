"""The training loop: exact resume, NaN guard, checkpoints, retention, load_checkpoint."""

from __future__ import annotations

import json

import pytest
import torch

from pocketgpt.data import ShardLoader
from pocketgpt.fsio import sha256_file
from pocketgpt.model import GPT
from pocketgpt.tokenizer import Tokenizer
from pocketgpt.train import Trainer, TrainingDiverged, build_config
from pocketgpt.train import checkpoint as ckpt
from pocketgpt.train.pretrain import make_lm_eval

from .conftest import TINY


def _trainer(tiny_data, out, *overrides, source=None):
    shards, tok_dir = tiny_data
    cfg = build_config("cpu-tiny", overrides=TINY + list(overrides))
    tok = Tokenizer.load(tok_dir)
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model_config(vocab_size=tok.vocab_size))
    T = model.config.block_size
    train = source or ShardLoader(shards, "train", cfg.batch_size, T, seed=cfg.seed)
    val = ShardLoader(shards, "val", cfg.batch_size, T, sequential=True)
    return Trainer(cfg, model, train, out_dir=out, tokenizer=tok, progress=False,
                   eval_fn=make_lm_eval(val, tok.token_byte_lengths(), 2))


def _losses(out):
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if "loss" in r}, [r for r in rows if "val_loss" in r]


def test_resume_is_bit_exact(tiny_data, tmp_path):
    # dropout > 0 makes the RNG state part of what must be restored
    args = ("max_steps=8", "eval_every=3", "dropout=0.1")
    full = _trainer(tiny_data, tmp_path / "a", *args).fit()
    assert full.status == "done" and full.step == 8

    first = _trainer(tiny_data, tmp_path / "b", *args).fit(stop_after_steps=4)
    assert first.status == "interrupted" and first.step == 4
    second = _trainer(tiny_data, tmp_path / "b", *args)
    resumed = second.fit(resume_from=ckpt.resolve_checkpoint(tmp_path / "b"))
    assert resumed.step == 8

    want, want_eval = _losses(tmp_path / "a")
    got, got_eval = _losses(tmp_path / "b")
    assert sorted(got) == list(range(1, 9))
    assert [got[s] for s in range(5, 9)] == [want[s] for s in range(5, 9)]  # bit for bit
    assert want[8] < want[1]
    assert [r["val_loss"] for r in got_eval] == [r["val_loss"] for r in want_eval]


def test_checkpoint_layout_retention_and_load(tiny_data, tmp_path):
    trainer = _trainer(tiny_data, tmp_path, "max_steps=6", "eval_every=2", "keep_last=1")
    result = trainer.fit()
    steps = [s for s, _ in ckpt.list_checkpoints(tmp_path)]
    best = ckpt.read_best(tmp_path)
    assert steps[-1] == 6 and set(steps) == {6, best["step"]}  # the last one plus the best by val bpb
    path = tmp_path / "checkpoints" / "step_000006"
    manifest = json.loads((path / "manifest.json").read_text())
    assert set(manifest["files"]) >= {"model.safetensors", "optimizer.pt", "trainer_state.json", "config.json",
                                      "tokenizer/tokenizer.tiktoken"}
    assert all(sha256_file(path / f) == h for f, h in manifest["files"].items())
    assert torch.load(path / "optimizer.pt", weights_only=True)["optimizers"]

    import pocketgpt

    model, tok, info = pocketgpt.load_checkpoint(tmp_path)
    assert info["step"] == 6 and info["path"] == path and result.checkpoint == path
    assert tok.fingerprint == trainer.tokenizer.fingerprint
    x = torch.randint(0, 300, (2, 32))
    trainer.raw_model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[0], trainer.raw_model(x)[0])


def test_corrupt_newest_checkpoint_falls_back(tiny_data, tmp_path):
    _trainer(tiny_data, tmp_path, "max_steps=4", "eval_every=2").fit()
    newest = tmp_path / "checkpoints" / "step_000004"
    data = bytearray((newest / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (newest / "model.safetensors").write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="checksum"):
        _, _, info = ckpt.load_checkpoint(tmp_path)
    assert info["step"] == 2
    with pytest.warns(UserWarning, match="checksum"):  # one checkpoint dir given: also falls back
        assert ckpt.resolve_checkpoint(newest).name == "step_000002"
    (tmp_path / "checkpoints" / "step_000002" / "manifest.json").unlink()  # an unfinished write
    with pytest.warns(UserWarning), pytest.raises(Exception, match="no valid checkpoint"):
        ckpt.load_checkpoint(tmp_path)


class _PoisonAfter:
    """A batch source that corrupts a weight before step ``k`` (a stand-in for divergence)."""

    def __init__(self, inner, model, k):
        self.inner, self.model, self.k, self.n = inner, model, k, 0

    def next_batch(self):
        self.n += 1
        if self.n == self.k:
            with torch.no_grad():
                self.model.h[0].mlp.fc.weight[0, 0] = float("nan")
        return self.inner.next_batch()

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, s):
        self.inner.load_state_dict(s)


def test_nan_guard_stops_and_keeps_last_good_checkpoint(tiny_data, tmp_path):
    trainer = _trainer(tiny_data, tmp_path, "max_steps=10", "eval_every=2")
    trainer.source = _PoisonAfter(trainer.source, trainer.raw_model, k=3)
    good = tmp_path / "checkpoints" / "step_000002"
    with pytest.raises(TrainingDiverged, match="step 3: the loss is nan") as e:
        trainer.fit()
    assert e.value.exit_code == 3 and "step_000002" in str(e.value)
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path)] == [2]
    ckpt.verify_checkpoint(good)
    report = json.loads((tmp_path / "diagnostics" / "nonfinite_step_000003" / "report.json").read_text())
    assert "h.0.mlp.fc.weight" in report["nonfinite_params_or_grads"]


def test_failed_save_leaves_no_checkpoint(tiny_data, tmp_path, monkeypatch):
    trainer = _trainer(tiny_data, tmp_path, "max_steps=1")

    def boom(d):
        raise OSError("disk full")

    monkeypatch.setattr(trainer.tokenizer, "save", boom)
    with pytest.raises(OSError):
        trainer.fit()
    assert ckpt.list_checkpoints(tmp_path) == []
    assert not any(p.name.startswith(".step") for p in (tmp_path / "checkpoints").iterdir())


def test_grad_accumulation_matches_big_batch(tiny_data, tmp_path):
    """tokens_per_step = 2 micro-batches of 2 gives the same step as one batch of 4."""
    a = _trainer(tiny_data, tmp_path / "a", "max_steps=3", "batch_size=4")
    a.fit()
    b = _trainer(tiny_data, tmp_path / "b", "max_steps=3", "batch_size=2", "tokens_per_step=128")
    assert b.accum == 2
    b.fit()
    la, _ = _losses(tmp_path / "a")
    lb, _ = _losses(tmp_path / "b")
    for s in (1, 2, 3):
        assert lb[s] == pytest.approx(la[s], abs=1e-5)


def test_muon_and_wsd_train(tiny_data, tmp_path):
    t = _trainer(tiny_data, tmp_path, "max_steps=6", "optimizer='muon'", "schedule='wsd'", "muon_lr=0.02")
    assert len(t.optimizer.optimizers) == 2
    t.fit()
    losses, _ = _losses(tmp_path)
    assert losses[6] < losses[1]


@pytest.mark.slow
def test_compiled_training_matches_eager(tiny_data, tmp_path):
    """torch.compile changes speed, not the maths: losses agree with eager."""
    _trainer(tiny_data, tmp_path / "eager", "max_steps=3").fit()
    _trainer(tiny_data, tmp_path / "compiled", "max_steps=3", "compile=True").fit()
    eager, _ = _losses(tmp_path / "eager")
    compiled, _ = _losses(tmp_path / "compiled")
    assert [compiled[s] for s in (1, 2, 3)] == pytest.approx([eager[s] for s in (1, 2, 3)], abs=1e-4)


def test_bf16_autocast_trains(tiny_data, tmp_path):
    t = _trainer(tiny_data, tmp_path, "max_steps=4", "dtype='bfloat16'")
    assert t.dtype == "bfloat16"
    t.fit()
    losses, evals = _losses(tmp_path)
    assert losses[4] < losses[1] and evals
    # master weights stay fp32
    assert all(p.dtype == torch.float32 for p in t.raw_model.parameters())
