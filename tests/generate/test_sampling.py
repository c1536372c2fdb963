"""Sampling filters against a naive pure-Python implementation; the draw's distribution."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pocketgpt.errors import UserError
from pocketgpt.generate import sampling
from pocketgpt.generate.sampling import SamplingParams, apply_repetition_penalty, draw, filter_logits, next_token


def naive_keep(logits: list[float], temperature: float, top_k, top_p, min_p) -> set[int]:
    """Which tokens survive: each filter on the distribution left by the one before."""
    x = [v / temperature for v in logits]
    keep = set(range(len(x)))
    if top_k:
        kth = sorted(x, reverse=True)[min(top_k, len(x)) - 1]
        keep = {i for i in keep if x[i] >= kth}

    def probs():
        m = max(x[i] for i in keep)
        e = {i: math.exp(x[i] - m) for i in keep}
        z = sum(e.values())
        return {i: v / z for i, v in e.items()}

    if top_p is not None and top_p < 1:
        p = probs()
        mass, kept = 0.0, set()
        for i in sorted(keep, key=lambda i: -p[i]):
            if mass >= top_p:
                break
            kept.add(i)
            mass += p[i]
        keep = kept
    if min_p:
        p = probs()
        top = max(p.values())
        keep = {i for i in keep if p[i] >= min_p * top}
    return keep


# distinct logits: ties make "the k-th" ambiguous in both implementations alike
logit_lists = st.lists(st.integers(-4000, 4000), min_size=2, max_size=40, unique=True).map(
    lambda xs: [x / 500 for x in xs])


@settings(max_examples=150, deadline=None)
@given(logits=logit_lists, temperature=st.sampled_from([0.5, 1.0, 1.7]),
       top_k=st.one_of(st.none(), st.integers(0, 45)),
       top_p=st.one_of(st.none(), st.floats(0.05, 1.0)),
       min_p=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_filters_match_naive(logits, temperature, top_k, top_p, min_p):
    p = SamplingParams(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    out = filter_logits(torch.tensor(logits, dtype=torch.float64).float(), p)
    kept = {i for i, v in enumerate(out.tolist()) if math.isfinite(v)}
    want = naive_keep([float(torch.tensor(v).float()) for v in logits], temperature, top_k, top_p, min_p)
    # top-p's cut falls where float sums land; allow disagreement only at a boundary token
    assert kept == want or (top_p is not None and len(kept ^ want) == 1)
    assert int(torch.tensor(logits).argmax()) in kept
    for i in kept:
        assert out[i].item() == pytest.approx(logits[i] / temperature, rel=1e-6, abs=1e-6)


def test_filters_on_a_fixed_example():
    logits = torch.log(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]))

    def keep(**kw):
        return torch.isfinite(filter_logits(logits, SamplingParams(**kw))).nonzero().flatten().tolist()

    assert keep(top_k=2) == [0, 1]
    assert keep(top_p=0.5) == [0]
    assert keep(top_p=0.51) == [0, 1]
    assert keep(top_p=0.85) == [0, 1, 2]
    assert keep(min_p=0.3) == [0, 1, 2]  # p >= 0.15
    assert keep(top_k=3, min_p=0.5) == [0]  # renormalised over 3: 0.588, 0.235 < 0.294
    assert keep(temperature=0.5, top_p=0.8) == [0, 1]  # sharper: 0.79 for token 0 alone


@pytest.mark.parametrize("temperature", [1e-30, 1e-45, 1e-300])
def test_a_vanishing_temperature_is_greedy_and_never_picks_a_masked_id(temperature):
    # Scaling by 1/temperature overflows float32: unguarded, the softmax is NaN and the
    # draw lands on the last id, which here is vocabulary padding masked to -inf.
    logits = torch.tensor([3.0, 7.5, -2.0, 7.0] + [float("-inf")] * 4)
    g = torch.Generator().manual_seed(0)
    for kw in ({}, {"top_k": 3}, {"top_p": 0.9}, {"min_p": 0.1}):
        p = SamplingParams(temperature=temperature, **kw)
        assert {next_token(logits, p, g) for _ in range(20)} == {1}


def test_draw_refuses_nan_logits():
    g = torch.Generator().manual_seed(0)
    for bad in ([0.0, float("nan"), 1.0], [float("-inf")] * 3):
        with pytest.raises(ValueError, match="NaN"):
            draw(torch.tensor(bad), g)


def test_draw_follows_the_distribution():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0, -30.0, float("-inf")])
    probs = torch.softmax(logits, -1)
    g = torch.Generator().manual_seed(0)
    n = 20000
    counts = torch.bincount(torch.tensor([draw(logits, g) for _ in range(n)]), minlength=6).double()
    assert counts[5] == 0 and counts[4] <= 2
    expected = probs.double() * n
    chi2 = (((counts - expected) ** 2) / expected.clamp(min=1e-9))[:4].sum().item()
    assert chi2 < 20  # 3 degrees of freedom: p ~ 2e-4


def test_next_token_greedy_and_top_k_one_agree():
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        logits = torch.randn(50, generator=g)
        best = int(logits.argmax())
        assert next_token(logits, SamplingParams(temperature=0), None) == best
        assert next_token(logits, SamplingParams(temperature=1.3, top_k=1), g) == best


def test_repetition_penalty_matches_naive():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(30, generator=g)
    seen = [3, 7, 7, 12, 29]
    got = apply_repetition_penalty(logits, seen, 1.7)
    want = [(v / 1.7 if v > 0 else v * 1.7) if i in seen else v for i, v in enumerate(logits.tolist())]
    assert got.tolist() == pytest.approx(want)
    mask = torch.zeros(30, dtype=torch.bool)
    mask[seen] = True
    assert torch.equal(apply_repetition_penalty(logits, mask, 1.7), got)


@pytest.mark.parametrize("kw", [dict(max_new_tokens=0), dict(max_new_tokens=2.5), dict(temperature=float("nan")),
                                dict(top_p=-0.1), dict(top_k=1.5), dict(min_p=-1), dict(top_logprobs=-1),
                                dict(truncate="right"), dict(stop=["ok", ""])])
def test_bad_params(kw):
    with pytest.raises(UserError):
        SamplingParams(**kw)


def test_docstring_examples():
    assert doctest.testmod(sampling).failed == 0
