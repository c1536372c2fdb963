"""``pocketgpt sample`` on a tiny checkpoint written by the training checkpoint writer."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import pytest

from pocketgpt.cli import main
from pocketgpt.generate import Engine, build_fewshot_prompt, load_examples
from pocketgpt.train.checkpoint import load_checkpoint, save_checkpoint

from .conftest import tiny_model


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tok):
    model = tiny_model("modern", n_kv_head=2, vocab_size=tok.vocab_size, block_size=160, seed=3)
    d = tmp_path_factory.mktemp("sample_run")
    save_checkpoint(d, 1, model_state=model.state_dict(), optimizer_state=None, trainer_state={"step": 1},
                    config={"model": model.config.to_dict(), "train": {}}, tokenizer=tok)
    return d


@pytest.fixture(scope="module")
def engine(run_dir):
    model, tok, _ = load_checkpoint(run_dir)
    return Engine(model, tok)


def sample(capsys, *args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(["sample", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def want_text(engine, prompt, **kw):
    stop_ids = (engine.tokenizer.eot_id,)
    return engine.generate(prompt, stop_ids=stop_ids, **kw).text


def test_prompt_from_flag_file_and_stdin(run_dir, engine, capsys, monkeypatch, tmp_path):
    want = want_text(engine, "The capital of", max_new_tokens=20, temperature=0)
    assert want
    code, out, err = sample(capsys, "--checkpoint", str(run_dir), "--prompt", "The capital of",
                            "--max-new-tokens", "20", "--temperature", "0")
    assert code == 0 and out == want + "\n" and "[finished:" in err
    f = tmp_path / "p.txt"
    f.write_text("The capital of\n")
    assert sample(capsys, "--checkpoint", str(run_dir), "--prompt-file", str(f), "--max-new-tokens", "20",
                  "--temperature", "0")[1] == out
    assert sample(capsys, "--checkpoint", str(run_dir / "checkpoints" / "step_000001"), "--max-new-tokens", "20",
                  "--temperature", "0", stdin="The capital of\n", monkeypatch=monkeypatch)[1] == out
    _, echoed, _ = sample(capsys, "--checkpoint", str(run_dir), "--prompt", "The capital of",
                          "--max-new-tokens", "20", "--temperature", "0", "--echo")
    assert echoed == "The capital of" + out


def test_num_samples_seeds_and_stop(run_dir, engine, capsys):
    args = ["--checkpoint", str(run_dir), "--prompt", "Café", "--max-new-tokens", "15", "--top-k", "50"]
    code, out, _ = sample(capsys, *args, "--num-samples", "3", "--seed", "5")
    assert code == 0
    parts = out.split("===== sample ")[1:]
    assert len(parts) == 3
    for i, part in enumerate(parts):
        header, body = part.split(" =====\n", 1)
        assert header == f"{i + 1}/3 (seed {5 + i})"
        assert body.rstrip("\n") == want_text(engine, "Café", max_new_tokens=15, top_k=50, seed=5 + i)
    assert sample(capsys, *args, "--num-samples", "3", "--seed", "5")[1] == out
    free = want_text(engine, "Café", max_new_tokens=15, top_k=50, seed=5)
    stop = free[4:6]
    code, cut, _ = sample(capsys, *args, "--seed", "5", "--stop", stop)
    assert code == 0 and cut == free[: free.find(stop)] + "\n"


def test_show_probs(run_dir, engine, capsys):
    code, out, _ = sample(capsys, "--checkpoint", str(run_dir), "--prompt", "The", "--max-new-tokens", "6",
                          "--temperature", "0", "--show-probs", "--top", "3")
    assert code == 0
    lines = out.splitlines()
    c = engine.generate("The", max_new_tokens=6, temperature=0, logprobs=True, top_logprobs=3,
                        stop_ids=(engine.tokenizer.eot_id,))
    assert len(lines) >= len(c.tokens) + 1
    for line, t in zip(lines, c.tokens):
        idx, rest = line.split(maxsplit=1)
        assert int(idx) == t.index
        assert f"{math.exp(t.logprob):.1%}" in rest
        assert rest.count("%") == 1 + 3  # the token's probability and three alternatives
    assert out.endswith(c.text + "\n")


def test_few_shot_from_a_jsonl_file(run_dir, engine, capsys, tmp_path):
    f = tmp_path / "shots.jsonl"
    f.write_text("\n".join(json.dumps({"country": c, "capital": k})
                           for c, k in [("France", "Paris"), ("Peru", "Lima"), ("Spain", "Madrid")]))
    template = "Q: What is the capital of {country}?\\nA: {capital}"
    code, out, _ = sample(capsys, "--checkpoint", str(run_dir), "--prompt", "Italy", "--few-shot", str(f),
                          "--template", template, "--shots", "2", "--temperature", "0", "--max-new-tokens", "30")
    assert code == 0
    prompt = build_fewshot_prompt(load_examples(f), "Italy", template=template.replace("\\n", "\n"), shots=2)
    assert prompt.endswith("Q: What is the capital of Italy?\nA:") and "Madrid" not in prompt
    want = want_text(engine, prompt, max_new_tokens=30, temperature=0, stop=("\n\n",))
    assert out == want + "\n" and "\n\n" not in out


@pytest.mark.parametrize("args,match", [
    (["--prompt", ""], "empty"),
    (["--prompt", "x", "--temperature", "-1"], "temperature"),
    (["--prompt", "x", "--top-p", "0"], "top_p"),
    (["--prompt", "x", "--top-p", "1.2"], "top_p"),
    (["--prompt", "x", "--top-k", "-1"], "top_k"),
    (["--prompt", "x", "--max-new-tokens", "0"], "max_new_tokens"),
    (["--prompt", "x", "--stop", ""], "stop"),
    (["--prompt", "x", "--num-samples", "0"], "num-samples"),
    (["--prompt", "word " * 200], "context window"),
    (["--prompt-file", "/nonexistent/prompt.txt"], "no such prompt file"),
])
def test_bad_input_exits_2(run_dir, capsys, args, match):
    code, out, err = sample(capsys, "--checkpoint", str(run_dir), *args)
    assert code == 2 and match in err and "Traceback" not in err


def test_long_prompt_with_truncate(run_dir, capsys):
    code, out, _ = sample(capsys, "--checkpoint", str(run_dir), "--prompt", "word " * 200, "--truncate",
                          "--max-new-tokens", "5", "--temperature", "0")
    assert code == 0 and out


def test_missing_and_corrupt_checkpoints_exit_2_without_traceback(run_dir, tmp_path):
    import shutil

    def cli(ckpt):
        return subprocess.run([sys.executable, "-m", "pocketgpt", "sample", "--checkpoint", str(ckpt), "--prompt",
                               "x"], capture_output=True, text=True, timeout=120)

    r = cli(tmp_path / "missing")
    assert r.returncode == 2 and "no such checkpoint" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad"
    shutil.copytree(run_dir, bad)
    w = bad / "checkpoints" / "step_000001" / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-100] + b"\0" * 100)
    r = cli(bad)
    assert r.returncode == 2 and "no valid checkpoint" in r.stderr and "corrupted" in r.stderr
    assert "Traceback" not in r.stderr
