"""BIG-bench JSON tasks on task files written here."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from pocketgpt.errors import UserError
from pocketgpt.eval.bigbench import build_prompt, evaluate_bigbench, load_task


def _write(tmp_path, task) -> str:
    p = tmp_path / "task.json"
    p.write_text(json.dumps(task))
    return str(p)


def test_multiple_choice_picks_by_log_likelihood(tiny, tmp_path):
    _, model, tok = tiny
    task = {"name": "caps", "example_input_prefix": "Question: ", "example_output_prefix": "\nAnswer: ",
            "append_choices_to_input": False,
            "examples": [{"input": f"What is the capital of {c}?", "target_scores": {cap: 1, wrong: 0}}
                         for c, cap, wrong in (("France", "Paris", "Oslo"), ("Japan", "Tokyo", "Lima"),
                                               ("Peru", "Lima", "Cairo"), ("Egypt", "Cairo", "Tokyo"))]}
    res = evaluate_bigbench(model, tok, _write(tmp_path, task))
    # independent reference: score each choice with a plain full forward
    picks = []
    for ex in task["examples"]:
        prompt = build_prompt(task, ex, [])
        assert prompt.endswith("\nAnswer: ")
        ctx = [tok.eot_id] + tok.encode(prompt[:-1])  # the space goes with the answer: " Paris"
        lps = {}
        for choice in ex["target_scores"]:
            cont = tok.encode(" " + choice)
            with torch.no_grad():
                logp = F.log_softmax(model(torch.tensor([ctx + cont]))[0][0], -1)
            lps[choice] = sum(logp[len(ctx) - 1 + i, t].item() for i, t in enumerate(cont))
        picks.append(max(lps, key=lps.get))
    assert [r["pick"] for r in res["results"]] == picks
    expected = sum(ex["target_scores"][p] for ex, p in zip(task["examples"], picks)) / 4
    assert math.isclose(res["multiple_choice_grade"], expected)
    assert res["multiple_choice_grade"] >= 0.75  # the model memorised these capitals


def test_generative_exact_match_and_few_shot(tiny, tmp_path):
    _, model, tok = tiny
    task = {"example_input_prefix": "Question: ", "example_output_prefix": "\nAnswer: ",
            "examples": [{"input": "What is the capital of France?", "target": "Paris"},
                         {"input": "What is the capital of Kenya?", "target": ["Nairobi", "nairobi"]},
                         {"input": "What is the capital of Wakanda?", "target": "Birnin Zana"}]}
    res = evaluate_bigbench(model, tok, _write(tmp_path, task), shots=2)
    by = {r["index"]: r for r in res["results"]}
    assert by[0]["correct"] and by[1]["correct"]
    assert not by[2]["correct"]
    assert math.isclose(res["exact_str_match"], 2 / 3)
    # few-shot: the shown examples come from the task with their answers
    prompt = build_prompt(task, task["examples"][2], task["examples"][:2])
    assert prompt == ("Question: What is the capital of France?\nAnswer: Paris\n"
                      "Question: What is the capital of Kenya?\nAnswer: Nairobi\n"
                      "Question: What is the capital of Wakanda?\nAnswer: ")


def test_default_prompt_format_and_bad_files(tmp_path):
    ex = {"input": "2+2=", "target_scores": {"4": 1, "5": 0}}
    assert build_prompt({}, ex, []) == "\nQ: 2+2=\n  choice: 4\n  choice: 5\nA: "
    with pytest.raises(UserError, match="no 'examples'"):
        load_task(_write(tmp_path, {"name": "x"}))
    with pytest.raises(UserError, match=r"examples\[0\]: needs 'target_scores'"):
        load_task(_write(tmp_path, {"examples": [{"input": "hi"}]}))
    with pytest.raises(UserError, match="no such file"):
        load_task(tmp_path / "nope.json")
