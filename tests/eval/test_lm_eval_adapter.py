"""lm-eval adapter, offline: local task YAMLs over small local JSON datasets.

lm-eval is the optional ``[eval]`` extra; these tests skip (saying so) only when it is absent.
"""

from __future__ import annotations

import math

import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is the optional [eval] extra: pip install 'pocketgpt[eval]'")

from eval_testlib import CAPITALS, MC_ROWS as ROWS, write_tasks  # noqa: E402


def test_multiple_choice_and_rolling_tasks_run_offline(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from pocketgpt.eval.lm import loglikelihood, text_nats
    from pocketgpt.eval.lm_eval_adapter import run_lm_eval

    run, model, tok = tiny
    res = run_lm_eval(str(run), ["pocketgpt_caps_mc", "pocketgpt_caps_ppl"], include_path=str(write_tasks(tmp_path)))
    # independent: the same choices scored directly
    right = 0
    for c, a, b in ROWS:
        ctx = [tok.eot_id] + tok.encode(f"Question: What is the capital of {c}?\nAnswer:")
        la, lb = loglikelihood(model, [(ctx, tok.encode(" " + a)), (ctx, tok.encode(" " + b))],
                               vocab_size=tok.vocab_size)
        right += la[0] > lb[0]
    assert math.isclose(res["pocketgpt_caps_mc"]["acc,none"], right / len(ROWS))
    assert res["pocketgpt_caps_mc"]["acc,none"] >= 0.6
    texts = [f"The capital of {c} is {a}." for c, a, _ in ROWS]
    nats = sum(text_nats(model, [[tok.eot_id] + tok.encode(t) for t in texts], vocab_size=tok.vocab_size))
    words = sum(len(t.split()) for t in texts)
    assert math.isclose(res["pocketgpt_caps_ppl"]["word_perplexity,none"], math.exp(nats / words), rel_tol=1e-4)


def test_generate_until_cuts_at_stop_strings(tiny):
    from pocketgpt.eval.lm_eval_adapter import PocketGPTLM

    _, model, tok = tiny

    class Req:
        def __init__(self, *args):
            self.args = args

    lm = PocketGPTLM(model=model, tokenizer=tok)
    outs = lm.generate_until([Req(f"Question: What is the capital of {c}?\nAnswer:", {"until": ["\n"], "max_gen_toks": 8})
                              for c in ("France", "Japan")])
    assert outs[0].strip() == CAPITALS["France"] and outs[1].strip() == CAPITALS["Japan"]
    assert all("\n" not in o for o in outs)
