"""``echo`` on /v1/completions: the prompt scored, held to pocketgpt.generate's ``score``.

The base checkpoint pads its vocabulary (320 rows, 300 tokenizer ids), so these also
check that the server and ``score`` put probability on the same ids.
"""

from __future__ import annotations

import math

import httpx
import openai
import pytest

PROMPT = "What is the capital of France? The capital of France is Paris."


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def engine(ckpts):
    from pocketgpt import load_checkpoint
    from pocketgpt.generate import Engine

    model, tok, _ = load_checkpoint(str(ckpts["base"]))
    return Engine(model.eval(), tok), tok


def _close(got, want):
    assert len(got) == len(want)
    assert all(math.isclose(g, w, abs_tol=1e-5) for g, w in zip(got, want)), (got, want)


def test_echo_of_a_text_prompt_scores_every_token_like_score(http, engine):
    eng, tok = engine
    ids = tok.encode(PROMPT)
    r = http.post("/v1/completions", json={"model": "base", "prompt": PROMPT, "echo": True, "logprobs": 2,
                                           "max_tokens": 3, "temperature": 0})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    lp = choice["logprobs"]
    assert choice["text"].startswith(PROMPT)
    n = len(ids)
    assert len(lp["tokens"]) == n + 3 and lp["tokens"][:n] == [tok.decode([i]) for i in ids]
    # The server puts <|endoftext|> before a text prompt (a new document): every prompt
    # token, the first included, is scored after it, exactly as score() does.
    want = eng.score([tok.eot_id], ids)
    _close(lp["token_logprobs"][:n], want.token_logprobs)
    assert math.isclose(sum(lp["token_logprobs"][:n]), want.logprob, abs_tol=1e-4)
    # Offsets index the returned text; the reply's start where the prompt ends.
    offs = lp["text_offset"]
    assert offs[0] == 0 and offs[n] == len(PROMPT)
    assert all(choice["text"][offs[i]:offs[i + 1]] == lp["tokens"][i] for i in range(n + 2))
    for value, top in zip(lp["token_logprobs"], lp["top_logprobs"]):
        assert len(top) == 2 and max(top.values()) >= value - 1e-6
    # the generated part is what the same request without echo returns
    plain = http.post("/v1/completions", json={"model": "base", "prompt": PROMPT, "max_tokens": 3,
                                               "temperature": 0, "logprobs": 2}).json()["choices"][0]
    assert choice["text"] == PROMPT + plain["text"]
    assert lp["token_logprobs"][n:] == plain["logprobs"]["token_logprobs"]


def test_echo_of_token_ids_starts_with_null_and_max_tokens_zero_returns_only_the_prompt(http, engine):
    eng, tok = engine
    ids = tok.encode(" Hello! How are you? I am fine.")
    r = http.post("/v1/completions", json={"model": "base", "prompt": ids, "echo": True, "logprobs": 1,
                                           "max_tokens": 0})
    assert r.status_code == 200, r.text
    body = r.json()
    choice = body["choices"][0]
    assert choice["text"] == tok.decode(ids) and choice["finish_reason"] == "length"
    lp = choice["logprobs"]
    assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None  # no context: as OpenAI
    _close(lp["token_logprobs"][1:], eng.score(ids[:1], ids[1:]).token_logprobs)
    assert len(lp["tokens"]) == len(ids)
    assert body["usage"] == {"prompt_tokens": len(ids), "completion_tokens": 0, "total_tokens": len(ids)}


def test_echo_without_logprobs_returns_the_prompt_text(http):
    r = http.post("/v1/completions", json={"model": "base", "prompt": "Hello", "echo": True, "max_tokens": 0})
    assert r.status_code == 200 and r.json()["choices"][0] == {
        "index": 0, "text": "Hello", "logprobs": None, "finish_reason": "length"}


def test_lm_eval_style_batch_of_token_prompts(http, engine):
    """What lm-eval's local-completions sends: prompts as token lists, echo, logprobs 1, max_tokens 1."""
    eng, tok = engine
    pairs = [("Question: What is the capital of France?\nAnswer:", " Paris"),
             ("Question: What is the capital of France?\nAnswer:", " Tokyo")]
    prompts = [tok.encode(c) + tok.encode(x) for c, x in pairs]
    r = http.post("/v1/completions", json={"model": "base", "prompt": prompts, "echo": True, "logprobs": 1,
                                           "max_tokens": 1, "temperature": 0, "seed": 1234})
    assert r.status_code == 200, r.text
    choices = sorted(r.json()["choices"], key=lambda c: c["index"])
    assert [c["index"] for c in choices] == [0, 1]
    for (c, x), choice in zip(pairs, choices):
        ctx = len(tok.encode(c))
        got = choice["logprobs"]["token_logprobs"][ctx:-1]  # lm-eval's own slice
        want = eng.score(tok.encode(c), tok.encode(x))
        _close(got, want.token_logprobs)
        tops = choice["logprobs"]["top_logprobs"][ctx:-1]
        greedy = all(v == max(t.values()) for v, t in zip(got, tops))  # lm-eval's own test
        assert greedy == want.is_greedy


def test_official_client_echo(server, engine):
    _, tok = engine
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)
    r = client.completions.create(model="base", prompt="Hello", echo=True, logprobs=0, max_tokens=2, temperature=0)
    assert r.choices[0].text.startswith("Hello")
    assert r.choices[0].logprobs.tokens[: len(tok.encode("Hello"))] == [tok.decode([i]) for i in tok.encode("Hello")]
