"""The elements eval: judging replies, the element-records file, and its bookkeeping end to end."""

from __future__ import annotations


import pytest

from pocketgpt.data.elements import Element
from pocketgpt.errors import UserError
from pocketgpt.eval import elements as E
from pocketgpt.eval import facts as F
from pocketgpt.eval import parse_tasks

IRON = Element("Iron", "Fe", 26, "transition metal", 4, "solid", None)
HYDROGEN = Element("Hydrogen", "H", 1, "nonmetal", 1, "gas", 1766)
NEON = Element("Neon", "Ne", 10, "noble gas", 2, "gas", 1898)
SODIUM = Element("Sodium", "Na", 11, "alkali metal", 3, "solid", 1807)


@pytest.mark.parametrize("element, fact, reply, right", [
    (IRON, "symbol", "The chemical symbol of Iron is Fe.", True),
    (IRON, "symbol", "Fe", True),
    (IRON, "symbol", "The symbol is FE.", False),  # symbols are case-sensitive
    (IRON, "number", "The atomic number of Iron is 26.", True),
    (IRON, "number", "Iron has 260 protons.", False),  # whole numbers only
    (HYDROGEN, "number", "The atomic number of Hydrogen is 1.", True),
    (HYDROGEN, "number", "Hydrogen is element 16.", False),
    (HYDROGEN, "period", "Hydrogen is in period 1 of the periodic table.", True),  # 1 is also its number: fine
    (IRON, "category", "Iron is a transition metal.", True),
    (IRON, "category", "Iron is a transition metal or a noble gas.", False),  # a rival category
    (SODIUM, "category", "Sodium is an alkali metal.", True),
    (SODIUM, "category", "Sodium is an alkaline earth metal.", False),
    (NEON, "state", "Neon is a gas at room temperature.", True),
    (NEON, "state", "Is Neon a solid, a liquid or a gas at room temperature?", False),  # the question read back
    (NEON, "category", "Neon is a noble gas.", True),  # "gas" is part of the category, not a rival
    (NEON, "discovered", "Neon was discovered in 1898.", True),
    (NEON, "discovered", "Neon was discovered in 1899.", False),
    # one other fact type beside the asked one is fine; two or more is a dump of everything
    (NEON, "symbol", "Neon, Ne, is a noble gas.", True),
    (NEON, "symbol", "Neon (Ne) is a noble gas in period 2, discovered in 1898.", False),
    (NEON, "number", "Neon, Ne, element 10, is a noble gas.", False),
])
def test_judge_element(element, fact, reply, right):
    assert E.judge_element(element, fact, reply) is right


def test_load_elements_round_trip_and_errors(tmp_path):
    path = tmp_path / "elements.json"
    E.write_elements(path, {"Iron": IRON, "Neon": NEON})
    assert E.load_elements(path) == {"Iron": IRON, "Neon": NEON}
    # the reader's record checks are facts.read_records', tested with the country records
    with pytest.raises(UserError, match="--elements .*no such file"):
        E.load_elements(tmp_path / "nope.json")


def test_the_task_is_registered():
    assert parse_tasks("capitals,elements") == ["capitals", "elements"]


def test_evaluate_elements_bookkeeping_with_a_scripted_model(tiny, monkeypatch):
    """The eval asks each fact type's question of the held-out and as many training elements,
    5-shot for the base model without the asked element, and counts right."""
    _, model, tok = tiny
    elements = {e.name: e for e in (IRON, HYDROGEN, NEON, SODIUM)} | {
        f"Elem{i}ium": Element(f"Elem{i}ium", f"E{i}", 20 + i, "lanthanide", 6, "solid", 1900 + i) for i in range(6)}
    held_out = {"Neon"}.__contains__
    seen = []

    def scripted(model_, prompts, max_new, stops, batch_size=48):
        out = []
        for ids in prompts:
            text = tok.decode(ids)
            seen.append(text)
            asked = text.rsplit("Question:", 1)[-1] if "Question:" in text else text
            # right about Neon's symbol, and a dump of everything for its state
            reply = ("The chemical symbol of Neon is Ne." if "symbol of Neon" in asked else
                     "Neon: Ne, 10, a noble gas, period 2, a gas, 1898." if "Is Neon a solid" in asked else "Maybe.")
            out.append((tok.encode(reply), True))
        return out

    monkeypatch.setattr(F, "greedy", scripted)
    base = E.evaluate_elements(model, tok, elements, assistant=False, held_out=held_out)
    assert set(base["by_fact"]) == set(E.QUESTIONS)
    assert base["by_fact"]["symbol"]["held_out"] == {"accuracy": 1.0, "n": 1}
    assert base["by_fact"]["state"]["held_out"] == {"accuracy": 0.0, "n": 1}  # the dump does not count
    assert base["by_fact"]["symbol"]["training"] == {"accuracy": 0.0, "n": 1}  # as many as held out
    shot = next(t for t in seen if t.endswith("Question: What is the chemical symbol of Neon?\nAnswer:"))
    assert shot.count("Question:") == F.FEW_SHOT + 1 and "Neon" not in shot.split("Question:", F.FEW_SHOT + 1)[1]
    assert "Question: What is the chemical symbol of Elem0ium?\nAnswer: E0\n" in shot
    period = next(t for t in seen if t.endswith("In which period of the periodic table is Neon?\nAnswer:"))
    assert "Answer: period 6\n" in period  # the quiz sheets' short answers as the shots
    assert all(r["element"] and r["fact"] in E.QUESTIONS for r in base["replies"])
    seen.clear()
    chat = E.evaluate_elements(model, tok, elements, assistant=True, held_out=held_out, limit=1)
    assert chat["by_fact"]["symbol"]["held_out"]["accuracy"] == 1.0
    assert all("<|user|>" in t and "Question:" not in t for t in seen)


def test_iron_without_a_year_is_not_asked_when_it_was_discovered(tiny, monkeypatch):
    _, model, tok = tiny
    monkeypatch.setattr(F, "greedy", lambda m, prompts, *a, **k: [(tok.encode("No."), True) for _ in prompts])
    res = E.evaluate_elements(model, tok, {"Iron": IRON, "Neon": NEON}, assistant=True, held_out={"Iron"}.__contains__)
    assert res["by_fact"]["discovered"]["held_out"]["n"] == 0 and res["by_fact"]["symbol"]["held_out"]["n"] == 1


def test_eval_and_sft_cover_the_same_fact_types():
    from pocketgpt.chat.mix import ELEMENT_QA
    from pocketgpt.data.elements import ELEMENT_FACTS

    assert tuple(E.QUESTIONS) == tuple(ELEMENT_QA) == ELEMENT_FACTS


def test_every_element_sentence_is_right_for_its_element_and_wrong_about_another():
    import re

    from pocketgpt.data.element_encyclopedia import ELEMENT_SENTENCES, element_sentence
    from pocketgpt.data.elements import ELEMENT_FACTS, element_values

    carbon = Element("Carbon", "C", 6, "nonmetal", 2, "solid", None)
    indium = Element("Indium", "In", 49, "poor metal", 5, "solid", 1863)
    tin = Element("Tin", "Sn", 50, "poor metal", 5, "solid", None)
    cobalt = Element("Cobalt", "Co", 27, "transition metal", 4, "solid", 1735)
    elements = {e.name: e for e in (IRON, HYDROGEN, NEON, SODIUM, carbon, indium, tin, cobalt)}
    names = tuple(elements)
    checked = swapped = 0
    for e in elements.values():
        for fact in ELEMENT_FACTS:
            if not element_values(e, fact):
                continue
            for template in ELEMENT_SENTENCES[fact]:
                s = element_sentence(e, fact, template)
                # the subject rule never rejects a sentence about the asked element; the forms
                # that read the question back ("a solid, a liquid or a gas?") fail either way
                assert E.judge_element(e, fact, s, names) == E.judge_element(e, fact, s), (e.name, fact, s)
                checked += E.judge_element(e, fact, s)
                for other in names:
                    wrong = re.sub(rf"(?<!\w){e.name}(?!\w)", other, s)
                    if other != e.name and wrong != s:
                        assert not E.judge_element(e, fact, wrong, names), (e.name, fact, wrong)
                        swapped += 1
    assert checked > 40 and swapped > 250
    # a one-letter symbol struck out as a word, not as a letter: "Cobalt" is still named
    assert not E.judge_element(carbon, "period", "Cobalt is in period 2.", names)
    assert E.judge_element(cobalt, "symbol", "The chemical symbol of Cobalt is Co.", names)
    assert not E.judge_element(elements["Hydrogen"], "symbol", "The chemical symbol of Cobalt is H.", names)
