"""Bounds and auth: a malicious pickle in a checkpoint runs no code; the API key guards every
route and is compared in constant time (checked by behaviour, not by timing)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from pocketgpt.cli import main
from pocketgpt.train import checkpoint as ckpt

from .conftest import TINY


class Boom:
    """Unpickling this calls ``os.system``: a file appears if pickle code ever runs."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(run, step_name, marker):
    """Replace optimizer.pt of one checkpoint by a code-running pickle, with a matching manifest
    (so the checksum passes and only weights_only=True stands in the way)."""
    import torch

    d = run / "checkpoints" / step_name
    state = torch.load(d / "optimizer.pt", weights_only=True)
    state["evil"] = Boom(marker)
    torch.save(state, d / "optimizer.pt")
    manifest = json.loads((d / "manifest.json").read_text())
    manifest["files"]["optimizer.pt"] = hashlib.sha256((d / "optimizer.pt").read_bytes()).hexdigest()
    (d / "manifest.json").write_text(json.dumps(manifest))
    ckpt.verify_checkpoint(d)


def test_malicious_optimizer_pickle_is_refused_and_runs_no_code(tiny_data, base_run, tmp_path, capsys):
    import pickle

    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    newest = ckpt.list_checkpoints(run)[-1][1].name
    marker = tmp_path / "pwned"
    _plant(run, newest, marker)
    # the payload is live: a plain pickle load of the same object does run its code
    pickle.loads(pickle.dumps(Boom(tmp_path / "control")))
    assert (tmp_path / "control").exists()
    shards, tok, _ = tiny_data
    code = main(["pretrain", "--data", str(shards), "--tokenizer", str(tok), "--out", str(run), "--no-progress",
                 "--resume", *TINY, "max_steps=8", "eval_every=3", "block_size=64"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert "optimizer.pt: refused to load" in err and "possibly malicious" in err and "posix.system" in err
    assert not marker.exists()  # no code ran
    print(f"\nmalicious optimizer.pt: exit 2, no code ran; {err.strip()[:400]}")
    # the weights are safetensors: loading the model for inference never touches the pickle
    _, _, info = ckpt.load_checkpoint(run)
    assert info["path"].name == newest and not marker.exists()


@pytest.fixture(scope="module")
def keyed_app(assistant):
    from fastapi.testclient import TestClient

    from pocketgpt.serve.app import ServeConfig, create_app

    with TestClient(create_app([f"base={assistant[0]}"], ServeConfig(api_key="k3y-Secret", max_tokens_cap=2))) as client:
        yield client


def _protected_routes(client) -> list[tuple[str, str]]:
    """Every operation in /openapi.json except the public page, /health and the schema itself."""
    spec = client.get("/openapi.json").json()
    return [(m.upper(), p) for p, ops in spec["paths"].items() for m in ops if p not in ("/", "/health")]


def test_every_route_needs_the_key(keyed_app):
    routes = _protected_routes(keyed_app)
    assert {("POST", "/v1/chat/completions"), ("POST", "/v1/completions"), ("GET", "/v1/models"),
            ("POST", "/v1/tokenize")} <= set(routes)
    chat = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
    for method, path in routes:
        path = path.replace("{model_id}", "base")
        body = chat if "chat" in path else {"prompt": "hi", **({} if "tokenize" in path else {"max_tokens": 1})}
        for auth in (None, "Bearer ", "Bearer wrong", "Bearer k3y-Secre", "Bearer k3y-Secret2", "Basic k3y-Secret",
                     "k3y-Secret"):
            headers = {"Authorization": auth} if auth is not None else {}
            r = keyed_app.request(method, path, json=body if method == "POST" else None, headers=headers)
            assert r.status_code == 401, (method, path, auth, r.status_code)
            assert r.headers.get("www-authenticate") == "Bearer"
        r = keyed_app.request(method, path, json=body if method == "POST" else None,
                              headers={"Authorization": "Bearer k3y-Secret"})
        assert r.status_code == 200, (method, path, r.text)
    assert keyed_app.get("/health").status_code == 200 and keyed_app.get("/").status_code == 200
    print(f"\nauth: {len(routes)} protected routes x 7 bad credentials -> 401 each; right key -> 200")


def test_key_check_is_hmac_compare_digest_only(keyed_app, monkeypatch):
    """Constant time by construction: every request's key goes through hmac.compare_digest,
    and its verdict alone decides (a stub that says yes lets a wrong key in, one that says
    no keeps the right key out), so no short-circuiting == runs on the secret."""
    import hmac

    import pocketgpt.serve.app as app_mod

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(app_mod.hmac, "compare_digest", spy)
    for key in ("x", "k3y-Secre", "k3y-Secret", "k3y-Secret-and-more" * 10):
        keyed_app.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert [a for a, _ in calls] == [b"x", b"k3y-Secre", b"k3y-Secret", ("k3y-Secret-and-more" * 10).encode()]
    assert all(b == b"k3y-Secret" for _, b in calls)

    monkeypatch.setattr(app_mod.hmac, "compare_digest", lambda a, b: True)
    assert keyed_app.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 200
    monkeypatch.setattr(app_mod.hmac, "compare_digest", lambda a, b: False)
    assert keyed_app.get("/v1/models", headers={"Authorization": "Bearer k3y-Secret"}).status_code == 401
