"""``pocketgpt tokenizer ...`` end to end: outputs, and bad input as clean errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pocketgpt.cli import main
from pocketgpt.tokenizer import Tokenizer

TEXT = "The cat sat on the mat. The dog sat on the log. " * 40 + "Über naïve café 🙂\n"


@pytest.fixture()
def corpus(tmp_path):
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text(TEXT)
    (d / "sub" / "b.txt").write_text(TEXT.upper())
    (d / "ignored.md").write_text("not a txt file " * 100)
    return d


def run_cli(*args, stdin: str | None = None):
    """Run the real console entry point in a subprocess (to see tracebacks, if any)."""
    return subprocess.run(
        [sys.executable, "-m", "pocketgpt", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def test_train_encode_show_stats(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "tok"
    assert main(["tokenizer", "train", "--input", str(corpus), "--vocab-size", "300", "--out", str(out)]) == 0
    assert "trained 300-token tokenizer" in capsys.readouterr().out
    tok = Tokenizer.load(out)
    assert tok.vocab_size == 300
    assert tok.meta["trained_on"]["n_files"] == 2  # *.txt only, walked recursively
    assert tok.meta["trained_on"]["bytes"] == len(TEXT.encode()) * 2

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("The cat <|user|>"))
    assert main(["tokenizer", "encode", "--tokenizer", str(out)]) == 0
    ids = json.loads(capsys.readouterr().out)
    assert ids == tok.encode("The cat <|user|>") and tok.special_tokens["<|user|>"] not in ids

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("The cat é"))
    assert main(["tokenizer", "encode", "--tokenizer", str(out), "--show"]) == 0
    shown = capsys.readouterr().out.rstrip("\n")
    pieces = shown.split("|")
    assert len(pieces) == len(tok.encode("The cat é"))
    assert "".join(pieces).startswith("The cat")

    assert main(["tokenizer", "stats", "--tokenizer", str(out), "--input", str(corpus / "a.txt")]) == 0
    stats = capsys.readouterr().out
    n_tokens = len(tok.encode(TEXT))
    assert f"{len(TEXT.encode()) / n_tokens:.3f}" in stats


def test_non_utf8_is_replaced_with_a_counted_warning(tmp_path):
    f = tmp_path / "latin1.txt"
    f.write_bytes("caf\xe9 na\xefve ".encode("latin-1") * 20)
    r = run_cli("tokenizer", "train", "--input", str(f), "--vocab-size", "270", "--out", str(tmp_path / "t"))
    assert r.returncode == 0, r.stderr
    assert "40 invalid UTF-8 sequence(s) replaced" in r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input", "{missing}", "--vocab-size", "300"], "no such file or directory"),
        (["--input", "{empty}", "--vocab-size", "300"], "empty.txt: empty; the training corpus is empty"),
        (["--input", "{emptydir}", "--vocab-size", "300"], "holds no *.txt files"),
        (["--input", "{corpus}", "--vocab-size", "100"], "at least 256 bytes + 5 special tokens = 261"),
        (["--input", "{corpus}", "--vocab-size", "300", "--special", "<|a|>", "<|a|>"], "listed more than once"),
        (["--input", "{corpus}", "--vocab-size", "300", "--workers", "0"], "--workers must be at least 1"),
    ],
)
def test_train_bad_input(args, message, corpus, tmp_path):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "emptydir").mkdir()
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty.txt", "emptydir": tmp_path / "emptydir", "corpus": corpus}
    args = [a.format(**paths) for a in args]
    out = tmp_path / "out"
    r = run_cli("tokenizer", "train", *args, "--out", str(out))
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists()


def test_encode_with_missing_tokenizer(tmp_path):
    r = run_cli("tokenizer", "encode", "--tokenizer", str(tmp_path / "nope"), stdin="hi")
    assert r.returncode == 2 and "tokenizer directory not found" in r.stderr and "Traceback" not in r.stderr
