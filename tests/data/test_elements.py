"""Chemical element facts from the (stand-in) mendeleev wheel, their pages, quiz sheets and held-out set."""

from __future__ import annotations

import random
import re
import sqlite3
import zipfile

import pytest
from data_testlib import STAND_IN_ELEMENTS, make_stand_in_packages

from pocketgpt.data import element_encyclopedia as ee
from pocketgpt.data.elements import (ELEMENT_FACTS, Element, element_facts, element_values, held_out_elements,
                                     is_element_held_out, parse_mendeleev)
from pocketgpt.data.packages import fetch_pinned
from pocketgpt.errors import UserError

IRON = Element("Iron", "Fe", 26, "transition metal", 4, "solid", None)
NEON = Element("Neon", "Ne", 10, "noble gas", 2, "gas", 1898)


@pytest.fixture()
def elements(tmp_path):
    pins = make_stand_in_packages(tmp_path / "cache")
    return element_facts(tmp_path / "cache", pins)


def test_parse_reads_every_fact_and_settles_only_what_the_data_settles(elements):
    assert list(elements) == sorted(name for _, name, *_ in STAND_IN_ELEMENTS)
    assert elements["Neon"] == NEON
    assert elements["Iron"] == IRON  # known since antiquity: no year, not an invented one
    assert elements["Hydrogen"].category == "nonmetal" and elements["Cesium"].category == "alkali metal"
    assert elements["Mercury"].state == "liquid" and elements["Helium"].state == "gas"
    assert elements["Carbon"].state == "solid"  # sublimes: a boiling (sublimation) point, no melting point
    assert elements["Cesium"].state == "solid"  # melts at 301.6 K, above room temperature
    assert elements["Francium"].state == ""  # a melting point alone settles nothing
    assert element_values(elements["Francium"], "state") == () and element_values(IRON, "number") == ("26",)


def test_held_out_elements_are_a_fixed_fifth(elements):
    assert held_out_elements(elements) == ["Cesium", "Neon"]
    names = [f"Element {i}" for i in range(5000)]
    assert 0.18 < sum(map(is_element_held_out, names)) / len(names) < 0.22
    # their own salt: an element's split is not a country's
    from pocketgpt.data.countries import is_held_out

    assert sum(is_element_held_out(n) != is_held_out(n) for n in names) > 1000


def test_database_is_extracted_once_into_the_cache_and_a_foreign_wheel_is_refused(tmp_path, elements):
    pins = make_stand_in_packages(tmp_path / "cache")
    wheel = fetch_pinned("mendeleev", tmp_path / "cache", pins)
    db = wheel.parent / ".extracted" / "elements.db"
    assert db.is_file() and sqlite3.connect(db).execute("SELECT count(*) FROM elements").fetchone() == (8,)
    with zipfile.ZipFile(wheel) as z:
        assert db.read_bytes() == z.read("mendeleev/elements.db")
    db.write_bytes(b"stale")  # a damaged extraction is replaced, not read
    assert parse_mendeleev(wheel)["Neon"] == NEON
    with pytest.raises(UserError, match="is this the mendeleev package"):
        parse_mendeleev(fetch_pinned("countryinfo", tmp_path / "cache", pins))
    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("mendeleev/elements.db", b"not a database")
    with pytest.raises(UserError, match="not the expected mendeleev database"):
        parse_mendeleev(other)


def test_page_states_every_fact_once_in_varied_phrasings():
    for seed in range(20):
        page = ee.render_element_page(NEON, random.Random(seed))
        body = {s.strip("- ") for s in re.split(r"(?<=\.)\s+", page.split("\n", 2)[2]) if s.strip()}
        assert len(body) == len(ELEMENT_FACTS), page
        for fact in ELEMENT_FACTS:
            said = [t for t in ee.ELEMENT_SENTENCES[fact] if ee.element_sentence(NEON, fact, t) in body]
            assert len(said) == 1, (fact, page)
    assert "discovered" not in ee.render_element_page(IRON, random.Random(0))  # no year, no sentence
    assert len({ee.render_element_page(NEON, random.Random(s)) for s in range(20)}) == 20
    assert ee.element_sentence(NEON, "category", "{e} belongs to the elements called {p}.").endswith("noble gases.")
    assert ee.element_sentence(IRON, "category", "{e} is {a} {v}.") == "Iron is a transition metal."
    assert ee.element_sentence(Element("X", "X", 1, "alkali metal"), "category", "{e} is {a} {v}.") == \
        "X is an alkali metal."


def test_quiz_sheets_put_the_right_answer_after_each_question():
    items = [IRON, NEON, Element("Helium", "He", 2, "noble gas", 1, "gas", 1895)]
    by_question = {}
    for e in items:
        for fact in ELEMENT_FACTS:
            for q in ee.ELEMENT_QUESTIONS[fact]:
                by_question[q.format(e=e.name)] = (e, fact)
    seen = 0
    for seed in range(40):
        sheet = ee.render_element_quiz(items, random.Random(seed), answer_key=False, topic=None)
        lines = sheet.splitlines()
        for q, a in zip(lines, lines[1:]):
            question = q.split(": ", 1)[-1].split(". ", 1)[-1]
            if question in by_question:
                e, fact = by_question[question]
                assert a.split(": ", 1)[1] == ee.element_quiz_answer(e, fact), sheet
                seen += 1
            elif question.startswith("Which element has") or question.endswith("which element?"):
                assert a.split(": ", 1)[1] in {e.name for e in items}
    assert seen > 60
    key = ee.render_element_quiz(items, random.Random(1), answer_key=True, topic="symbol")
    assert key.splitlines()[0] in ee.QUIZ_TOPIC_TITLES["symbol"]
    answers = key.split("\n\n")[-1].splitlines()[1:]
    assert [a.split(". ", 1)[1] for a in answers] == [e.name if "which element" in q.lower() else e.symbol
                                                    for e, q in zip(items, key.split("\n\n")[1].splitlines())]
    # an element without the asked fact is skipped rather than answered with nothing
    assert "Iron" not in ee.render_element_quiz([IRON], random.Random(0), answer_key=False, topic="discovered")


def test_generate_is_deterministic_and_mixes_pages_and_quizzes():
    items = {e.name: e for e in (IRON, NEON)}
    a = list(ee.generate_elements(items, 20_000, seed=3))
    assert a == list(ee.generate_elements(items, 20_000, seed=3)) and a != list(ee.generate_elements(items, 20_000, 4))
    assert 20_000 <= sum(map(len, a)) < 21_000
    titles = set(ee.MIXED_QUIZ_TITLES).union(*ee.QUIZ_TOPIC_TITLES.values())
    assert 0.15 < sum(d.splitlines()[0] in titles for d in a) / len(a) < 0.45
