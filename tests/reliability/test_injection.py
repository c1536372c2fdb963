"""Special-token injection, as a property: typed or loaded text never becomes a control token.

Hypothesis builds content out of the chat specials (``<|user|>``, ``<|assistant|>``,
``<|system|>``, ``<|end|>``, ``<|endoftext|>``), their fragments and arbitrary text, and
sends it through every entry point: SFT data (a JSON Lines file through
``load_conversations`` and ``encode_conversations``), the CLI chat (``pocketgpt chat
--prompt/--system``), the API (chat and completions), and the web UI's request path (its
exact streamed request body and its ``/v1/tokenize`` inspector call).

The reference is structural: the control tokens of a prompt must be exactly those of the
same conversation with every content replaced by a plain ``x``, in the same order; and
the non-control tokens must decode back to the content.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SPECIALS = ["<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "<|endoftext|>"]
PIECES = SPECIALS + ["<|", "|>", "<|end", "user|>", "<|endoftext", "<||>", "\n", " "]
evil = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), min_size=1, max_size=8).map("".join).filter(
    lambda s: s.strip())
FAST = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def plain(messages):
    return [{**m, "content": "x"} for m in messages]


def control(tok, ids) -> list[int]:
    specials = set(tok.special_tokens.values())
    return [i for i in ids if i in specials]


def check(tok, ids, messages) -> None:
    """Control tokens exactly as for plain content; the content survives as text."""
    from pocketgpt.chat.format import render_for_completion

    assert control(tok, ids) == control(tok, render_for_completion(plain(messages), tok))
    text = tok.decode([i for i in ids if i not in set(tok.special_tokens.values())])
    assert text == "".join(m["content"] for m in messages)


def conversation(system, user, reply, user2):
    msgs = [{"role": "system", "content": system}] if system is not None else []
    return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": reply},
                   {"role": "user", "content": user2}]


@FAST
@given(system=st.one_of(st.none(), evil), user=evil, reply=evil)
def test_sft_data_file(assistant, tmp_path_factory, system, user, reply):
    from pocketgpt.chat.batches import encode_conversations
    from pocketgpt.chat.data import load_conversations
    from pocketgpt.chat.format import render

    _, tok = assistant
    msgs = conversation(system, user, reply, "again?") + [{"role": "assistant", "content": reply}]
    path = tmp_path_factory.mktemp("sft_inj") / "chat.jsonl"
    path.write_text(json.dumps({"messages": msgs}) + "\n", encoding="utf-8")
    convs = load_conversations([path])
    (ex,), _ = encode_conversations(convs, tok, 4096)
    want_ids, _ = render(plain(msgs), tok)
    assert control(tok, ex.ids) == control(tok, want_ids)
    specials = set(tok.special_tokens.values())
    assert tok.decode([i for i in ex.ids if i not in specials]) == "".join(m["content"] for m in msgs)


@FAST
@given(system=st.one_of(st.none(), evil), user=evil)
def test_cli_chat(assistant, monkeypatch, capsys, system, user):
    import pocketgpt.generate as gen
    from pocketgpt.cli import main

    run, tok = assistant
    seen = []

    def fake_stream(model, ids, *a, **kw):
        seen.append(list(ids))
        return iter(())

    monkeypatch.setattr(gen, "stream", fake_stream)
    # --opt=VALUE, as a shell user passes text that may begin with "-"
    argv = ["chat", "--checkpoint", str(run), f"--prompt={user}", "--max-new-tokens", "4"]
    if system is not None:
        argv.append(f"--system={system}")
    assert main(argv) == 0, capsys.readouterr().err
    capsys.readouterr()
    msgs = ([{"role": "system", "content": system}] if system is not None else []) + [
        {"role": "user", "content": user}]
    check(tok, seen[-1], msgs)


@pytest.fixture(scope="module")
def api(assistant):
    from fastapi.testclient import TestClient

    import pocketgpt.serve.engine as engine_mod
    from pocketgpt.serve.app import ServeConfig, create_app

    prompts = []

    class Recording(engine_mod.Job):  # every request's jobs are made by JobGroup.add
        def __init__(self, served, prompt_ids, *a, **kw):
            prompts.append(list(prompt_ids))
            super().__init__(served, prompt_ids, *a, **kw)

    mp = pytest.MonkeyPatch()
    mp.setattr(engine_mod, "Job", Recording)
    with TestClient(create_app([str(assistant[0])], ServeConfig(max_tokens_cap=4))) as client:
        yield client, prompts
    mp.undo()


@FAST
@given(system=st.one_of(st.none(), evil), user=evil, reply=evil, user2=evil)
def test_api_chat_completions(assistant, api, system, user, reply, user2):
    client, prompts = api
    _, tok = assistant
    msgs = conversation(system, user, reply, user2)
    r = client.post("/v1/chat/completions", json={"messages": msgs, "max_tokens": 2, "temperature": 0})
    assert r.status_code == 200, r.text
    check(tok, prompts[-1], msgs)


@FAST
@given(prompt=evil)
def test_api_completions(assistant, api, prompt):
    client, prompts = api
    _, tok = assistant
    r = client.post("/v1/completions", json={"prompt": prompt, "max_tokens": 2, "temperature": 0})
    assert r.status_code == 200, r.text
    assert control(tok, prompts[-1]) == [tok.eot_id]  # only the document start the server adds
    assert tok.decode(prompts[-1][1:]) == prompt


@FAST
@given(system=st.one_of(st.none(), evil), user=evil, reply=evil, user2=evil)
def test_web_ui_request_path(assistant, api, system, user, reply, user2):
    """The body app.js sends (streamed, logprobs, usage) and its token-inspector call."""
    client, prompts = api
    _, tok = assistant
    msgs = conversation(system, user, reply, user2)
    body = {"model": "run", "messages": msgs, "stream": True, "logprobs": True, "top_logprobs": 5,
            "stream_options": {"include_usage": True}, "temperature": 0.7, "max_tokens": 2}
    body.pop("model")
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        events = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    check(tok, prompts[-1], msgs)
    r = client.post("/v1/tokenize", json={"messages": msgs})
    assert r.status_code == 200, r.text
    shown = r.json()["tokens"]
    assert [t["id"] for t in shown] == prompts[-1]
    assert sum(t["special"] for t in shown) == len(control(tok, prompts[-1]))
