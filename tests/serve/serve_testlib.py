"""Helpers for tests that serve a checkpoint: a tiny one to serve, and ``pocketgpt serve`` as a process
(serving, eval and synth tests)."""

from __future__ import annotations

import socket
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc, url: str, timeout_s: float = 90) -> None:
    """Poll ``url``/health until it answers 200; fail with the server's stderr if it exits."""
    deadline = time.time() + timeout_s
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.time() < deadline, "server did not come up"
        time.sleep(0.2)


TEXT = ["What is the capital of France? The capital of France is Paris. Hello! How are you? I am fine.",
        "Who are you? I am pocketgpt, a small language model. café naïve 日本語 emoji 🙂 <|end|> text"]


def make_checkpoint(run_dir, *, assistant: bool, seed: int, arch: str = "modern", block_size: int = 64):
    """A random tiny GPT + a tiny trained tokenizer, written with the real checkpoint writer."""
    import torch

    from pocketgpt.chat.format import format_info
    from pocketgpt.model import GPT, GPTConfig
    from pocketgpt.tokenizer import train
    from pocketgpt.train.checkpoint import save_checkpoint

    tok = train(TEXT * 3, vocab_size=300, progress=False)
    torch.manual_seed(seed)
    # vocab 320 > 300 tokenizer ids: the padded rows must never be sampled.
    cfg = GPTConfig(vocab_size=320, block_size=block_size, n_layer=2, n_head=4, n_embd=32, arch=arch,
                    n_kv_head=4 if arch == "gpt2" else 2, tie_embeddings=arch == "gpt2")
    # (An untied random model does not just repeat its last input token, which for a
    # chat prompt is <|assistant|>, a stop token: its replies have some tokens.)
    model = GPT(cfg)
    config = {"model": cfg.to_dict(), "train": {}}
    if assistant:
        config.update({"assistant": True, "chat_format": format_info()})
    save_checkpoint(run_dir, 1, model_state=model.state_dict(), optimizer_state=None,
                    trainer_state={"step": 1}, config=config, tokenizer=tok)
    return run_dir
