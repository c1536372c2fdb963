"""The facts eval: judging replies, the country-records file, and its bookkeeping end to end."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from pocketgpt.data.countries import Country
from pocketgpt.errors import UserError
from pocketgpt.eval import facts as F

KENYA = Country("Kenya", "Nairobi", "Africa", "Eastern Africa", 41800000, 580367.0, ("English", "Swahili"),
                ("Kenyan shilling",), ("Ethiopia", "Somalia"))
FIJI = Country("Fiji", "Suva", "Oceania", "Melanesia", 859178, 18272.0, ("English", "Fijian"), ("Fijian dollar",), ())
ZED = Country("Zedland", "Zed City", "Europe", "Northern Europe", 1000, 10.0, ("Zeddish",), ("zed",), ("Kenya",))


@pytest.mark.parametrize("fact, reply, right", [
    ("language", "People in Kenya speak Swahili.", True),
    ("language", "people speak ENGLISH", True),
    ("language", "People in Kenya speak French.", False),
    ("region", "Kenya lies in Eastern Africa.", True),
    ("region", "It is in Africa.", True),
    ("currency", "The currency of Kenya is the Kenyan shilling.", True),
    ("neighbours", "Kenya borders Somalia.", True),
    ("neighbours", "The capital of Kenya is Nairobi.", False),
    # one other fact type named beside the asked one is fine; two or more is a dump
    ("language", "In Eastern Africa, people speak Swahili.", True),
    ("language", "Kenya, in Eastern Africa, speaks Swahili and pays with the Kenyan shilling.", False),
])
def test_judge(fact, reply, right):
    assert F.judge(KENYA, fact, reply) is right


def test_declines():
    assert F.declines("I don’t know. I was trained on a small corpus about countries.")
    assert F.declines("Sorry, I do not know that.")
    assert not F.declines("Shakespeare wrote Hamlet.")


def test_load_facts_round_trip_and_errors(tmp_path):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps([asdict(KENYA), asdict(FIJI)]))
    assert F.load_facts(path) == {"Kenya": KENYA, "Fiji": FIJI}
    bad = dict(asdict(KENYA))
    del bad["capital"]
    path.write_text(json.dumps([asdict(KENYA), bad]))
    with pytest.raises(UserError, match=r"record 1: expected the fields"):
        F.load_facts(path)
    path.write_text("{")
    with pytest.raises(UserError, match="not valid JSON"):
        F.load_facts(path)
    with pytest.raises(UserError, match="no such file"):
        F.load_facts(tmp_path / "nope.json")


def test_evaluate_facts_bookkeeping_with_a_scripted_model(tiny, monkeypatch):
    """A stand-in for greedy decoding answers from a script; the eval must ask the right
    questions, build 5-shot prompts without the asked country, and count right."""
    _, model, tok = tiny
    countries = {c.name: c for c in (KENYA, FIJI, ZED)} | {
        f"Land{i}": Country(f"Land{i}", f"Town{i}", "Asia", "Eastern Asia", 5, 5.0, (f"Lang{i}",), (f"coin{i}",),
                            ("Kenya",)) for i in range(6)}
    held_out = {"Zedland"}.__contains__
    seen = []

    def scripted(model_, prompts, max_new, stops, batch_size=48):
        out = []
        for ids in prompts:
            text = tok.decode(ids)
            seen.append(text)
            # right about Zedland's language only; everything else is wrong
            reply = "Zeddish" if "speak in Zedland?" in text.rsplit("Question:", 1)[-1] else "I think so."
            out.append((tok.encode(reply), True))
        return out

    monkeypatch.setattr(F, "greedy", scripted)
    base = F.evaluate_facts(model, tok, countries, assistant=False, held_out=held_out)
    assert base["by_fact"]["language"]["held_out"] == {"accuracy": 1.0, "n": 1}
    assert base["by_fact"]["region"]["held_out"] == {"accuracy": 0.0, "n": 1}
    # as many training countries as held-out ones; Fiji (no neighbours) is skipped for neighbours
    assert base["by_fact"]["language"]["training"]["n"] == 1
    zed_prompt = next(t for t in seen if t.endswith("Question: Which language do people speak in Zedland?\nAnswer:"))
    assert zed_prompt.count("Question:") == F.FEW_SHOT + 1 and "Zeddish" not in zed_prompt
    assert base["out_of_scope"]["n"] == len(F.OUT_OF_SCOPE) and base["out_of_scope"]["declined_rate"] == 0.0
    seen.clear()
    chat = F.evaluate_facts(model, tok, countries, assistant=True, held_out=held_out)
    assert chat["by_fact"]["language"]["held_out"]["accuracy"] == 1.0
    assert all("<|user|>" in t and "Question:" not in t for t in seen)


def test_eval_and_sft_cover_the_same_fact_types():
    from pocketgpt.chat.mix import FACT_QA
    from pocketgpt.data.countries import FACT_TYPES

    assert tuple(F.QUESTIONS) == tuple(FACT_QA) == FACT_TYPES


def _tricky_countries():
    """Names inside names (Niger / Nigeria, Guinea / Papua New Guinea) and a currency that
    holds a country's name (Niue pays in the New Zealand dollar)."""
    def c(name, cap, sub, langs, cur, nbrs, dem):
        return Country(name, cap, "Somewhere", sub, 1000, 10.0, langs, cur, nbrs, dem)

    return {x.name: x for x in (
        KENYA,
        c("Niger", "Niamey", "Western Africa", ("French",), ("West African CFA franc",), ("Nigeria", "Chad"), "Nigerien"),
        c("Nigeria", "Abuja", "Western Africa", ("English",), ("Nigerian naira",), ("Niger", "Chad"), "Nigerian"),
        c("Chad", "N'Djamena", "Middle Africa", ("Arabic", "French"), ("Central African CFA franc",), ("Niger",),
          "Chadian"),
        c("Guinea", "Conakry", "Western Africa", ("French",), ("Guinean franc",), (), "Guinean"),
        c("Papua New Guinea", "Port Moresby", "Melanesia", ("English",), ("Papua New Guinean kina",), (),
          "Papua New Guinean"),
        c("New Zealand", "Wellington", "Australia and New Zealand", ("English",), ("New Zealand dollar",), (),
          "New Zealander"),
        c("Niue", "Alofi", "Polynesia", ("English",), ("New Zealand dollar",), (), "Niuean"),
    )}


def test_every_encyclopedia_sentence_is_right_for_its_country_and_wrong_about_another():
    import re

    from pocketgpt.data.countries import FACT_TYPES, fact_values
    from pocketgpt.data.encyclopedia import FACT_SENTENCES, fact_sentence

    countries = _tricky_countries()
    names = tuple(countries)
    checked = swapped = 0
    for c in countries.values():
        for fact in FACT_TYPES:
            if not fact_values(c, fact):
                continue
            for template in FACT_SENTENCES[fact]:
                s = fact_sentence(c, fact, template)
                assert F.judge(c, fact, s, names) and F.judge(c, fact, s), (c.name, fact, s)
                checked += 1
                for other in names:  # the same sentence said of another country is not an answer about c
                    if other == c.name or other in fact_values(c, fact) or other in c.name or c.name in other:
                        continue
                    wrong = re.sub(rf"(?<!\w){re.escape(c.name)}(?!\w)", other, s)
                    if wrong != s:
                        assert not F.judge(c, fact, wrong, names), (c.name, fact, wrong)
                        swapped += 1
    assert checked > 60 and swapped > 300
    # the rule reads names as a person does: longest first, answers struck out
    assert F.judge(countries["Niue"], "currency", "Niue pays with the New Zealand dollar.", names)
    assert not F.judge(countries["Niue"], "currency", "New Zealand pays with the New Zealand dollar.", names)
    assert F.judge(countries["Niger"], "neighbours", "Nigeria and Chad border Niger.", names)
    assert not F.judge(countries["Guinea"], "region", "Papua New Guinea lies in Western Africa.", names)
    assert F.judge(countries["Papua New Guinea"], "region", "Papua New Guinea lies in Melanesia.", names)
    assert F.judge(countries["Guinea"], "region", "Western Africa.", names)  # names no country: its fact decides
