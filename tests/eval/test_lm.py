"""Batched eval helpers against naive one-at-a-time references."""

from __future__ import annotations

import math
import random

import torch
import torch.nn.functional as F

from pocketgpt.eval.lm import bits_per_byte, greedy, loglikelihood, text_nats
from pocketgpt.model import GPT, GPTConfig


def _model(arch="modern"):
    torch.manual_seed(1)
    return GPT(GPTConfig(vocab_size=50, block_size=24, n_layer=2, n_head=2, n_embd=32, arch=arch)).eval()


def _naive_greedy(model, prompt, n, stops):
    ids, new = list(prompt), []
    with torch.no_grad():
        for _ in range(n):
            logits, _ = model(torch.tensor([ids[-model.config.block_size:]]))
            t = int(logits[0, -1].argmax())
            if t in stops:
                return new, True
            new.append(t)
            ids.append(t)
    return new, False


def test_greedy_batched_matches_unbatched_for_both_families():
    rng = random.Random(0)
    for arch in ("modern", "gpt2"):
        model = _model(arch)
        prompts = [[rng.randrange(50) for _ in range(rng.randint(1, 12))] for _ in range(7)]
        got = greedy(model, prompts, 8, stop_ids=(3, 7), batch_size=4)
        assert got == [_naive_greedy(model, p, 8, {3, 7}) for p in prompts]


def test_loglikelihood_matches_full_forward():
    model = _model()
    rng = random.Random(1)
    pairs = [([rng.randrange(50) for _ in range(rng.randint(1, 9))], [rng.randrange(50) for _ in range(rng.randint(1, 5))])
             for _ in range(6)]
    got = loglikelihood(model, pairs, batch_size=4)
    for (ctx, cont), (lp, is_greedy) in zip(pairs, got):
        seq = torch.tensor([ctx + cont])
        with torch.no_grad():
            logp = F.log_softmax(model(seq)[0][0], -1)
        ref = sum(logp[len(ctx) - 1 + i, t].item() for i, t in enumerate(cont))
        greedy_ref = all(int(logp[len(ctx) - 1 + i].argmax()) == t for i, t in enumerate(cont))
        assert math.isclose(lp, ref, rel_tol=1e-4, abs_tol=1e-4)
        assert is_greedy == greedy_ref


def test_text_nats_counts_every_token_once_across_windows():
    model = _model()
    rng = random.Random(2)
    docs = [[rng.randrange(50) for _ in range(n)] for n in (5, 24, 25, 70)]
    got = text_nats(model, docs, batch_size=3)
    T = model.config.block_size
    for ids, nats in zip(docs, got):
        ref = 0.0
        with torch.no_grad():
            for s in range(0, len(ids) - 1, T):  # independent: one window at a time
                w = torch.tensor([ids[s:s + T + 1]])
                ref += F.cross_entropy(model(w[:, :-1])[0][0], w[0, 1:], reduction="sum").item()
        assert math.isclose(nats, ref, rel_tol=1e-4)


def test_uniform_model_costs_log2_vocab_bits_per_token():
    model = _model()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    nats = text_nats(model, [[1, 2, 3, 4, 5]])[0]
    assert math.isclose(bits_per_byte(nats, 4), math.log2(50), rel_tol=1e-5)  # 4 tokens predicted, 4 "bytes"
