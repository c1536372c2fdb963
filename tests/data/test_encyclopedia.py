"""Encyclopedia pages and quiz sheets, and the country facts / held-out set."""

from __future__ import annotations

import random
import re

import pytest

from data_testlib import make_stand_in_packages

from pocketgpt.data import encyclopedia as enc
from pocketgpt.data.countries import FACT_TYPES, Country, country_facts, held_out_countries, is_held_out
from pocketgpt.errors import UserError

SPAIN = Country("Spain", "Madrid", "Europe", "Southern Europe", 46507760, 505992.0, ("Spanish",), ("Euro",),
                ("France", "Portugal"), "Spanish")
JAPAN = Country("Japan", "Tokyo", "Asia", "Eastern Asia", 126865000, 377930.0, ("Japanese",), ("Yen",), (), "Japanese")
KENYA = Country("Kenya", "Nairobi", "Africa", "Eastern Africa", 41800000, 580367.0, ("English", "Swahili"),
                ("Kenyan Shilling",), ("Ethiopia", "Somalia"), "Kenyan")


def sentences(page: str) -> list[str]:
    body = page.split("\n", 2)[2]
    return [s.strip("- ").strip() for s in re.split(r"(?<=[.?])\s+", body) if s.strip()]


def test_page_has_the_capital_phrasings_and_every_other_fact():
    for seed in range(20):
        page = enc.render_page(KENYA, random.Random(seed))
        assert page.count("Nairobi") == enc.CAPITAL_SENTENCES_PER_PAGE
        for fact in FACT_TYPES:  # each fact type once, whatever its phrasing
            said = [t for t in enc.FACT_SENTENCES[fact] if enc.fact_sentence(KENYA, fact, t) in page]
            assert len(said) == 1, (fact, page)
        assert "41.8 million" in page and "580,367" in page
    assert "English and Swahili are spoken" in enc.fact_sentence(KENYA, "language", "{v} {is_are} spoken in {c}.")
    assert enc.fact_sentence(SPAIN, "language", "The official language{s} of {c}: {v}.").endswith("language of Spain: Spanish.")
    assert "has no land borders" in enc.render_page(JAPAN, random.Random(0)) or "No country borders Japan" in \
        enc.render_page(JAPAN, random.Random(0))
    renders = {enc.render_page(SPAIN, random.Random(s)) for s in range(20)}
    assert len(renders) == 20  # fresh phrasing and order each time


def _fact_of(question: str, c: Country) -> str:
    """Which fact type a quiz question asks, by matching it against the templates."""
    hits = [f for f, qs in enc.FACT_QUESTIONS.items() if question in {q.format(c=c.name) for q in qs}]
    assert len(hits) == 1, question
    return hits[0]


def test_inline_quiz_puts_each_answer_right_after_its_question():
    rng = random.Random(1)
    asked = set()
    by_name = {c.name: c for c in (SPAIN, JAPAN, KENYA)}
    for _ in range(30):
        sheet = enc.render_quiz([SPAIN, JAPAN, KENYA] * 3, rng, answer_key=False)
        lines = sheet.splitlines()[2:]
        assert len(lines) % 2 == 0
        for q, a in zip(lines[0::2], lines[1::2]):
            q = re.sub(r"^(\d+\. |Question: |Q\d+: )", "", q)
            answer = re.fullmatch(r"(?:Answer|A): (.+)", a).group(1)
            capital_of = [c for c in by_name.values() if c.capital in q]
            if capital_of:  # the reverse question: which country has this capital?
                assert answer == capital_of[0].name
                continue
            c = next(c for n, c in by_name.items() if n in q)
            fact = _fact_of(q, c)
            asked.add(fact)
            assert answer == enc.quiz_answer(c, fact)
            assert fact == "capital" or enc.fact_values(c, fact)  # Japan has no neighbours to ask about
    assert asked == set(enc.QUIZ_FACTS)


def test_topic_quiz_asks_one_fact_type():
    for topic in enc.QUIZ_FACTS:
        sheet = enc.render_quiz([SPAIN, KENYA] * 3, random.Random(3), answer_key=True, topic=topic)
        questions = [re.sub(r"^\d+\. ", "", line) for line in sheet.split("\n\n")[1].splitlines()]
        assert len(questions) == 6 and sheet.splitlines()[0] in enc.QUIZ_TOPIC_TITLES[topic]
        for q in questions:
            c = SPAIN if "Spain" in q else KENYA
            assert (topic == "capital" and c.capital in q) or _fact_of(q, c) == topic


def test_answer_key_sheet_lists_answers_at_the_end():
    sheet = enc.render_quiz([SPAIN, JAPAN], random.Random(2), answer_key=True)
    top, key = sheet.split("\n\n")[1:3]
    assert top.startswith("1. ") and "Madrid" not in top.replace("Madrid is", "") or "Madrid as" in top
    answers = key.splitlines()[1:]
    assert len(answers) == 2 and answers[0].startswith("1. ")


def test_generate_is_deterministic_and_mixes_quizzes():
    facts = {"Spain": SPAIN, "Japan": JAPAN}
    cfg = enc.EncyclopediaConfig(quiz_share=0.3, quiz_min=2, quiz_max=2)
    a = list(enc.generate(facts, 50_000, seed=5, config=cfg))
    assert a == list(enc.generate(facts, 50_000, seed=5, config=cfg))
    assert a != list(enc.generate(facts, 50_000, seed=6, config=cfg))
    assert 50_000 <= sum(map(len, a)) < 50_000 + 1000
    titles = set(enc.MIXED_QUIZ_TITLES).union(*enc.QUIZ_TOPIC_TITLES.values())
    quizzes = sum(1 for d in a if d.splitlines()[0] in titles)
    assert 0.2 < quizzes / len(a) < 0.4


def test_country_facts_and_held_out_rule(tmp_path):
    pins = make_stand_in_packages(tmp_path / "cache")
    facts = country_facts(tmp_path / "cache", pins)
    assert sorted(facts) == ["France", "Japan", "Palestine", "Portugal", "Spain", "Vatican City"]
    assert facts["Spain"].neighbours == ("France", "Portugal") and facts["Spain"].languages == ("Spanish",)
    assert facts["Spain"].currencies == ("Euro",) and facts["Vatican City"].capital == "Vatican City"
    assert facts["Spain"].demonym == "Spanish" and facts["France"].demonym == ""
    # codes pycountry does not know (a withdrawn currency, a bad language code) are left out
    assert facts["Japan"].languages == ("Japanese",) and facts["Japan"].currencies == ("Yen",)
    assert held_out_countries(facts) == sorted(n for n in facts if is_held_out(n))
    names = [f"Country {i}" for i in range(5000)]
    share = sum(map(is_held_out, names)) / len(names)
    assert 0.18 < share < 0.22
    assert is_held_out("Canada") and not is_held_out("Spain")  # fixed forever: issues 6 and 8 rely on it


def test_iso_names_from_the_pycountry_archive(tmp_path):
    from pocketgpt.data.countries import iso_names
    from pocketgpt.data.packages import fetch_pinned

    pins = make_stand_in_packages(tmp_path / "cache")
    languages, currencies = iso_names(fetch_pinned("pycountry", tmp_path / "cache", pins))
    assert languages["sw"] == "Swahili" and languages["es"] == "Spanish"  # the ISO qualifier is dropped
    assert currencies == {"EUR": "Euro", "JPY": "Yen"}
    not_pycountry = fetch_pinned("countryinfo", tmp_path / "cache", pins)
    with pytest.raises(UserError, match="is this the pycountry package"):
        iso_names(not_pycountry)
