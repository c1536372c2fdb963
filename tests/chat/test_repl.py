"""The chat session and REPL: commands, history, context overflow, stdin and a pty, --prompt."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
import torch

from pocketgpt.chat.repl import ChatSession, ChatSettings, run_repl
from pocketgpt.errors import UserError


def _model(tok, block_size=64):
    from pocketgpt.model import GPT, GPTConfig

    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=320, block_size=block_size, n_layer=1, n_head=2, n_embd=16)).eval()


def _checkpoint(tok, path, assistant: bool):
    from pocketgpt.chat.format import format_info
    from pocketgpt.train import checkpoint as ckpt

    m = _model(tok)
    extra = {"assistant": True, "chat_format": format_info()} if assistant else {}
    ckpt.save_checkpoint(path, 1, model_state=m.state_dict(), optimizer_state=None,
                         trainer_state={"step": 1, "tokens": 0}, config={"model": m.config.to_dict(), **extra},
                         tokenizer=tok)
    return path


class Recorder:
    def __init__(self):
        self.notes = []

    def __call__(self, msg):
        self.notes.append(msg)


def test_history_is_kept_and_reset(tok):
    notes = Recorder()
    s = ChatSession(_model(tok, 256), tok, settings=ChatSettings(temperature=0, max_new_tokens=6), notice=notes)
    first = "".join(s.reply("Hello!"))
    assert s.history == [{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": first.strip()}]
    ids = s.prompt_ids("Who are you?")
    from pocketgpt.chat.format import render_for_completion

    assert ids == render_for_completion(s.history + [{"role": "user", "content": "Who are you?"}], tok)
    s.system = "Be brief."
    assert s.prompt_ids("x")[:2] == [tok.special_tokens["<|endoftext|>"], tok.special_tokens["<|system|>"]]
    s.reset()
    assert s.history == [] and not notes.notes


def test_overflow_drops_oldest_turns_and_says_so(tok):
    notes = Recorder()
    s = ChatSession(_model(tok, 64), tok, settings=ChatSettings(max_new_tokens=16), notice=notes)
    s.history = []
    for i in range(6):
        s.history += [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": f"answer {i}"}]
    ids = s.prompt_ids("last")
    assert len(ids) + 16 <= 64
    assert s.history and s.history[-1]["content"] == "answer 5"  # the newest turns survive
    assert s.history[0]["content"] != "question 0"
    assert len(notes.notes) == 1 and "dropped the" in notes.notes[0] and "oldest" in notes.notes[0]
    with pytest.raises(UserError, match="leave no room for a reply"):
        s.prompt_ids("very long message " * 40)


def test_commands_through_a_stdin_stream(tok):
    notes = Recorder()
    s = ChatSession(_model(tok, 128), tok, settings=ChatSettings(temperature=1.0, max_new_tokens=4, seed=1),
                    notice=notes)
    out = io.StringIO()
    script = "hi\n/temp 0\n/temp nope\n/system Be brief.\n/reset\n/bogus\n\n/system\nhello\n/quit\nnever read\n"
    assert run_repl(s, io.StringIO(script), out, interactive=False) == 0
    assert s.settings.temperature == 0
    assert notes.notes == ["[temperature 0]", "[/temp: expected a number >= 0 (0 = greedy), got 'nope']",
                           "[system message set: Be brief.]", "[conversation cleared]",
                           "[unknown command /bogus; commands: /reset, /system TEXT, /temp X, /help, /quit]",
                           "[system message removed]"]
    assert s.system is None
    assert out.getvalue().count("\n") == 2  # two replies, one line each; nothing after /quit


def _run_cli(args, stdin_text=None, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pocketgpt", *args], input=stdin_text, capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_cli_prompt_mode_and_base_warning(tok, tmp_path, capsys):
    from pocketgpt.cli import main

    base = _checkpoint(tok, tmp_path / "base", assistant=False)
    sft = _checkpoint(tok, tmp_path / "sft", assistant=True)
    r = _run_cli(["chat", "--checkpoint", str(base), "--prompt", "Hello", "--temperature", "0",
                  "--max-new-tokens", "5"])
    assert r.returncode == 0, r.stderr
    assert "is a base model" in r.stderr and "Chatting anyway" in r.stderr
    assert r.stdout.endswith("\n") and r.stdout.count("\n") == 1
    # in-process --prompt on the assistant checkpoint: no warning, the greedy reply of a session
    assert main(["chat", "--checkpoint", str(sft), "--prompt", "Hello", "--temperature", "0",
                 "--max-new-tokens", "5"]) == 0
    got = capsys.readouterr()
    assert "base model" not in got.err
    want = "".join(ChatSession(_model(tok), tok, settings=ChatSettings(temperature=0, max_new_tokens=5)).reply("Hello"))
    assert got.out == want + "\n"
    # the REPL driven through stdin by a real process answers the same
    r3 = _run_cli(["chat", "--checkpoint", str(sft), "--temperature", "0", "--max-new-tokens", "5"],
                  stdin_text="Hello\n/quit\n")
    assert r3.returncode == 0 and r3.stdout == got.out
    assert main(["chat", "--checkpoint", str(tmp_path / "nope"), "--prompt", "x"]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


@pytest.mark.skipif(sys.platform == "win32", reason="pty is POSIX")
def test_repl_in_a_pseudo_terminal(tok, tmp_path):
    import pty
    import select

    sft = _checkpoint(tok, tmp_path / "sft", assistant=True)
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pocketgpt", "chat", "--checkpoint", str(sft), "--temperature",
                             "0", "--max-new-tokens", "4"], stdin=child_fd, stdout=child_fd, stderr=child_fd,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, close_fds=True)
    os.close(child_fd)
    seen = b""

    def read_until(marker: bytes, timeout=90):
        nonlocal seen
        import time

        end = time.time() + timeout
        while marker not in seen and time.time() < end:
            r, _, _ = select.select([main_fd], [], [], 0.5)
            if r:
                try:
                    seen += os.read(main_fd, 4096)
                except OSError:
                    break
        return marker in seen

    try:
        assert read_until(b"you> "), seen
        os.write(main_fd, b"/temp 0.5\n")
        assert read_until(b"[temperature 0.5]"), seen
        os.write(main_fd, b"Hello\n")
        assert read_until(b"pocketgpt> "), seen
        seen = seen.split(b"pocketgpt> ", 1)[1]
        assert read_until(b"you> "), seen
        os.write(main_fd, b"/quit\n")
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main_fd)


def test_plain_transcript_for_a_tokenizer_without_chat_tokens():
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.tokenizer import train

    bare = train(["User: hi\nAssistant: hello\n"] * 3, vocab_size=270, special_tokens=("<|endoftext|>",))
    model = GPT(GPTConfig(vocab_size=270, block_size=64, n_layer=1, n_head=2, n_embd=16)).eval()
    s = ChatSession(model, bare, system="Be nice.", settings=ChatSettings(temperature=0, max_new_tokens=8))
    assert not s.chat_tokens
    assert bare.decode(s.prompt_ids("hi")) == "Be nice.\n\nUser: hi\nAssistant:"
    reply = "".join(s.reply("hi"))
    assert "\nUser:" not in reply
