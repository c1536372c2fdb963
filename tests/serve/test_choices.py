"""``n`` samples per request, chat and text completions, streamed and not, with the official client."""

from __future__ import annotations

import openai
import pytest

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


def test_chat_n_choices_are_the_single_requests_seeded_seed_plus_i(client):
    kw = dict(model="sft", messages=MESSAGES, max_tokens=10, temperature=1.0)
    r = client.chat.completions.create(n=4, seed=100, **kw)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    singles = [client.chat.completions.create(seed=100 + i, **kw) for i in range(4)]
    assert [c.message.content for c in r.choices] == [s.choices[0].message.content for s in singles]
    assert len({c.message.content for c in r.choices}) > 1  # independent samples, not one copied
    assert r.usage.prompt_tokens == singles[0].usage.prompt_tokens  # the prompt counts once
    assert r.usage.completion_tokens == sum(s.usage.completion_tokens for s in singles)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_n_streamed_reassembles_to_the_plain_reply(client):
    kw = dict(model="sft", messages=MESSAGES, max_tokens=10, temperature=1.0, seed=7, n=3)
    plain = client.chat.completions.create(**kw)
    texts, finishes, roles = {}, {}, set()
    chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw))
    for ch in chunks:
        for c in ch.choices:
            if c.delta.role:
                roles.add(c.index)
            texts[c.index] = texts.get(c.index, "") + (c.delta.content or "")
            if c.finish_reason:
                finishes[c.index] = c.finish_reason
    assert roles == {0, 1, 2}
    assert [texts[i] for i in range(3)] == [c.message.content for c in plain.choices]
    assert [finishes[i] for i in range(3)] == [c.finish_reason for c in plain.choices]
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens


def test_completions_n_with_several_prompts_index_prompt_major(client):
    kw = dict(model="base", max_tokens=6, temperature=1.0, seed=5)
    r = client.completions.create(prompt=["Hello", "The capital"], n=2, logprobs=1, **kw)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    for j, prompt in enumerate(["Hello", "The capital"]):
        for i in range(2):
            one = client.completions.create(prompt=prompt, logprobs=1, **{**kw, "seed": 5 + i})
            got = r.choices[j * 2 + i]
            assert got.text == one.choices[0].text
            # batched decoding rounds differently from a lone row: equal to float32 noise
            assert got.logprobs.token_logprobs == pytest.approx(one.choices[0].logprobs.token_logprobs, abs=1e-5)
    streamed = {}
    for ch in client.completions.create(prompt=["Hello", "The capital"], n=2, stream=True, **kw):
        for c in ch.choices:
            streamed[c.index] = streamed.get(c.index, "") + c.text
    assert [streamed[i] for i in range(4)] == [c.text for c in r.choices]


def test_n_without_seed_gives_independent_samples(client):
    r = client.completions.create(model="base", prompt="Hello", max_tokens=12, temperature=1.0, n=8)
    assert len(r.choices) == 8 and len({c.text for c in r.choices}) > 1


def test_n_over_the_cap_is_a_400_naming_n(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="sft", messages=MESSAGES, n=9, max_tokens=2)
    assert e.value.body["param"] == "n" and "8" in e.value.body["message"]
