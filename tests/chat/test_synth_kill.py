"""SIGKILL in the middle of ``pocketgpt data synth``, then a rerun: the same conversations as one
uninterrupted run (order aside), no duplicate, no half line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from fake_teacher import FakeTeacher

from pocketgpt.chat.data import read_jsonl

PROMPTS = [f"Tell me fact number {i}." for i in range(24)]


def _args(url, out, prompts):
    return ["data", "synth", "--base-url", url, "--model", "teacher", "--out", str(out), "--prompts", str(prompts),
            "--samples-per-prompt", "2", "--turns", "2", "--seed", "7", "--concurrency", "3", "--no-progress"]


def _lines(out):
    return (out / "chat.jsonl").read_bytes().decode("utf-8").splitlines()


def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path):
    from pocketgpt.cli import main

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    with FakeTeacher(delay_s=0.02) as teacher:
        assert main(_args(teacher.url, tmp_path / "whole", prompts)) == 0
        teacher.delay_s = 0.1  # slow enough to be killed halfway
        proc = subprocess.Popen([sys.executable, "-m", "pocketgpt", *_args(teacher.url, tmp_path / "killed", prompts)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
        chat = tmp_path / "killed" / "chat.jsonl"
        deadline = time.time() + 120
        while not (chat.exists() and chat.read_bytes().count(b"\n") >= 8):
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            assert time.time() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        partial = _lines(tmp_path / "killed")
        assert 8 <= len(partial) < 2 * len(PROMPTS)
        assert json.loads((tmp_path / "killed" / "manifest.json").read_text())["status"] == "running"
        teacher.delay_s = 0.0
        assert main(_args(teacher.url, tmp_path / "killed", prompts)) == 0
    whole, again = _lines(tmp_path / "whole"), _lines(tmp_path / "killed")
    assert again[:len(partial)] == partial  # appended to, never rewritten
    assert sorted(again) == sorted(whole) and len(set(again)) == len(again) == 2 * len(PROMPTS)
    assert len({json.loads(x)["id"] for x in again}) == len(again)
    assert len(read_jsonl(tmp_path / "killed" / "chat.jsonl")) == len(again)  # every line a valid conversation
    m = json.loads((tmp_path / "killed" / "manifest.json").read_text())
    assert m["status"] == "complete" and m["kept"] == len(again) and m["last_run"]["resumed_done"] == len(partial)
