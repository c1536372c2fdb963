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


def write_docs(folder: Path, files: int, docs_per_file: int) -> Path:
    folder.mkdir()
    for k in range(files):
        with open(folder / f"{k}.jsonl", "w") as f:
            for i in range(docs_per_file):
                f.write(json.dumps({"text": f"Document {k}.{i}: the capital of France is Paris. " * 25}) + "\n")
    return folder


def test_workers_from_a_slurm_array_then_info_and_merge(tmp_path, tok_dir, capsys, monkeypatch):
    src = write_docs(tmp_path / "in", 3, 40)
    common = ["--input", src, "--tokenizer", tok_dir, "--shard-tokens", "5000", "--no-progress", "--workers", "1"]
    assert run("tokenize", *common, "--out", tmp_path / "one") == 0
    out = tmp_path / "many"
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")  # --array=1-2: the second task is worker 1
    assert run("tokenize", *common, "--out", out) == 0
    captured = capsys.readouterr()
    assert "worker 1 of 2 (from SLURM_ARRAY_TASK_ID=2" in captured.err
    assert f"pocketgpt data merge {out}" in captured.out
    assert run("info", out) == 0
    info = capsys.readouterr().out
    assert "part-00001-of-00002    done" in info and "not ready to merge" in info and "part 0 of 2 is missing" in info
    assert run("merge", out) == 2
    assert "part 0 of 2 is missing" in capsys.readouterr().err
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "1")
    assert run("tokenize", *common, "--out", out) == 0
    assert run("merge", out) == 0
    assert "merged 2 part(s)" in capsys.readouterr().out
    assert run("info", out) == 0
    assert "merged from 2 part(s)" in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "one").glob("*.npy"))
    assert len(names) > 2 and names == sorted(p.name for p in out.glob("*.npy"))
    assert all((tmp_path / "one" / n).read_bytes() == (out / n).read_bytes() for n in names)
    # flags win over the environment, and are range-checked
    assert run("tokenize", *common, "--out", out, "--num-shards", "2", "--shard-index", "2") == 2
    assert "shard index 2 is out of range for 2 shard(s) (from --shard-index" in capsys.readouterr().err


def test_a_worker_killed_mid_way_and_rerun_merges_to_the_same_dataset(tmp_path, tok_dir):
    src = write_docs(tmp_path / "in", 4, 560)  # ~0.65 MB a file: each worker gets two 1 MiB chunks
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def argv(out, *extra):
        return ["data", "tokenize", "--input", str(src), "--tokenizer", str(tok_dir), "--out", str(out),
                "--shard-tokens", "20000", "--workers", "1", "--no-progress", *extra]

    clean, out = tmp_path / "clean", tmp_path / "parts"
    assert main(argv(clean)) == 0
    assert main(argv(out, "--num-shards", "2", "--shard-index", "0")) == 0
    part = out / "parts" / "part-00001-of-00002"
    # worker 1 as its own process (as one task of a job array), killed once it has written a shard
    proc = subprocess.Popen([sys.executable, "-m", "pocketgpt", *argv(out, "--num-shards", "2", "--shard-index", "1")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline and not list(part.glob("tokens_*.npy")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    if proc.returncode != 0:  # killed mid-way (else it finished first; the comparison still holds)
        assert not (part / "index.json").exists() and (part / ".progress.json").exists()
        assert main(["data", "merge", str(out)]) == 2  # an unfinished part is not merged
    listed = json.loads((part / ".progress.json").read_text())["tokens"]["shards"] if proc.returncode else []
    kept = {s["file"]: (part / s["file"]).stat().st_mtime_ns for s in listed}
    assert main(argv(out, "--num-shards", "2", "--shard-index", "1")) == 0
    assert {n: (part / n).stat().st_mtime_ns for n in kept} == kept  # the files it had recorded were kept
    assert main(["data", "merge", str(out)]) == 0
    names = sorted(p.name for p in clean.glob("*.npy"))
    assert len(names) > 3 and names == sorted(p.name for p in out.glob("*.npy"))
    for n in names:
        assert (clean / n).read_bytes() == (out / n).read_bytes()
