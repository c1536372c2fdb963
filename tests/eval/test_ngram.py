"""The Kneser-Ney n-gram baseline: proper distributions, the formulas, and the eval task."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from pocketgpt.errors import UserError
from pocketgpt.eval.ngram import KneserNey, check_options


def _random_docs(rng, n_docs, vocab, bos, lo=3, hi=40):
    return [[bos] + [rng.randrange(vocab) for _ in range(rng.randrange(lo, hi))] for _ in range(n_docs)]


def _zipf_stream(rng, n, vocab, bos):
    """Skewed ids in documents separated by ``bos``, so counts of 1, 2, 3, 4+ all occur."""
    weights = [1 / (i + 1) for i in range(vocab)]
    out = [bos]
    for _ in range(n):
        out.append(bos if rng.random() < 0.05 else rng.choices(range(vocab), weights)[0])
    return out


@pytest.mark.parametrize("order", [1, 2, 3, 5, 6])
def test_distributions_sum_to_one_over_the_vocabulary(order):
    rng = random.Random(order)
    V, bos = 37, 36
    lm = KneserNey.fit(_zipf_stream(rng, 3000, V, bos), order, V, bos=bos)
    for _ in range(25):
        ctx = [rng.randrange(V) for _ in range(rng.randrange(0, order + 2))]
        p = lm.distribution(ctx)
        assert p.shape == (V,) and (p > 0).all()
        assert abs(p.sum() - 1) < 1e-9
    for ctx in ([bos], [0, 0, 1], [bos, 0]):  # contexts seen in training: the top orders interpolate
        assert abs(lm.distribution(ctx).sum() - 1) < 1e-9


# --- an independent, obviously-correct reference: dicts and the formulas, one word at a time ---

def _ref_discounts(counts):
    n = Counter(counts)
    y = n[1] / (n[1] + 2 * n[2]) if n[1] + 2 * n[2] else 0.5
    out = {0: 0.0}
    for i in (1, 2, 3):
        d = i - (i + 1) * y * n[i + 1] / n[i] if n[i] and n[i + 1] else y
        out[i] = min(max(d, 0.05), i)
    return out


class NaiveKN:
    def __init__(self, stream, order, V, bos):
        self.order, self.V = order, V
        raw = {k: Counter(tuple(stream[i - k + 1:i + 1]) for i in range(k - 1, len(stream))) for k in range(1, order + 1)}
        self.c, self.D = {}, {}
        for k in range(1, order + 1):
            if k == order:
                c = dict(raw[k])
            else:
                left = {}
                for g in raw[k + 1]:
                    left.setdefault(g[1:], set()).add(g[0])
                c = {g: (raw[k][g] if k >= 2 and g[0] == bos else len(left.get(g, ()))) for g in raw[k]}
            self.c[k] = c
            self.D[k] = _ref_discounts([v for v in c.values() if v > 0])

    def prob(self, w, ctx):
        """p(w | ctx) with the highest order len(ctx) + 1."""
        k = len(ctx) + 1
        lower = 1 / self.V if k == 1 else self.prob(w, ctx[1:])
        D, c = self.D[k], self.c[k]
        follow = [c.get(ctx + (x,), 0) for x in range(self.V)]
        total = sum(follow)
        if total == 0:
            return lower
        gamma = sum(D[min(f, 3)] for f in follow)
        cw = c.get(ctx + (w,), 0)
        return (cw - D[min(cw, 3)] + gamma * lower) / total

    def logprobs(self, docs):
        out = []
        for d in docs:
            for i in range(1, len(d)):
                ctx = tuple(d[max(0, i - self.order + 1):i])
                out.append(math.log(self.prob(d[i], ctx)))
        return out


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_log_probabilities_match_a_direct_implementation_of_the_formulas(order):
    rng = random.Random(10 + order)
    V, bos = 12, 11
    stream = _zipf_stream(rng, 2500, V, bos)
    fast, naive = KneserNey.fit(stream, order, V, bos=bos), NaiveKN(stream, order, V, bos)
    for k in range(1, order + 1):
        assert fast.discounts[k][1:].tolist() == pytest.approx([naive.D[k][i] for i in (1, 2, 3)], abs=1e-12)
    docs = _random_docs(rng, 20, V, bos) + [stream[:60], [bos, 3]]
    a, b = fast.logprobs(docs), np.array(naive.logprobs(docs))
    assert a.shape == b.shape
    assert np.abs(a - b).max() < 1e-9


def test_order_matters_on_text_with_three_gram_structure():
    # the next id is a fixed function of the two before it, 90% of the time
    rng = random.Random(0)
    V, bos = 30, 29
    rule = {(a, b): rng.randrange(V - 1) for a in range(V) for b in range(V)}

    def stream(n):
        s = [rng.randrange(V - 1), rng.randrange(V - 1)]
        while len(s) < n:
            s.append(rule[s[-2], s[-1]] if rng.random() < 0.9 else rng.randrange(V - 1))
        return s

    train = [bos] + [t for _ in range(40) for t in stream(500) + [bos]]
    held = [[bos] + stream(300) for _ in range(5)]
    nats = {n: -KneserNey.fit(train, n, V, bos=bos).logprobs(held).sum() for n in (1, 2, 3)}
    assert nats[3] < 0.6 * nats[2] and nats[2] < nats[1]


def test_tokens_never_seen_in_training_still_get_a_finite_loss():
    V = 50
    lm = KneserNey.fit([0, 1, 2, 3] * 50, 3, V, bos=0)
    lp = lm.logprobs([[0, 1, 2, 49, 48, 3, 47]])
    assert np.isfinite(lp).all() and (lp < 0).all()
    assert lp[2] < lp[0]  # the unseen 49 costs more than the familiar 2


def test_options_are_checked_with_one_paragraph_errors():
    for bad in (0, 7, 2.5, True):
        with pytest.raises(UserError, match="--ngram-order"):
            check_options(bad, 100)
    with pytest.raises(UserError, match="max_train_tokens"):
        check_options(3, 0)
    check_options(6, 1)
    with pytest.raises(ValueError):
        KneserNey.fit([0, 5], 2, 4)


def test_the_eval_task_scores_held_out_text_from_the_run_shards(tmp_path):
    from pocketgpt.data import tokenize_to_shards
    from pocketgpt.eval.ngram import ngram_report, training_tokens
    from pocketgpt.tokenizer import train

    rng = random.Random(1)
    words = "the cat sat on a mat and then the dog ran to the red barn".split()
    docs = [" ".join(words[(i + j) % len(words)] for j in range(rng.randrange(20, 60))) for i in range(300)]
    tok = train(docs, 300, progress=False)
    tok.save(tmp_path / "tok")
    tokenize_to_shards(docs, tmp_path / "tok", tmp_path / "shards", val_fraction=0.05)
    stream = training_tokens(tmp_path / "shards", tok)
    assert stream[0] == tok.eot_id and (stream == tok.eot_id).sum() == 1 + 285
    capped = training_tokens(tmp_path / "shards", tok, max_tokens=640)
    assert len(capped) == 1 + 640
    held = {"general": docs[:3]}
    rep = {n: ngram_report(tok, tmp_path / "shards", held, order=n)["general"] for n in (1, 3)}
    assert rep[3]["bpb"] < rep[1]["bpb"] and rep[3]["order"] == 3
    assert rep[3]["bytes"] == sum(len(d.encode()) for d in docs[:3])
    assert rep[3]["tokens"] == sum(len(tok.encode(d)) for d in docs[:3])
    with pytest.raises(UserError, match="--ngram-order"):
        ngram_report(tok, tmp_path / "shards", held, order=9)
    with pytest.raises(UserError, match="not at hand"):
        ngram_report(tok, tmp_path / "missing", held)


def test_the_seen_fit_uses_exactly_the_windows_the_loader_served(tmp_path):
    from pocketgpt.data import ShardLoader, tokenize_to_shards
    from pocketgpt.eval.ngram import ngram_report, seen_tokens
    from pocketgpt.tokenizer import train

    rng = random.Random(2)
    words = "a stone fell into the quiet pond and the rings grew wide".split()
    docs = [" ".join(rng.choice(words) for _ in range(rng.randrange(20, 80))) for _ in range(200)]
    tok = train(docs, 300, progress=False)
    tok.save(tmp_path / "tok")
    tokenize_to_shards(docs, tmp_path / "tok", tmp_path / "shards", val_fraction=0.05)
    loader = ShardLoader(tmp_path / "shards", batch_size=4, seq_len=16, seed=3)
    batches = [loader.next_batch() for _ in range(7)]
    state = loader.state_dict()
    expect = [tok.eot_id]  # naive rebuild: each served window (x plus y's last token) after a separator
    for x, y in batches:
        for i in range(len(x)):
            expect += x[i].tolist() + [int(y[i, -1])] + [tok.eot_id]
    got = seen_tokens(tmp_path / "shards", tok, state)
    assert got.tolist() == expect[:-1]
    few = seen_tokens(tmp_path / "shards", tok, state, max_tokens=3 * 18)  # 3 windows, evenly spaced
    assert len(few) == 3 * 18 and few[:18].tolist() == expect[:18] and few[-18:].tolist() == expect[-19:-1]
    held = {"general": docs[:3]}
    rep = ngram_report(tok, tmp_path / "shards", held, order=3, loader_state=state)["general"]
    split = ngram_report(tok, tmp_path / "shards", held, order=3)["general"]
    assert rep["fitted_on"] == "seen" and rep["train_tokens"] == len(expect) - 1
    assert split["fitted_on"] == "train split" and "split_bpb" not in split
    assert rep["split_bpb"] == split["bpb"] and rep["split_train_tokens"] == split["train_tokens"]
    assert rep["bpb"] > split["bpb"]  # 28 windows of 16 tokens know less than the whole split
    with pytest.raises(UserError, match="split_tokens"):  # a state from other shards
        seen_tokens(tmp_path / "shards", tok, {**state, "split_tokens": 1})


def test_the_report_card_shows_the_ngram_row_with_its_order_beside_xz():
    from pocketgpt.report import eval_rows

    ev = {"tasks": {"compression": {"general": {"model_bpb": 1.5, "xz_bpb": 2.0}},
                    "ngram": {"general": {"bpb": 1.75, "order": 4}}}}
    rows = eval_rows(ev, ev)
    labels = [r[0] for r in rows]
    i = labels.index("xz bpb, same text")
    assert "Kneser-Ney 4-gram" in labels[i + 1] and rows[i + 1][1:] == ("1.750", "1.750")
