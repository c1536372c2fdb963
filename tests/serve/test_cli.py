"""``pocketgpt serve`` as a process: binds loopback, API key, clean errors, clean shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx
from serve_testlib import free_port, wait_healthy


def _cli(*args, **kw):
    env = {**os.environ, "POCKETGPT_API_KEY": ""}
    return subprocess.Popen([sys.executable, "-m", "pocketgpt", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_serve_with_api_key_requires_bearer_and_stops_on_sigint(ckpts):
    port = free_port()
    proc = _cli("--checkpoint", str(ckpts["sft"]), "--checkpoint", f"second={ckpts['base']}", "--port", str(port),
                "--api-key", "s3cret", "--log-level", "warning")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url)
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        for auth in (None, "Bearer wrong", "Basic s3cret", "Bearer s3cret2"):
            r = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": auth} if auth else {})
            assert r.status_code == 401 and "API key" in r.json()["error"]["message"]
        ok = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        models = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer s3cret"}).json()["data"]
        assert [m["id"] for m in models] == ["sft", "second"]
        assert httpx.get(url + "/").status_code == 200  # the page itself is public; it asks for the key
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in err


def test_serve_bad_checkpoint_is_a_clean_error(tmp_path):
    proc = _cli("--checkpoint", str(tmp_path / "missing"), "--port", str(free_port()))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert "missing: no such checkpoint" in err and "Traceback" not in err


def test_port_in_use_is_a_clean_error_before_loading(ckpts, capsys):
    import socket

    from pocketgpt.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", "--checkpoint", str(ckpts["sft"]), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "Traceback" not in err
