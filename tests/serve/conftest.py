"""Tiny checkpoints (a base and an "assistant") and a live server, shared by the serving tests."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for serve_testlib

from serve_testlib import free_port  # noqa: E402

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


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve_ckpts")
    return {"sft": make_checkpoint(root / "sft", assistant=True, seed=1),
            "base": make_checkpoint(root / "base", assistant=False, seed=2, arch="gpt2")}


class LiveServer:
    """uvicorn in a background thread on a free loopback port."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            if not self.thread.is_alive() or time.time() - t0 > 30:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="session")
def app_config():
    from pocketgpt.serve.app import ServeConfig

    return ServeConfig(max_tokens_cap=48, max_body_bytes=64 * 1024, request_timeout_s=30.0, max_batch=4)


@pytest.fixture(scope="session")
def server(ckpts, app_config):
    """One server with both checkpoints (assistant first), for the whole session."""
    from pocketgpt.serve.app import create_app

    app = create_app([str(ckpts["sft"]), str(ckpts["base"])], app_config)
    with LiveServer(app) as live:
        yield live


@pytest.fixture(scope="session")
def long_server(tmp_path_factory):
    """A base model with a 2048-token context and a high cap: replies long enough to disconnect from.

    It is a random GPT-2 with tied embeddings, which greedily repeats its last input token
    forever, so a greedy reply never stops by itself before max_tokens.
    """
    from pocketgpt.serve.app import ServeConfig, create_app

    ckpt = make_checkpoint(tmp_path_factory.mktemp("long") / "long", assistant=False, seed=3, arch="gpt2",
                           block_size=2048)
    with LiveServer(create_app([str(ckpt)], ServeConfig(max_tokens_cap=2000))) as live:
        yield live


@pytest.fixture(scope="session")
def keyed_server(ckpts):
    """The assistant alone, behind an API key."""
    from pocketgpt.serve.app import ServeConfig, create_app

    with LiveServer(create_app([str(ckpts["sft"])], ServeConfig(api_key="k3y", max_tokens_cap=16))) as live:
        yield live
