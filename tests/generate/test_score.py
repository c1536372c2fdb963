"""score(): summed log-likelihood and greediness against a naive per-token forward."""

from __future__ import annotations

import pytest
import torch

from pocketgpt.errors import UserError
from pocketgpt.generate import Engine, generate, score

from .conftest import tiny_model


def naive_score(model, ctx, cont):
    total, greedy = 0.0, True
    seq = list(ctx)
    for t in cont:  # one full forward per token, no batching, no padding
        with torch.no_grad():
            logits, _ = model(torch.tensor([seq]))
        lp = torch.log_softmax(logits[0, -1].double(), -1)
        total += lp[t].item()
        greedy &= int(lp.argmax()) == t
        seq.append(t)
    return total, greedy


@pytest.mark.parametrize("arch,n_kv", [("gpt2", None), ("modern", 2)])
def test_score_matches_naive_and_detects_greedy(arch, n_kv):
    model = tiny_model(arch, n_kv_head=n_kv)
    ctx = [5, 17, 3, 3, 60]
    greedy_cont = generate(model, ctx, 6, temperature=0)
    other = greedy_cont[:3] + [(greedy_cont[3] + 1) % 97] + greedy_cont[4:]
    for cont, is_greedy in [(greedy_cont, True), (other, False)]:
        lp, g = score(model, ctx, cont)
        want_lp, want_g = naive_score(model, ctx, cont)
        assert lp == pytest.approx(want_lp, abs=1e-4)
        assert g == want_g == is_greedy


def test_score_batch_with_ragged_pairs_equals_single_scores():
    model = tiny_model("modern", n_kv_head=1)
    g = torch.Generator().manual_seed(4)
    pairs = [(torch.randint(0, 97, (a,), generator=g).tolist(), torch.randint(0, 97, (b,), generator=g).tolist())
             for a, b in [(1, 1), (10, 3), (4, 12), (20, 2)]]
    engine = Engine(model)
    batch = engine.score_batch(pairs)
    for (c, x), s in zip(pairs, batch):
        one = engine.score(c, x)
        assert s.logprob == pytest.approx(one.logprob, abs=1e-4) and s.is_greedy == one.is_greedy
        assert len(s.token_logprobs) == len(x)
        assert s.logprob == pytest.approx(naive_score(model, c, x)[0], abs=1e-4)


def test_score_context_limit_and_bad_input():
    model = tiny_model(block_size=16)
    engine = Engine(model)
    with pytest.raises(UserError, match="context window"):
        engine.score(list(range(12)), list(range(5)))
    s = engine.score(list(range(12)), list(range(5)), truncate="left")
    assert s.logprob == pytest.approx(engine.score(list(range(1, 12)), list(range(5))).logprob, abs=1e-6)
    with pytest.raises(UserError, match="context"):
        engine.score([], [1])
    with pytest.raises(UserError, match="continuation"):
        engine.score([1], [])
