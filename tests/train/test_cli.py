"""``pocketgpt pretrain``: a short run, resume, Ctrl-C, and every bad input (exit 2, no traceback)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


from pocketgpt.cli import main

from .conftest import TINY


def _args(tiny_data, out, *extra, tokenizer=None):
    shards, tok = tiny_data
    return ["pretrain", "--data", str(shards), "--tokenizer", str(tokenizer or tok), "--out", str(out),
            "--no-progress", *TINY, *extra]


def _fails(capsys, argv, *needles):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("pocketgpt pretrain: error:")
    for n in needles:
        assert n in err, err
    return err


def test_short_run_then_resume_further(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_args(tiny_data, out, "--max-steps", "3", "eval_every=2")) == 0
    assert "done at step 3" in capsys.readouterr().out
    assert main(_args(tiny_data, out, "--max-steps", "5", "--resume", "eval_every=2")) == 0
    assert "done at step 5" in capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4, 5]
    assert any("val_bpb" in r for r in rows)
    cfg = json.loads((out / "checkpoints" / "step_000005" / "config.json").read_text())
    assert cfg["model"]["n_layer"] == 2 and cfg["train"]["max_steps"] == 5


def test_bad_inputs_fail_before_training(tiny_data, tmp_path, capsys, other_tokenizer):
    out = tmp_path / "run"
    steps = ("--max-steps", "2")
    _fails(capsys, _args(tiny_data, out, *steps, tokenizer=other_tokenizer), "retokenize")
    _fails(capsys, _args(tiny_data, out, *steps, "block_size=100000"), "block_size", "100001")
    _fails(capsys, _args(tiny_data, out, *steps, "--preset", "gpt5"), "unknown preset", "cpu-tiny, gpt2-124m, d12, d20")
    _fails(capsys, _args(tiny_data, out, *steps, "learning_rate=1"), "unknown config key 'learning_rate'", "lr")
    _fails(capsys, _args(tiny_data, out, *steps, "model.depth=3"), "unknown model key 'depth'", "n_layer")
    _fails(capsys, _args(tiny_data, out, *steps, "n_layer=two"), "model.n_layer", "expected int")
    _fails(capsys, _args(tiny_data, out, *steps, "--resume"), "--resume", "no checkpoints")
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("lr = = 3\n")
    _fails(capsys, _args(tiny_data, out, *steps, "--config", str(bad_toml)), "bad.toml", "TOML")
    unknown_toml = tmp_path / "unknown.toml"
    unknown_toml.write_text("lr = 1e-3\n[model]\nwidth = 3\n")
    _fails(capsys, _args(tiny_data, out, *steps, "--config", str(unknown_toml)), "unknown model key 'width'")
    _fails(capsys, ["pretrain", "--out", str(out)], "--data")
    try:
        import wandb  # noqa: F401
    except ImportError:
        _fails(capsys, _args(tiny_data, out, *steps, "--wandb"), "wandb", "not installed")
    _fails(capsys, _args(tiny_data, out, *steps, "--data", str(tmp_path)), "no shard index")
    assert not out.exists() or not (out / "checkpoints").exists()

    assert main(_args(tiny_data, out, *steps)) == 0
    capsys.readouterr()
    _fails(capsys, _args(tiny_data, out, *steps), "already holds checkpoints", "--resume")
    _fails(capsys, _args(tiny_data, out, "--max-steps", "4", "--resume", "n_layer=3"),
           "incompatible model config", "n_layer: checkpoint 2 vs now 3")


def test_init_from_and_list_presets(tiny_data, tmp_path, capsys):
    assert main(_args(tiny_data, tmp_path / "base", "--max-steps", "2")) == 0
    capsys.readouterr()
    # the architecture comes from the checkpoint, whatever the preset says
    assert main(_args(tiny_data, tmp_path / "ft", "--max-steps", "1", "--init-from", str(tmp_path / "base"),
                      "--preset", "cpu-tiny")) == 0
    cfg = json.loads((tmp_path / "ft" / "checkpoints" / "step_000001" / "config.json").read_text())
    assert cfg["init_from"].endswith("step_000002") and cfg["model"]["n_embd"] == 32
    capsys.readouterr()
    assert main(["pretrain", "--list-presets"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in ("cpu-tiny", "gpt2-124m", "d12", "d20"))


def test_ctrl_c_saves_and_exits_cleanly(tiny_data, tmp_path):
    out = tmp_path / "run"
    argv = _args(tiny_data, out, "--max-steps", "100000", "eval_every=100000")
    proc = subprocess.Popen([sys.executable, "-m", "pocketgpt", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while time.time() < deadline and not ((out / "metrics.jsonl").exists()
                                          and len((out / "metrics.jsonl").read_text().splitlines()) >= 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted at step" in stdout
    step = int(stdout.split("interrupted at step ")[1].split()[0])
    assert (out / "checkpoints" / f"step_{step:06d}" / "manifest.json").exists()
