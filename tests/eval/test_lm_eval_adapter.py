"""lm-eval adapter, offline: local task YAMLs over small local JSON datasets.

lm-eval is the optional ``[eval]`` extra; these tests skip (saying so) only when it is absent.
"""

from __future__ import annotations

import json
import math

import pytest

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is the optional [eval] extra: pip install 'pocketgpt[eval]'")

from eval_testlib import CAPITALS  # noqa: E402

ROWS = [("France", "Paris", "Oslo"), ("Japan", "Tokyo", "Cairo"), ("Peru", "Lima", "Madrid"),
        ("Norway", "Oslo", "Nairobi"), ("Wakanda", "Birnin Zana", "Tokyo")]


def _tasks(tmp_path):
    data = tmp_path / "caps.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is the capital of {c}?", "choices": [a, b], "label": 0,
                                        "text": f"The capital of {c} is {a}."}) + "\n" for c, a, b in ROWS))
    common = f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {data}\ntest_split: test\n"
    (tmp_path / "mc.yaml").write_text(
        "task: pocketgpt_caps_mc\n" + common + "output_type: multiple_choice\n"
        "doc_to_text: \"Question: {{question}}\\nAnswer:\"\ndoc_to_choice: \"{{choices}}\"\ndoc_to_target: label\n"
        "metric_list:\n  - metric: acc\n")
    (tmp_path / "rolling.yaml").write_text(
        "task: pocketgpt_caps_ppl\n" + common + "output_type: loglikelihood_rolling\n"
        "doc_to_text: \"\"\ndoc_to_target: \"{{text}}\"\nmetric_list:\n  - metric: word_perplexity\n")
    return tmp_path


def test_multiple_choice_and_rolling_tasks_run_offline(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from pocketgpt.eval.lm import loglikelihood, text_nats
    from pocketgpt.eval.lm_eval_adapter import run_lm_eval

    run, model, tok = tiny
    res = run_lm_eval(str(run), ["pocketgpt_caps_mc", "pocketgpt_caps_ppl"], include_path=str(_tasks(tmp_path)))
    # independent: the same choices scored directly
    right = 0
    for c, a, b in ROWS:
        ctx = [tok.eot_id] + tok.encode(f"Question: What is the capital of {c}?\nAnswer:")
        la, lb = loglikelihood(model, [(ctx, tok.encode(" " + a)), (ctx, tok.encode(" " + b))])
        right += la[0] > lb[0]
    assert math.isclose(res["pocketgpt_caps_mc"]["acc,none"], right / len(ROWS))
    assert res["pocketgpt_caps_mc"]["acc,none"] >= 0.6
    texts = [f"The capital of {c} is {a}." for c, a, _ in ROWS]
    nats = sum(text_nats(model, [[tok.eot_id] + tok.encode(t) for t in texts]))
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
