"""The engine's batched decoding against a plain full forward pass, seeds, cancellation, timeouts."""

from __future__ import annotations

import asyncio

import pytest
import torch

from pocketgpt.serve.engine import Engine, Failure, Finish, Job, SamplingParams, TokenEvent
from pocketgpt.serve.models import load_served_model


@pytest.fixture(scope="module")
def served(ckpts):
    return {name: load_served_model(str(path), name) for name, path in ckpts.items()}


async def _run(engine, jobs):
    async def one(job):
        events = [ev async for ev in job.events()]
        return events

    for j in jobs:
        engine.submit(j)
    return await asyncio.gather(*(one(j) for j in jobs))


def _generate(served_model, prompts, params_list, max_batch=4, timeout=30.0):
    async def main():
        engine = Engine({served_model.id: served_model}, max_batch=max_batch)
        engine.start()
        try:
            jobs = [Job(served_model, p, params, timeout) for p, params in zip(prompts, params_list)]
            return await _run(engine, jobs), engine.stats()
        finally:
            engine.stop()

    return asyncio.run(main())


@pytest.mark.parametrize("name", ["sft", "base"])  # modern (GQA, rotary) and gpt2 (learned positions)
def test_batched_greedy_decoding_matches_full_forward(served, name):
    """5 prompts of different lengths share a 4-slot batch (one waits for a free slot);
    every step's token and logprobs must equal a fresh full forward pass over the prefix."""
    m = served[name]
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(0, 300, (n,), generator=g).tolist() for n in (3, 11, 1, 7, 20)]
    params = [SamplingParams(max_tokens=12, temperature=0.0, logprobs=True, top_logprobs=5) for _ in prompts]
    results, stats = _generate(m, prompts, params)
    assert stats["completed"] == 5 and stats["active"] == 0
    for prompt, events in zip(prompts, results):
        assert isinstance(events[-1], Finish) and events[-1].reason == "length"
        toks = [e for e in events if isinstance(e, TokenEvent)]
        assert len(toks) == 12 == events[-1].completion_tokens
        seq = list(prompt)
        with torch.no_grad():
            for ev in toks:
                logits, _ = m.model(torch.tensor([seq]))
                ref = torch.log_softmax(logits[0, -1, :300].float(), -1)  # tokenizer ids only
                assert ev.id == int(ref.argmax())
                assert ev.logprob == pytest.approx(float(ref[ev.id]), abs=1e-4)
                ref_top = ref.topk(5)
                assert [i for i, _ in ev.top] == ref_top.indices.tolist()
                assert [lp for _, lp in ev.top] == pytest.approx(ref_top.values.tolist(), abs=1e-4)
                seq.append(ev.id)


def test_seed_reproduces_a_sample_and_padded_ids_are_never_drawn(served):
    m = served["sft"]
    prompt = [m.tokenizer.eot_id, 5, 6, 7]
    params = [SamplingParams(max_tokens=30, temperature=2.0, seed=s) for s in (7, 7, 8)]
    results, _ = _generate(m, [prompt] * 3, params)
    ids = [[e.id for e in ev if isinstance(e, TokenEvent)] for ev in results]
    assert ids[0] == ids[1] != ids[2]
    assert all(i < m.tokenizer.vocab_size for seq in ids for i in seq)  # the model has 320 rows, 300 tokens


def test_tiny_top_p_is_greedy(served):
    m = served["base"]
    prompt = [m.tokenizer.eot_id, 40, 41]
    params = [SamplingParams(max_tokens=10, temperature=1.0, top_p=1e-6, seed=3),
              SamplingParams(max_tokens=10, temperature=0.0)]
    a, b = _generate(m, [prompt] * 2, params)[0]
    assert [e.id for e in a if isinstance(e, TokenEvent)] == [e.id for e in b if isinstance(e, TokenEvent)]


def test_stop_ids_and_context_end(served):
    m = served["sft"]
    prompt = [m.tokenizer.eot_id, 9, 10]
    greedy = _generate(m, [prompt], [SamplingParams(max_tokens=5, temperature=0.0)])[0][0]
    first = greedy[0].id
    stopped = _generate(m, [prompt], [SamplingParams(max_tokens=5, temperature=0.0, stop_ids=frozenset({first}))])[0][0]
    assert len(stopped) == 1 and stopped[0].reason == "stop" and stopped[0].completion_tokens == 1
    long_prompt = [5] * (m.block_size - 2)  # room for 2 tokens only
    ctx = _generate(m, [long_prompt], [SamplingParams(max_tokens=50, temperature=0.0)])[0][0]
    assert ctx[-1].reason == "length" and ctx[-1].completion_tokens == 2


def test_cancel_frees_the_slot_and_timeout_fails_the_job(served):
    m = served["sft"]

    async def main():
        engine = Engine({m.id: m}, max_batch=1)
        engine.start()
        try:
            slow = Job(m, [1, 2, 3], SamplingParams(max_tokens=10_000, temperature=1.0), 60.0)
            engine.submit(slow)
            ev = await slow.queue.get()
            assert isinstance(ev, TokenEvent)
            slow.cancel()  # what a client disconnect does
            quick = Job(m, [1, 2], SamplingParams(max_tokens=3, temperature=0.0), 60.0)
            engine.submit(quick)  # only one slot: it runs once the cancelled job is gone
            events = [e async for e in quick.events()]
            assert isinstance(events[-1], Finish)
            late = Job(m, [1, 2], SamplingParams(max_tokens=10_000, temperature=1.0), 0.05)
            engine.submit(late)
            events = [e async for e in late.events()]
            assert isinstance(events[-1], Failure) and events[-1].kind == "timeout"
            return engine.stats()
        finally:
            engine.stop()

    stats = asyncio.run(main())
    assert stats["cancelled"] == 1 and stats["timed_out"] == 1 and stats["active"] == 0


@pytest.mark.parametrize("name", ["sft", "base"])
def test_seeded_samples_equal_pocketgpt_generate_even_when_batched(served, name):
    """Same seed, same filters: the server's engine (batched with other requests) draws the
    same tokens as issue 5's single-sequence pocketgpt.generate.generate."""
    from pocketgpt.generate import generate

    m = served[name]
    prompt = [m.tokenizer.eot_id] + m.tokenizer.encode("The capital of France is")
    knobs = dict(temperature=0.9, top_p=0.9, top_k=50)
    expected = generate(m.model, prompt, 20, seed=11, tokenizer=m.tokenizer, **knobs)
    others = [SamplingParams(max_tokens=20, temperature=1.0, seed=s) for s in (1, 2)]
    results, _ = _generate(m, [prompt, [5, 6, 7], prompt[:3]],
                           [SamplingParams(max_tokens=20, seed=11, **knobs), *others])
    assert [e.id for e in results[0] if isinstance(e, TokenEvent)] == expected
