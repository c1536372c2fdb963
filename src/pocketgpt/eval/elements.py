"""Chemical elements: what pretraining taught about a second kind of entity.

Each element fact type (:data:`pocketgpt.data.elements.ELEMENT_FACTS`) is asked, in the
element encyclopedia's first quiz phrasing, about every held-out element (never in SFT
data) and as many training elements: the assistant in the chat format, the base model
5-shot in the quiz format, exactly as :mod:`.facts` asks about countries
(:func:`pocketgpt.eval.facts.ask_facts`).

Judged as a person would: the value must be in the reply as a whole word (the atomic
number 1 is not in "16"; symbols are case-sensitive, "Fe" but not "fe"), a reply naming
the values of two or more other fact types does not count, and for the state and the
category a reply that also names another state or category ("a solid, a liquid or a gas",
the question read back) does not count either, nor does a reply about another element: the
first element it names must be the asked one.

>>> from pocketgpt.data.elements import Element
>>> fe = Element("Iron", "Fe", 26, "transition metal", 4, "solid", None)
>>> judge_element(fe, "symbol", "The chemical symbol of Iron is Fe."), judge_element(fe, "symbol", "It is fe.")
(True, False)
>>> judge_element(fe, "number", "Iron is element number 26."), judge_element(fe, "period", "Period 26.")
(True, False)
>>> judge_element(fe, "state", "Is Iron a solid, a liquid or a gas at room temperature?")
False
>>> judge_element(fe, "symbol", "Iron, Fe, number 26, a transition metal in period 4.")
False
>>> judge_element(fe, "period", "Cobalt is in period 4.", ["Iron", "Cobalt"])
False
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pocketgpt.data.element_encyclopedia import ELEMENT_QUESTIONS, element_quiz_answer, plural
from pocketgpt.data.elements import ELEMENT_FACTS, Element, element_values, is_element_held_out
from pocketgpt.eval.facts import _mentions, about, ask_facts, judge_values, mode_name, read_records

# the first quiz question of each fact type, with {c} for the name as the facts eval asks
QUESTIONS = {fact: ELEMENT_QUESTIONS[fact][0].replace("{e}", "{c}") for fact in ELEMENT_FACTS}
# the values a categorical fact can take; naming a second one is a guess, not an answer
STATES = ("solid", "liquid", "gas")
CATEGORIES = ("nonmetal", "noble gas", "alkali metal", "alkaline earth metal", "metalloid", "halogen", "poor metal",
              "transition metal", "lanthanide", "actinide")


def judge_element(e: Element, fact: str, reply: str, names=()) -> bool:
    """Right when the reply names the fact (whole words) and the values of at most one
    other fact type, for the state and the category no rival value, and (given every
    element's ``names``) no other element before ``e``."""
    if names and not about(e.name, reply, names, strike=[v for f in ELEMENT_FACTS for v in element_values(e, f)]):
        return False
    others = {f: _values(e, f) for f in ELEMENT_FACTS if f != fact}
    # the symbol counts only as written ("He", not "he"); "gas" inside "noble gas" is one fact, not two
    if "symbol" in others and not _mentions(reply, others["symbol"], whole_words=True, case_sensitive=True):
        del others["symbol"]
    if "state" in others and "category" in others and e.state and e.state in e.category:
        if not _mentions(re.sub(re.escape(e.category), "", reply, flags=re.I), [e.state], whole_words=True):
            del others["state"]
    match = dict(whole_words=True, case_sensitive=fact == "symbol")
    if not judge_values(_values(e, fact), list(others.values()), reply, **match):
        return False
    rivals = {"state": STATES, "category": CATEGORIES + tuple(map(plural, CATEGORIES))}.get(fact, ())
    value = e.state if fact == "state" else e.category
    return not _mentions(reply, [r for r in rivals if not r.startswith(value) and r not in value], whole_words=True)


def _values(e: Element, fact: str) -> tuple[str, ...]:
    """:func:`element_values`, and a category also in the plural ("transition metals")."""
    v = element_values(e, fact)
    return v + tuple(map(plural, v)) if fact == "category" else v


def load_elements(path: str | Path | None = None, cache_dir=None) -> dict[str, Element]:
    """``{name: Element}`` from a JSON list of element records (the speedrun's
    ``elements.json``), or else from the pinned mendeleev package."""
    if path is None:
        from pocketgpt.data.elements import element_facts

        return element_facts(cache_dir)
    return read_records(path, Element, "--elements", "element")


def write_elements(path: str | Path, elements: dict[str, Element]) -> None:
    """The records :func:`load_elements` reads, written atomically."""
    from dataclasses import asdict

    from pocketgpt.fsio import atomic_write_text

    atomic_write_text(path, json.dumps([asdict(e) for e in elements.values()], indent=1, ensure_ascii=False) + "\n")


def evaluate_elements(model, tokenizer, elements: dict[str, Element], *, assistant: bool, max_new_tokens: int = 32,
                      batch_size: int = 48, held_out=None, limit: int | None = None) -> dict:
    """Accuracy per element fact type on held-out and training elements, and every reply."""
    names = tuple(elements)
    by_fact, rows = ask_facts(model, tokenizer, elements, assistant=assistant, questions=QUESTIONS,
                              values=element_values, short_answer=element_quiz_answer,
                              judge=lambda e, fact, reply: judge_element(e, fact, reply, names),
                              held_out=held_out or is_element_held_out, limit=limit, key="element",
                              max_new_tokens=max_new_tokens, batch_size=batch_size)
    return {"mode": mode_name(assistant), "by_fact": by_fact, "replies": rows}
