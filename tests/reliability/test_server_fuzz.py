"""Fuzz the API from its own /openapi.json with schemathesis: no 5xx, and still healthy after.

Every operation gets schema-valid requests (positive mode) and schema-breaking ones
(negative mode: wrong types, missing fields, out-of-range values); the server is a real
uvicorn on loopback with two tiny models, a short per-request timeout and a small token cap,
so a few hundred cases take well under a minute (the ``slow`` variant sends about 4x more).
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable


class Server:
    """uvicorn in a thread on a free loopback port."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        t0 = time.time()
        while not self.server.started:
            assert self.thread.is_alive() and time.time() - t0 < 30, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture(scope="module")
def live(assistant, base_run):
    from pocketgpt.serve.app import ServeConfig, create_app

    cfg = ServeConfig(max_tokens_cap=4, request_timeout_s=20.0, max_batch=4, max_body_bytes=64 * 1024)
    with Server(create_app([f"chat={assistant[0]}", f"base={base_run}"], cfg)) as srv:
        yield srv


def _sane(live) -> None:
    import httpx

    assert httpx.get(live.url + "/health", timeout=10).status_code == 200
    r = httpx.post(live.url + "/v1/chat/completions", timeout=30,
                   json={"model": "chat", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["role"] == "assistant"


def _aim(case) -> None:
    """Point every other valid request at a served model within the token cap, so the fuzz
    reaches generation (random model names and budgets are otherwise almost always 4xx)."""
    if isinstance(case.body, dict):
        if "model" in case.body:
            case.body["model"] = "base" if "/completions" == case.path[-12:] else "chat"
        if isinstance(case.body.get("max_tokens"), int) and not isinstance(case.body["max_tokens"], bool):
            case.body["max_tokens"] = max(1, min(case.body["max_tokens"], 4))
    if case.path_parameters and "model_id" in case.path_parameters:
        case.path_parameters["model_id"] = "chat"


@pytest.mark.parametrize("positive,negative", [
    pytest.param(50, 30, id="default"),
    pytest.param(250, 120, id="long", marks=pytest.mark.slow),
])
def test_fuzz_openapi_no_5xx_and_healthy_after(live, positive, negative):
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 6
    counts = {"cases": 0, "2xx": 0, "4xx": 0}
    failures = []
    for op in ops:
        for mode, n in ((GenerationMode.POSITIVE, positive), (GenerationMode.NEGATIVE, negative)):
            @settings(max_examples=n, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=op.as_strategy(generation_mode=mode))
            def run(case):
                if mode == GenerationMode.POSITIVE and counts["cases"] % 2:
                    _aim(case)
                resp = case.call(base_url=live.url, timeout=30)
                counts["cases"] += 1
                if resp.status_code < 500:
                    counts["2xx" if resp.status_code < 400 else "4xx"] += 1
                if resp.status_code >= 500:
                    failures.append((op.label, mode.value, resp.status_code, resp.text[:200]))
                assert resp.status_code < 500, f"{op.label}: {resp.status_code} {resp.text[:300]}"

            try:
                run()
            except Unsatisfiable:
                # an operation without parameters or body has no schema-breaking input
                assert mode == GenerationMode.NEGATIVE, op.label
    assert not failures
    _sane(live)
    print(f"\nfuzz: {counts['cases']} requests over {len(ops)} operations: {counts['2xx']} 2xx, "
          f"{counts['4xx']} 4xx, 0 5xx; healthy after")
