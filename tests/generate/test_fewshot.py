"""Few-shot prompts from example files."""

from __future__ import annotations

import doctest
import json

import pytest

from pocketgpt.errors import UserError
from pocketgpt.generate import build_fewshot_prompt, fewshot, load_examples


def test_jsonl_examples_through_a_template(tmp_path):
    f = tmp_path / "capitals.jsonl"
    rows = [{"country": "France", "capital": "Paris"}, {"country": "Peru", "capital": "Lima"},
            {"country": "Chad", "capital": "N'Djamena"}]
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    ex = load_examples(f)
    assert ex == rows
    p = build_fewshot_prompt(ex, "Italy", template="Q: What is the capital of {country}?\nA: {capital}", shots=2)
    assert p == ("Q: What is the capital of France?\nA: Paris\n\nQ: What is the capital of Peru?\nA: Lima\n\n"
                 "Q: What is the capital of Italy?\nA:")
    p = build_fewshot_prompt(ex, {"country": "Italy"}, template="{country} -> {capital}", separator="\n")
    assert p == "France -> Paris\nPeru -> Lima\nChad -> N'Djamena\nItaly ->"


def test_text_examples_split_on_blank_lines(tmp_path):
    f = tmp_path / "shots.txt"
    f.write_text("english: cat\nfrench: chat\n\n\nenglish: dog\nfrench: chien\n")
    ex = load_examples(f)
    assert ex == ["english: cat\nfrench: chat", "english: dog\nfrench: chien"]
    assert build_fewshot_prompt(ex, "english: bird\nfrench:") == (
        "english: cat\nfrench: chat\n\nenglish: dog\nfrench: chien\n\nenglish: bird\nfrench:")


def test_bad_examples(tmp_path):
    with pytest.raises(UserError, match="no such"):
        load_examples(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\nnot json\n')
    with pytest.raises(UserError, match="bad.jsonl:2"):
        load_examples(tmp_path / "bad.jsonl")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(UserError, match="no examples"):
        load_examples(tmp_path / "empty.txt")
    with pytest.raises(UserError, match="template"):
        build_fewshot_prompt([{"a": 1}], "x")
    with pytest.raises(UserError, match="no field"):
        build_fewshot_prompt([{"a": 1}], "x", template="{a} {b}")
    with pytest.raises(UserError, match="empty"):
        build_fewshot_prompt(["x"], "")


def test_docstring_examples():
    assert doctest.testmod(fewshot).failed == 0
