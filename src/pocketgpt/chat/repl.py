"""The chat session and REPL behind ``pocketgpt chat``.

A :class:`ChatSession` keeps the history, renders it in the chat format, drops the
oldest turns when the prompt would not leave room for a reply (and says so), and
streams the reply through :mod:`pocketgpt.generate`. :func:`run_repl` reads lines and
handles the commands::

    /reset         forget the conversation (the system message stays)
    /system TEXT   set the system message (no TEXT: remove it)
    /temp X        sampling temperature (0 = greedy)
    /help          this list
    /quit          leave (so does end of input)

A tokenizer without the chat special tokens (an imported base model) gets a plain
``User: ... / Assistant:`` transcript instead, stopped at the next ``User:``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from pocketgpt.chat.format import SPECIALS, render_for_completion, stop_ids
from pocketgpt.errors import UserError

HELP = "commands: /reset, /system TEXT, /temp X, /help, /quit"


@dataclass
class ChatSettings:
    temperature: float = 0.7
    top_k: int | None = 50
    top_p: float | None = None
    max_new_tokens: int = 256
    seed: int | None = None


class ChatSession:
    """History plus generation for one model.

    >>> import torch
    >>> from pocketgpt.model import GPT, GPTConfig
    >>> from pocketgpt.tokenizer import train
    >>> tok = train(["hello there"] * 3, vocab_size=270)
    >>> model = GPT(GPTConfig(vocab_size=270, block_size=64, n_layer=1, n_head=2, n_embd=16))
    >>> s = ChatSession(model, tok, settings=ChatSettings(temperature=0, max_new_tokens=5))
    >>> reply = "".join(s.reply("hello"))
    >>> len(s.history) in (0, 2)
    True
    """

    def __init__(self, model, tokenizer, *, system: str | None = None, settings: ChatSettings | None = None,
                 notice=None):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.settings = settings or ChatSettings()
        self.system = system or None
        self.history: list[dict] = []
        self.notice = notice or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.chat_tokens = all(s in tokenizer.special_tokens for s in SPECIALS)
        self.block_size = model.config.block_size

    def reset(self) -> None:
        self.history = []

    def _render(self, messages: list[dict]) -> list[int]:
        if self.chat_tokens:
            return render_for_completion(messages, self.tokenizer)
        text = "".join(f"{m['content']}\n\n" if m["role"] == "system" else
                       f"{'User' if m['role'] == 'user' else 'Assistant'}: {m['content']}\n" for m in messages)
        return self.tokenizer.encode(text + "Assistant:")

    def prompt_ids(self, user_text: str) -> list[int]:
        """The prompt for ``user_text``, dropping the oldest turns until a reply has room."""
        room = min(self.settings.max_new_tokens, self.block_size // 2)
        sys_msg = [{"role": "system", "content": self.system}] if self.system else []
        user = [{"role": "user", "content": user_text}]
        dropped = 0
        while True:
            ids = self._render(sys_msg + self.history + user)
            if len(ids) + room <= self.block_size or not self.history:
                break
            self.history = self.history[2:]
            dropped += 1
        if dropped:
            self.notice(f"[context full: dropped the {dropped} oldest exchange(s) to fit the model's "
                        f"{self.block_size}-token window]")
        if len(ids) + min(room, 16) > self.block_size:
            raise UserError(f"message: {len(ids)} tokens with the system message leave no room for a reply in the "
                            f"model's {self.block_size}-token window; write something shorter")
        return ids

    def reply(self, user_text: str):
        """Yield the reply's text as it is generated, then record the exchange."""
        from pocketgpt.generate import stream

        if not user_text.strip():
            return
        ids = self.prompt_ids(user_text)
        s = self.settings
        extra = {} if self.chat_tokens else {"stop": ("\nUser:",)}
        stops = stop_ids(self.tokenizer) if self.chat_tokens else [self.tokenizer.eot_id]
        budget = min(s.max_new_tokens, self.block_size - len(ids))
        parts = []
        try:
            for tok in stream(self.model, ids, budget, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
                              seed=s.seed, stop_ids=stops, tokenizer=self.tokenizer, **extra):
                if tok.text:
                    parts.append(tok.text)
                    yield tok.text
        finally:  # an interrupted reply is kept as far as it got
            text = "".join(parts).strip()
            if text:
                self.history += [{"role": "user", "content": user_text}, {"role": "assistant", "content": text}]


def handle_command(session: ChatSession, line: str) -> bool:
    """Run a ``/command``; return False for ``/quit``. Messages go to ``session.notice``."""
    cmd, _, arg = line.strip().partition(" ")
    arg = arg.strip()
    if cmd in ("/quit", "/exit"):
        return False
    if cmd == "/reset":
        session.reset()
        session.notice("[conversation cleared]")
    elif cmd == "/system":
        session.system = arg or None
        session.notice(f"[system message set: {arg}]" if arg else "[system message removed]")
    elif cmd == "/temp":
        try:
            t = float(arg)
            if not t >= 0:
                raise ValueError
        except ValueError:
            session.notice(f"[/temp: expected a number >= 0 (0 = greedy), got {arg!r}]")
        else:
            session.settings.temperature = t
            session.notice(f"[temperature {t:g}]")
    elif cmd == "/help":
        session.notice(HELP)
    else:
        session.notice(f"[unknown command {cmd}; {HELP}]")
    return True


def run_repl(session: ChatSession, stdin=None, stdout=None, *, interactive: bool | None = None) -> int:
    """Read a message per line until /quit or end of input; stream each reply to ``stdout``."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    if interactive is None:
        interactive = stdin.isatty()
    if interactive:
        session.notice(f"pocketgpt chat ({HELP}; Ctrl-D quits)")
    while True:
        try:
            if interactive and stdin is sys.stdin:
                line = input("you> ")
            else:
                if interactive:
                    stdout.write("you> ")
                    stdout.flush()
                line = stdin.readline()
                if not line:
                    break
        except EOFError:
            break
        except KeyboardInterrupt:
            break
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if line.startswith("/"):
            if not handle_command(session, line):
                break
            continue
        if interactive:
            stdout.write("pocketgpt> ")
        try:
            for delta in session.reply(line):
                stdout.write(delta)
                stdout.flush()
        except KeyboardInterrupt:
            stdout.write(" [interrupted]")
        except UserError as e:
            session.notice(f"[{e}]")
        stdout.write("\n")
        stdout.flush()
    if interactive:
        stdout.write("\n")
    return 0
