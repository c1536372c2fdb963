"""Tiny data, a tiny base run and helpers shared by the reliability tests (built once per session)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
DRIVER = HERE / "fault_driver.py"
# Tiny and fp32 on one thread: bit-exact comparisons need the same kernels in every process.
TINY = ["n_layer=2", "n_embd=32", "n_head=4", "n_kv_head=2", "block_size=32", "batch_size=4",
        "dtype=float32", "max_minutes=0", "log_every=1", "eval_batches=2", "dropout=0.1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def make_docs(seed: int, n: int = 60) -> list[str]:
    rng = random.Random(seed)
    facts = [("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Peru", "Lima"), ("Chad", "N'Djamena")]
    docs = []
    for _ in range(n):
        c, cap = rng.choice(facts)
        docs.append(" ".join(rng.choice([f"The capital of {c} is {cap}.", f"{cap} is in {c}.", "Bonjour à tous!"])
                             for _ in range(rng.randint(20, 40))))
    return docs


class Zygote:
    """fault_driver.py --serve: forks a fresh ``pocketgpt`` process per run (see its docstring)."""

    def __init__(self, logdir: Path):
        self.logdir, self.n = logdir, 0
        self.proc = subprocess.Popen([sys.executable, str(DRIVER), "--serve"], env=ENV, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def start(self, argv, kill: str = "none") -> tuple[int, Path]:
        """Start a run; return (its pid, its log). Call :meth:`wait` next."""
        self.n += 1
        log = self.logdir / f"run{self.n}.log"
        self.proc.stdin.write(json.dumps({"spec": kill, "argv": [str(a) for a in argv], "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["pid"], log

    def wait(self, log: Path) -> subprocess.CompletedProcess:
        line = self.proc.stdout.readline()
        assert line, "the zygote died"
        return subprocess.CompletedProcess([], json.loads(line)["code"], "", log.read_text(errors="replace"))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)
        self.proc.stdout.close()


_ZYGOTE: list = []  # one per test session, started on first use; closed (stdin shut, waited for) at exit


def zygote() -> Zygote:
    if not _ZYGOTE:
        import atexit
        import shutil
        import tempfile

        logs = Path(tempfile.mkdtemp(prefix="pocketgpt-zygote-"))
        atexit.register(shutil.rmtree, logs, True)
        _ZYGOTE.append(Zygote(logs))
        atexit.register(_ZYGOTE[0].close)  # runs before the rmtree (atexit is last in, first out)
    return _ZYGOTE[0]


def pocketgpt(*argv, kill: str = "none") -> subprocess.CompletedProcess:
    """``pocketgpt ARGV`` in a fresh process, SIGKILLed at ``kill`` (see fault_driver.py)."""
    z = zygote()
    _, log = z.start(argv, kill)
    return z.wait(log)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """(shards_dir, tokenizer_dir, docs_jsonl): ~300-id tokenizer, a few thousand tokens per split."""
    import json

    from pocketgpt.data import tokenize_to_shards
    from pocketgpt.tokenizer import train

    root = tmp_path_factory.mktemp("rel_data")
    docs = make_docs(0)
    train(docs, 300, progress=False).save(root / "tok")
    tokenize_to_shards(docs, root / "tok", root / "shards", val_fraction=0.25)
    with open(root / "docs.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    return root / "shards", root / "tok", root / "docs.jsonl"


@pytest.fixture(scope="session")
def base_run(tiny_data, tmp_path_factory):
    """A 6-step pretraining run: the base for SFT and the checkpoint the CLI cases read."""
    import torch

    from pocketgpt.train.config import build_config
    from pocketgpt.train.pretrain import run_pretraining

    shards, tok, _ = tiny_data
    out = tmp_path_factory.mktemp("rel_base") / "base"
    cfg = build_config("cpu-tiny", overrides=TINY + ["max_steps=6", "eval_every=3", "block_size=64"])
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run_pretraining(cfg, shards, out, tokenizer_dir=tok, progress=False)
    finally:
        torch.set_num_threads(n)
    return out


@pytest.fixture(scope="session")
def chats(tmp_path_factory):
    import json

    pairs = [("Who are you?", "I am pocketgpt, a small model."),
             ("What is the capital of France?", "The capital of France is Paris."),
             ("What is the capital of Spain?", "The capital of Spain is Madrid."),
             ("Hello!", "Hello! How can I help?")]
    path = tmp_path_factory.mktemp("rel_chat") / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for q, a in pairs] * 6
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def assistant(tmp_path_factory):
    """A tiny random assistant checkpoint whose tokenizer has the five chat specials."""
    import torch

    from pocketgpt.chat.format import format_info
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.tokenizer import Tokenizer, train
    from pocketgpt.train.checkpoint import save_checkpoint

    run = tmp_path_factory.mktemp("inject") / "run"
    tok = train(make_docs(5, 20) + ["<|end|> and <|user|> as plain text"], 300, progress=False)
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=320, block_size=512, n_layer=1, n_head=2, n_embd=16, n_kv_head=1)
    save_checkpoint(run, 1, model_state=GPT(cfg).state_dict(), optimizer_state=None, trainer_state={"step": 1},
                    config={"model": cfg.to_dict(), "train": {}, "assistant": True, "chat_format": format_info()},
                    tokenizer=tok)
    tok = Tokenizer.load(run / "checkpoints" / "step_000001" / "tokenizer")
    assert all(s in tok.special_tokens for s in ("<|user|>", "<|assistant|>", "<|system|>", "<|end|>",
                                                 "<|endoftext|>"))
    return run, tok
