"""``pocketgpt data ...``: clear errors, --skip-bad reports, and Ctrl-C/kill then rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pocketgpt.cli import main


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    from pocketgpt.tokenizer import train

    d = tmp_path_factory.mktemp("cli_data") / "tok"
    train(["the capital of France is Paris. " * 20, "Madrid is in Spain. " * 20], 300, progress=False).save(d)
    return d


def run(*argv) -> int:
    return main(["data", *map(str, argv)])


def test_bad_jsonl_line_is_a_clear_error_and_skip_bad_reports(tmp_path, tok_dir, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "one"}\n{"text": "two"\n{"body": 3}\n{"text": "four"}\n')
    assert run("tokenize", "--input", src, "--tokenizer", tok_dir, "--out", tmp_path / "s", "--no-progress") == 2
    err = capsys.readouterr().err
    assert f"{src}:2: malformed JSON" in err and "Traceback" not in err
    assert run("tokenize", "--input", src, "--tokenizer", tok_dir, "--out", tmp_path / "s", "--no-progress",
               "--skip-bad", "--val-fraction", "0.5", "--workers", "1") == 0
    out = capsys.readouterr().out
    assert "skipped 2 bad record(s)" in out and f"{src}:2" in out and f"{src}:3" in out
    assert run("info", tmp_path / "s") == 0
    assert "train: " in capsys.readouterr().out


def test_invalid_utf8_count_is_reported(tmp_path, tok_dir, capsys):
    src = tmp_path / "in.txt"
    src.write_bytes(b"good text\n\nbad \xff byte\n\nmore")
    assert run("tokenize", "--input", src, "--tokenizer", tok_dir, "--out", tmp_path / "s", "--no-progress",
               "--split-on", "blank-line", "--val-fraction", "0.3", "--workers", "1") == 0
    assert "replaced 1 invalid UTF-8 sequence(s)" in capsys.readouterr().out


def test_other_tokenizer_and_missing_input(tmp_path, tok_dir, capsys):
    assert run("tokenize", "--input", tmp_path / "nope.txt", "--tokenizer", tok_dir, "--out", tmp_path / "s") == 2
    assert "nope.txt: no such file" in capsys.readouterr().err


def test_interrupted_tokenize_then_rerun_gives_the_clean_shards(tmp_path, tok_dir):
    docs = tmp_path / "docs.jsonl"
    with open(docs, "w") as f:  # ~1.6 MB: two 1 MiB work chunks
        for i in range(1500):
            f.write(json.dumps({"text": f"Document {i}: the capital of France is Paris. " * 25}) + "\n")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def cmd(out):
        return [sys.executable, "-m", "pocketgpt", "data", "tokenize", "--input", str(docs), "--tokenizer",
                str(tok_dir), "--out", str(out), "--shard-tokens", "20000", "--workers", "1", "--no-progress"]

    clean = tmp_path / "clean"
    subprocess.run(cmd(clean), check=True, env=env, capture_output=True)
    out = tmp_path / "cut"
    for sig in (signal.SIGINT, signal.SIGKILL):  # Ctrl-C, then a kill during the resumed run
        before = {p.name for p in out.glob("*.npy")}
        proc = subprocess.Popen(cmd(out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline and {p.name for p in out.glob("*.npy")} == before:
            time.sleep(0.005)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        if proc.returncode == 0:
            break  # finished before the signal landed; the comparison below still holds
        assert not (out / "index.json").exists()
    final = subprocess.run(cmd(out), env=env, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    names = sorted(p.name for p in clean.glob("*.npy"))
    assert len(names) > 3 and names == sorted(p.name for p in out.glob("*.npy"))
    for n in names:
        assert (clean / n).read_bytes() == (out / n).read_bytes()
    assert not list(Path(out).glob(".*.tmp"))
