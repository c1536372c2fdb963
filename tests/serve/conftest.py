"""Tiny checkpoints (a base and an "assistant") and a live server, shared by the serving tests."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for serve_testlib

from serve_testlib import free_port, make_checkpoint  # noqa: E402


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
