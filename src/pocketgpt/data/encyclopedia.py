"""The generated country encyclopedia: fact pages and quiz sheets, rendered afresh each time.

What makes a small model learn the capitals (see docs/data.md and the speedrun notes):
each fact in many phrasings, spread over separate documents rather than packed into
one; pages re-rendered with fresh random phrasings and sentence order every time;
and web-style quiz sheets, most with the answer right after each question, some with
an answer key at the end.

>>> import random
>>> from pocketgpt.data.countries import Country, fact_values
>>> spain = Country("Spain", "Madrid", "Europe", "Southern Europe", 46507760, 505992.0,
...                 ("Spanish",), ("euro",), ("France", "Portugal"))
>>> page = render_page(spain, random.Random(0))
>>> page.count("Madrid") >= CAPITAL_SENTENCES_PER_PAGE
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterator

from pocketgpt.data.countries import Country, fact_values

CAPITAL_SENTENCES_PER_PAGE = 6
OTHER_FACTS_PER_PAGE = 2

CAPITAL = (
    "The capital of {c} is {k}.",
    "{k} is the capital of {c}.",
    "{c}'s capital is {k}.",
    "The capital city of {c} is {k}.",
    "{k} is the capital city of {c}.",
    "{c}'s capital city is {k}.",
    "{c} has its capital in {k}.",
    "{k} serves as the capital of {c}.",
    "The seat of government of {c} is {k}.",
    "In {c}, the capital is {k}.",
    "{c} is governed from its capital, {k}.",
    "Capital of {c}: {k}.",
    "Travellers to {c} often begin in the capital, {k}.",
    "The national capital of {c} is the city of {k}.",
    "When people speak of the capital of {c}, they mean {k}.",
    "Q: What is the capital of {c}? A: {k}.",
)
QUESTION = (
    "What is the capital of {c}?",
    "What is the capital city of {c}?",
    "Which city is the capital of {c}?",
    "What city is the capital of {c}?",
    "Name the capital of {c}.",
    "What is {c}'s capital?",
    "The capital of {c} is which city?",
)
REVERSE_QUESTION = ("{k} is the capital of which country?", "Which country has {k} as its capital?")
TITLES = ("{c}", "# {c}", "{c}: facts", "Country profile: {c}", "{c} at a glance", "About {c}", "{c} - overview")
QUIZ_TITLES = ("World capitals quiz", "Geography quiz", "Capital cities: test yourself", "Quiz: capitals of the world",
               "Homework: capital cities", "Trivia night - capitals round", "Practice questions: geography")


def _number(n: float) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f} billion"
    if n >= 1e6:
        return f"{n / 1e6:.1f} million"
    return f"{int(round(n)):,}"


def join_names(items: tuple[str, ...]) -> str:
    """``("A", "B", "C")`` -> ``"A, B and C"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def location(c: Country) -> str:
    """Where a country lies, finest first: "Eastern Africa, in Africa", or just "Europe"."""
    return ", in ".join(fact_values(c, "region"))


def other_facts(c: Country, rng: random.Random) -> list[str]:
    """Every non-capital fact about ``c``, each in a randomly chosen phrasing."""
    facts = []
    if c.region:
        where = location(c)
        facts.append(rng.choice((f"{c.name} lies in {where}.", f"{c.name} is located in {where}.",
                                 f"Geographically, {c.name} belongs to {where}.")))
    if c.population:
        facts.append(rng.choice((f"{c.name} has a population of about {_number(c.population)}.",
                                 f"About {_number(c.population)} people live in {c.name}.")))
    if c.area_km2:
        facts.append(rng.choice((f"{c.name} covers {_number(c.area_km2)} square kilometres.",
                                 f"The area of {c.name} is about {_number(c.area_km2)} km².")))
    if c.languages:
        langs = join_names(c.languages)
        facts.append(rng.choice((f"The official language{'s' if len(c.languages) > 1 else ''} of {c.name}: {langs}.",
                                 f"People in {c.name} speak {langs}.")))
    if c.currencies:
        facts.append(rng.choice((f"The currency of {c.name} is the {c.currencies[0]}.",
                                 f"In {c.name} people pay with the {c.currencies[0]}.")))
    if c.neighbours:
        facts.append(rng.choice((f"{c.name} borders {join_names(c.neighbours)}.",
                                 f"The neighbours of {c.name} are {join_names(c.neighbours)}.")))
    else:
        facts.append(f"{c.name} has no land borders.")
    return facts


def render_page(c: Country, rng: random.Random) -> str:
    """One encyclopedia page: the capital in several phrasings plus a few other facts, shuffled."""
    capital = [t.format(c=c.name, k=c.capital) for t in rng.sample(CAPITAL, CAPITAL_SENTENCES_PER_PAGE)]
    others = other_facts(c, rng)
    sentences = capital + rng.sample(others, min(OTHER_FACTS_PER_PAGE, len(others)))
    rng.shuffle(sentences)
    title = rng.choice(TITLES).format(c=c.name)
    style = rng.random()
    if style < 0.5:
        body = " ".join(sentences)
    elif style < 0.8:
        cut = rng.randint(1, len(sentences) - 1)
        body = " ".join(sentences[:cut]) + "\n\n" + " ".join(sentences[cut:])
    else:
        body = "\n".join("- " + s for s in sentences)
    return f"{title}\n\n{body}\n"


def _qa(c: Country, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.15:
        return rng.choice(REVERSE_QUESTION).format(k=c.capital), c.name
    return rng.choice(QUESTION).format(c=c.name), c.capital


def render_quiz(countries: list[Country], rng: random.Random, answer_key: bool) -> str:
    """A quiz sheet; answers follow each question, or come in a key at the end."""
    qas = [_qa(c, rng) for c in countries]
    lines = [rng.choice(QUIZ_TITLES), ""]
    if answer_key:
        lines += [f"{i}. {q}" for i, (q, _) in enumerate(qas, 1)]
        lines += ["", rng.choice(("Answers:", "Answer key:", "Solutions:"))]
        lines += [f"{i}. {a}" for i, (_, a) in enumerate(qas, 1)]
    else:
        style = rng.randrange(3)
        for i, (q, a) in enumerate(qas, 1):
            if style == 0:
                lines.append(f"{i}. {q}\nAnswer: {a}")
            elif style == 1:
                lines.append(f"Question: {q}\nAnswer: {a}")
            else:
                lines.append(f"Q{i}: {q}\nA: {a}")
    return "\n".join(lines) + "\n"


@dataclass
class EncyclopediaConfig:
    """How the encyclopedia part is written. ``quiz_share``: fraction of documents that are
    quiz sheets; ``answer_key_share``: fraction of those with the key at the end."""

    quiz_share: float = 0.3
    answer_key_share: float = 0.3
    quiz_min: int = 8
    quiz_max: int = 16


def generate(countries: dict[str, Country], target_chars: int, seed: int,
             config: EncyclopediaConfig | None = None) -> Iterator[str]:
    """Yield documents until ``target_chars`` characters: rounds of one page per country
    (in a fresh random order) with quiz sheets mixed in. Deterministic for a seed."""
    cfg = config or EncyclopediaConfig()
    rng = random.Random(seed)
    names = list(countries.values())
    written = 0
    while written < target_chars:
        order = names[:]
        rng.shuffle(order)
        for c in order:
            if rng.random() < cfg.quiz_share:
                picks = rng.sample(names, min(len(names), rng.randint(cfg.quiz_min, cfg.quiz_max)))
                doc = render_quiz(picks, rng, answer_key=rng.random() < cfg.answer_key_share)
            else:
                doc = render_page(c, rng)
            written += len(doc)
            yield doc
            if written >= target_chars:
                return
