"""The capitals task on a tiny model that memorised the training countries only."""

from __future__ import annotations

from eval_testlib import CAPITALS, HELD_OUT

from pocketgpt.eval.capitals import evaluate_capitals, format_rate, load_countries, looks_like_answer


def test_assistant_knows_training_capitals_not_the_unseen_one(tiny):
    _, model, tok = tiny
    res = evaluate_capitals(model, tok, CAPITALS, assistant=True, held_out=lambda n: n in HELD_OUT)
    assert res["training"]["accuracy"] >= 0.5  # 0.71 measured
    assert res["held_out"]["n"] == 3 and res["held_out"]["accuracy"] == 0.0
    replies = [r for r in res["replies"] if r["country"] == "France"]
    assert any(r["reply"].startswith("Paris is the capital of") for r in replies)
    # every row is judged by the rule: the capital occurs in the reply, case-insensitively
    assert all(r["correct"] == (r["capital"].lower() in r["reply"].lower()) for r in res["replies"])
    assert res["format"]["rate"] >= 0.5


def test_base_mode_uses_few_shot_quiz_prompts(tiny):
    _, model, tok = tiny
    res = evaluate_capitals(model, tok, CAPITALS, assistant=False, held_out=lambda n: n in HELD_OUT)
    assert res["mode"].startswith("base (5-shot")
    assert res["training"]["accuracy"] >= 0.75  # 0.92 measured
    assert all("\n" not in r["reply"] for r in res["replies"])  # the answer is the line after "Answer:"


def test_base_model_asked_raw_continues_the_quiz(tiny):
    _, model, tok = tiny
    fmt = format_rate(model, tok, assistant=False, prompts=("What is the capital of France?",))
    assert fmt["rate"] == 0.0 and not fmt["samples"][0]["answer_format"]


def test_answer_rule_and_name_contained_split():
    assert looks_like_answer("The capital of Peru is Lima.", True)
    assert not looks_like_answer("The capital of Peru is Lima.", False)  # ran out of budget
    assert not looks_like_answer("Lima. What is the capital of Chile?", True)
    assert not looks_like_answer("  ", True)


def test_load_countries_formats_and_errors(tmp_path):
    import json

    import pytest

    from pocketgpt.errors import UserError

    p = tmp_path / "c.json"
    p.write_text(json.dumps([{"name": "Peru", "capital": "Lima"}]))
    assert load_countries(p) == {"Peru": "Lima"}
    p.write_text("[1, 2]")
    with pytest.raises(UserError, match="name.*capital"):
        load_countries(p)
    with pytest.raises(UserError, match="no such file"):
        load_countries(tmp_path / "missing.json")
