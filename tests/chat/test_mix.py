"""The default SFT mix on stand-in packages: sources, held-out rule, determinism, CLI."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from chat_testlib import STAND_IN_COUNTRIES, make_chat_stand_ins

from pocketgpt.chat.data import read_jsonl
from pocketgpt.chat.mix import ChatMixConfig, build_default_chat
from pocketgpt.data.countries import is_held_out


def _fold(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c)).lower()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("mix")
    pins = make_chat_stand_ins(root / "cache")
    # chatterbot is opt-in; built here with it, so its reader and the held-out rule over it are tested
    report = build_default_chat(root / "out", ChatMixConfig(capital_chains=20, greeting_wraps=10, chatterbot=True),
                                cache_dir=root / "cache", pins=pins)
    return root, pins, report, read_jsonl(root / "out" / "chat.jsonl")


def test_held_out_countries_never_appear(built):
    _, _, report, convs = built
    held = [c for c in STAND_IN_COUNTRIES if is_held_out(c["name"])]
    assert {c["name"] for c in held} == {"Chad", "Guinea", "Canada", "China", "Cameroon"}
    assert sorted(report["held_out_countries"]) == sorted(c["name"] for c in held)
    text = _fold("\n".join(m["content"] for c in convs for m in c.messages))
    for c in held:
        for term in (c["name"], c["capital"]):
            assert not re.search(rf"(?<!\w){re.escape(_fold(term))}(?!\w)", text), term
    # the chatterbot lines about china/Beijing, Yaounde and neon were dropped, and so was Papua New Guinea
    assert report["sources"]["chatterbot"]["dropped_held_out"] == 3
    assert "port moresby" not in text


def test_capitals_for_training_countries_in_several_phrasings(built):
    _, _, report, convs = built
    single = [c for c in convs if c.meta["source"] == "capitals"]
    france = [c for c in single if "France" in c.messages[-1]["content"]]
    assert len(france) == 4 and len({c.messages[-2]["content"] for c in france}) == 4
    for c in france:
        assert c.messages[-1]["content"] in ("The capital of France is Paris.", "The capital city of France is Paris.",
                                             "France's capital is Paris.")
    named = {n for n in ("France", "Spain", "Japan", "Peru", "Italy")
             if any(n in m["content"] for c in single for m in c.messages)}
    assert named == {"France", "Spain", "Japan", "Peru", "Italy"}
    assert report["training_countries"] == 6 and report["training_countries_in_sft"] == 5


def test_chatterbot_identity_multi_turn(built):
    _, _, report, convs = built
    bot = [c for c in convs if c.meta["source"] == "chatterbot"]
    texts = [[m["content"] for m in c.messages] for c in bot]
    assert ["Hello", "Hi"] in texts and ["42", "7"] in texts
    assert ["Good morning, how are you?", "I am doing well, how about you?"] in texts  # odd tail dropped
    assert not any("ChatterBot" in t for conv in texts for t in conv)  # its identity answers are gone
    assert report["chatterbot"]["identity_dropped"] == 2
    long = sorted((t for t in texts if t[0].startswith("turn")), key=len, reverse=True)
    assert [len(t) for t in long] == [8, 2] and long[1] == ["turn 8", "turn 9"]  # 11 turns: cut, tail dropped
    assert not any(t == ["Bonjour", "Salut"] for t in texts)  # English only
    ident = [c for c in convs if c.meta["source"] == "identity"]
    assert len(ident) >= 20
    who = [c.messages[-1]["content"] for c in ident if c.messages[0]["content"] in ("Who are you?", "What are you?")]
    # truthful: names itself, says it is small and can be wrong
    assert who and all("pocketgpt" in a and "small" in a and ("wrong" in a or "mistakes" in a) for a in who)
    names = [c.messages[-1]["content"] for c in ident if "name" in c.messages[0]["content"]]
    assert names and all("pocketgpt" in a for a in names)
    assert report["multi_turn"] == sum(len(c.messages) > 3 for c in convs) >= 30  # 20 + 10 + 2
    assert any(c.messages[0]["role"] == "system" for c in convs)


def test_deterministic_and_atomic(built, tmp_path):
    root, pins, report, _ = built
    again = build_default_chat(tmp_path / "o", ChatMixConfig(capital_chains=20, greeting_wraps=10, chatterbot=True),
                               cache_dir=root / "cache", pins=pins)
    assert (tmp_path / "o" / "chat.jsonl").read_bytes() == (root / "out" / "chat.jsonl").read_bytes()
    assert again == report == json.loads((root / "out" / "manifest.json").read_text())
    assert report["packages"]["chatterbot-corpus"]["version"] == "1.3.3"
    # the country names come from both packages, so both pins are recorded
    assert {n: report["packages"][n]["sha256"] for n in ("countryinfo", "pycountry")} == \
        {n: pins[n].sha256 for n in ("countryinfo", "pycountry")}
    from pocketgpt.errors import UserError

    with pytest.raises(UserError, match="already exists"):
        build_default_chat(tmp_path / "o", cache_dir=root / "cache", pins=pins)


def test_cli_default_chat(built, tmp_path, monkeypatch, capsys):
    from pocketgpt.cli import main
    from pocketgpt.data import packages

    root, pins, _, _ = built
    for name in ("countryinfo", "chatterbot-corpus", "pycountry", "mendeleev"):
        monkeypatch.setitem(packages.PINS, name, pins[name])
    rc = main(["data", "default-chat", "--out", str(tmp_path / "c"), "--cache", str(root / "cache")])
    out = capsys.readouterr().out
    assert rc == 0 and "5 held-out countries and 2 held-out elements never appear" in out
    convs = read_jsonl(tmp_path / "c" / "chat.jsonl")
    assert len(convs) > 50 and not any(c.meta["source"] == "chatterbot" for c in convs)  # opt-in only
    rc = main(["data", "default-chat", "--out", str(tmp_path / "d"), "--cache", str(root / "cache"),
               "--unknown", "0", "--chatterbot", "--element-phrasings", "0"])
    sources = {c.meta["source"] for c in read_jsonl(tmp_path / "d" / "chat.jsonl")}
    assert rc == 0 and "unknown" not in sources and "chatterbot" in sources and "elements" not in sources


def test_small_talk_replies_are_short_and_truthful(built):
    from pocketgpt.chat.mix import SMALL_TALK

    _, _, report, convs = built
    talk = [c for c in convs if c.meta["source"] == "small_talk"]
    assert len(talk) == report["sources"]["small_talk"]["conversations"] == ChatMixConfig().small_talk_copies * len(
        SMALL_TALK)
    replies = {a for _, answers in SMALL_TALK for a in answers}
    for c in talk:
        assert c.messages[-1]["content"] in replies and len(c.messages[-1]["content"]) < 120
    # never a claim to be human, to have feelings or to know jokes it cannot back
    assert not any(re.search(r"\bI am (a )?(human|person)\b|\bI feel\b", r) for r in replies)


def test_facts_of_every_type_for_training_countries(built):
    from pocketgpt.chat.mix import FACT_QA

    _, _, report, convs = built
    facts = [c for c in convs if c.meta["source"] == "facts"]
    asked = {q.format(c="France"): fact for fact, (qs, _) in FACT_QA.items() for q in qs}
    seen = {asked[c.messages[-2]["content"]] for c in facts if c.messages[-2]["content"] in asked}
    france = next(c for c in STAND_IN_COUNTRIES if c["name"] == "France")
    assert seen >= {"language", "region", "currency", "demonym"} | ({"neighbours"} if france.get("borders") else set())
    every_asked = {q.format(c=n["name"]): fact for fact, (qs, _) in FACT_QA.items() for q in qs
                   for n in STAND_IN_COUNTRIES}
    for c in facts:  # full sentences: the country after a lead-in, or "it" for the region
        reply, fact = c.messages[-1]["content"], every_asked[c.messages[-2]["content"]]
        assert reply.endswith(".")
        named = any(n["name"] in reply for n in STAND_IN_COUNTRIES)
        assert reply.startswith("It ") and not named if fact == "region" else named, reply
    assert report["sources"]["facts"]["conversations"] == len(facts) > 0


def test_unknown_questions_decline_and_are_not_the_evals(built):
    from pocketgpt.eval.facts import OUT_OF_SCOPE, declines

    _, _, report, convs = built
    unknown = [c for c in convs if c.meta["source"] == "unknown"]
    assert len(unknown) == report["sources"]["unknown"]["conversations"] == ChatMixConfig().unknown
    assert all(declines(c.messages[-1]["content"]) for c in unknown)
    asked = {c.messages[-2]["content"] for c in unknown}
    assert not asked & set(OUT_OF_SCOPE)  # the eval's questions stay unseen
    real = {_fold(c["name"]) for c in STAND_IN_COUNTRIES}
    for q in asked:
        assert not any(re.search(rf"(?<!\w){re.escape(n)}(?!\w)", _fold(q)) for n in real), q


def test_held_out_elements_never_appear_in_any_source(built):
    from data_testlib import STAND_IN_ELEMENTS

    from pocketgpt.data.elements import is_element_held_out

    _, _, report, convs = built
    held = sorted(name for _, name, *_ in STAND_IN_ELEMENTS if is_element_held_out(name))
    assert held == report["held_out_elements"] == ["Cesium", "Neon"]
    for c in convs:  # the whole mix, every source (chatterbot's "NEON." line included)
        text = _fold(" ".join(m["content"] for m in c.messages))
        assert not any(re.search(rf"(?<!\w){_fold(n)}(?!\w)", text) for n in held), (c.meta["source"], text)
    assert report["training_elements"] == len(STAND_IN_ELEMENTS) - 2


def test_elements_q_and_a_on_every_fact_type_in_full_sentences(built):
    from pocketgpt.chat.mix import ELEMENT_QA, PRONOUN_ELEMENT_REPLIES
    from pocketgpt.data.element_encyclopedia import element_sentence
    from pocketgpt.data.elements import element_facts

    root, pins, report, convs = built
    el = [c for c in convs if c.meta["source"] == "elements"]
    assert len(el) == report["sources"]["elements"]["conversations"] > 0
    asked = {q.format(e=n): (n, f) for f, (qs, _) in ELEMENT_QA.items() for q in qs
             for n in ("Hydrogen", "Iron", "Mercury", "Helium", "Carbon", "Francium")}
    seen = {asked[c.messages[-2]["content"]] for c in el}
    assert {f for n, f in seen if n == "Hydrogen"} == set(ELEMENT_QA)  # every fact type
    assert ("Iron", "discovered") not in seen and ("Francium", "state") not in seen  # unknown facts not taught
    replies = {c.messages[-1]["content"] for c in el}
    assert {"Its chemical symbol is H.", "At room temperature it is a liquid.", "It is in period 4 of the periodic table.",
            "Its atomic number is 26."} <= replies
    elements = element_facts(root / "cache", pins)
    for c in el:  # one full sentence per fact, the element said as "it", never by name
        n, fact = asked[c.messages[-2]["content"]]
        reply = c.messages[-1]["content"]
        assert reply == element_sentence(elements[n], fact, PRONOUN_ELEMENT_REPLIES[fact][0])
        assert not any(re.search(rf"\b{m}\b", reply) for m in elements), reply


def test_fact_answer_with_missing_facts():
    from pocketgpt.chat.mix import FACT_QA, fact_answer
    from pocketgpt.data.countries import Country

    bare = Country("Nowhere Isle", "Port", "Oceania", "", None, None, (), (), ())
    assert [fact_answer(bare, f, FACT_QA[f][1][0]) for f in ("language", "currency", "neighbours")] == [None] * 3
    assert fact_answer(bare, "region", FACT_QA["region"][1][0]) == "It lies in Oceania."


def test_invented_names_are_many_and_never_the_evals(built):
    """The unknown set teaches "a name the corpus never had", so its names must be varied,
    and the invented places the facts eval asks about must never be among them."""
    import random

    from pocketgpt.chat.mix import EVAL_INVENTED, invented_name
    from pocketgpt.eval.facts import OUT_OF_SCOPE

    _, _, _, convs = built
    unknown = [c.messages[-2]["content"] for c in convs if c.meta["source"] == "unknown"]
    names = {m for q in unknown for m in re.findall(r"\b[A-Z][a-z]{3,}\b", q)} - {"What", "Which", "Where", "How"}
    assert len(names) > 0.6 * len(unknown)  # not a handful of syllable combinations
    text = " ".join(m["content"] for c in convs for m in c.messages)
    for name in EVAL_INVENTED:
        assert any(name in q for q in OUT_OF_SCOPE)
        assert not re.search(rf"\b{name}\b", text, re.I), name

    class Scripted(random.Random):  # draws exactly "Zorvania" first, then "Dorvania"
        def __init__(self):
            super().__init__(0)
            self.picks = iter(["z", "o", "r", "v", "a", "n", "ia", "d", "o", "r", "v", "a", "n", "ia"])

        def choice(self, seq):
            return next(self.picks)

        def randint(self, a, b):
            return 2

    assert invented_name(Scripted(), set()) == "Dorvania"
