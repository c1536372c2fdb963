"""``pocketgpt data synth`` with ``pocketgpt serve`` as the teacher, then ``pocketgpt sft`` on the result.

A real ``pocketgpt serve`` process on loopback serves a tiny random assistant checkpoint;
synth asks it over HTTP with the official client, and the conversations it writes are
read back by the SFT data reader and trained on for a few steps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "serve"))  # for serve_testlib

from serve_testlib import free_port, make_checkpoint, wait_healthy  # noqa: E402


def test_synth_from_served_checkpoint_then_sft_trains(tmp_path, capsys):
    from pocketgpt.chat.data import load_conversations
    from pocketgpt.cli import main
    from pocketgpt.train import load_checkpoint

    teacher = make_checkpoint(tmp_path / "teacher", assistant=True, seed=1, block_size=1024)  # room for 2 turns
    base = make_checkpoint(tmp_path / "base", assistant=False, seed=2, block_size=256)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pocketgpt", "serve", "--checkpoint", f"big={teacher}",
                             "--port", str(port), "--log-level", "warning"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "POCKETGPT_API_KEY": ""})
    prompts = [f"What is the capital of country {i}?" for i in range(3)] + ["Hello! How are you?"]
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    out = tmp_path / "synth"
    try:
        wait_healthy(proc, f"http://127.0.0.1:{port}")
        # A random model rarely stops by itself: --keep-truncated keeps its length-cut replies.
        rc = main(["data", "synth", "--base-url", f"http://127.0.0.1:{port}/v1", "--model", "big", "--out", str(out),
                   "--prompts", str(tmp_path / "prompts.txt"), "--samples-per-prompt", "2", "--turns", "2",
                   "--max-tokens", "12", "--temperature", "1.0", "--seed", "3", "--keep-truncated",
                   "--concurrency", "3", "--no-progress"])
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["tasks"] == 2 * len(prompts)
    assert manifest["teacher"] == {"base_url": f"http://127.0.0.1:{port}/v1", "model": "big"}
    assert manifest["kept"] + sum(manifest["dropped"].values()) == manifest["tasks"]
    assert manifest["kept"] >= len(prompts)  # empty replies of a random model are dropped; most are not empty
    lines = (out / "chat.jsonl").read_text().splitlines()
    assert len(lines) == manifest["kept"]
    convs = load_conversations([out])  # the directory, as `sft --data` reads it: chat.jsonl only
    assert len(convs) == manifest["kept"]
    for c in convs:
        assert [m["role"] for m in c.messages] == ["user", "assistant"] * 2
        assert c.messages[0]["content"] in prompts and c.meta["source"] == "synth"
    # the server's own token counts: 3 requests per kept conversation (answer, follow-up, answer)
    rows = [json.loads(line) for line in lines]
    assert all(r["usage"]["requests"] == 3 for r in rows)
    assert manifest["usage"]["completion_tokens"] >= sum(r["usage"]["completion_tokens"] for r in rows) > 0

    rc = main(["sft", "--base", str(base), "--data", str(out), "--out", str(tmp_path / "sft"), "--max-steps", "3",
               "--no-progress", "batch_size=2", "dtype=float32", "device=cpu", "eval_every=1000"])
    assert rc == 0, capsys.readouterr().err
    _, _, info = load_checkpoint(tmp_path / "sft")
    assert info["step"] == 3
