"""Encyclopedia pages and quiz sheets, and the country facts / held-out set."""

from __future__ import annotations

import random
import re

from data_testlib import make_stand_in_packages

from pocketgpt.data import encyclopedia as enc
from pocketgpt.data.countries import Country, country_facts, held_out_countries, is_held_out

SPAIN = Country("Spain", "Madrid", "Europe", "Southern Europe", 46507760, 505992.0, ("Spanish",), ("euro",),
                ("France", "Portugal"))
JAPAN = Country("Japan", "Tokyo", "Asia", "Eastern Asia", 126865000, 377930.0, ("Japanese",), ("Japanese yen",), ())


def sentences(page: str) -> list[str]:
    body = page.split("\n", 2)[2]
    return [s.strip("- ").strip() for s in re.split(r"(?<=[.?])\s+", body) if s.strip()]


def test_page_has_six_capital_phrasings_and_two_other_facts():
    for seed in range(20):
        page = enc.render_page(SPAIN, random.Random(seed))
        sents = [s for s in sentences(page) if not s.startswith("Q:") and not s.startswith("A:")]
        capital = [s for s in sents if "Madrid" in s]
        assert len(set(capital)) == len(capital) >= enc.CAPITAL_SENTENCES_PER_PAGE - 1  # "Q: .. A: .." splits in two
        assert page.count("Madrid") == enc.CAPITAL_SENTENCES_PER_PAGE
        assert len([s for s in sents if "Madrid" not in s]) == enc.OTHER_FACTS_PER_PAGE
    renders = {enc.render_page(SPAIN, random.Random(s)) for s in range(20)}
    assert len(renders) == 20  # fresh phrasing and order each time


def test_inline_quiz_puts_each_answer_right_after_its_question():
    rng = random.Random(1)
    for _ in range(10):
        sheet = enc.render_quiz([SPAIN, JAPAN] * 4, rng, answer_key=False)
        lines = sheet.splitlines()[2:]
        for q, a in zip(lines[0::2], lines[1::2]):
            assert q.endswith(("?", ".")) and ("Spain" in q or "Japan" in q or "Madrid" in q or "Tokyo" in q)
            want = {"Spain": "Madrid", "Japan": "Tokyo", "Madrid": "Spain", "Tokyo": "Japan"}
            key = next(k for k in ("Spain", "Japan", "Madrid", "Tokyo") if k in q)
            assert re.fullmatch(r"(Answer|A): " + want[key], a)


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
    quizzes = sum(1 for d in a if d.splitlines()[0] in enc.QUIZ_TITLES)
    assert 0.2 < quizzes / len(a) < 0.4


def test_country_facts_and_held_out_rule(tmp_path):
    pins = make_stand_in_packages(tmp_path / "cache")
    facts = country_facts(tmp_path / "cache", pins)
    assert sorted(facts) == ["France", "Japan", "Palestine", "Portugal", "Spain", "Vatican City"]
    assert facts["Spain"].neighbours == ("France", "Portugal") and facts["Spain"].languages == ("Spanish",)
    assert facts["Spain"].currencies == ("euro",) and facts["Vatican City"].capital == "Vatican City"
    assert held_out_countries(facts) == sorted(n for n in facts if is_held_out(n))
    names = [f"Country {i}" for i in range(5000)]
    share = sum(map(is_held_out, names)) / len(names)
    assert 0.18 < share < 0.22
    assert is_held_out("Canada") and not is_held_out("Spain")  # fixed forever: issues 6 and 8 rely on it
