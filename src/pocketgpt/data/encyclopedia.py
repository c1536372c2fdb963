"""The generated country encyclopedia: fact pages and quiz sheets, rendered afresh each time.

What makes a small model learn facts (see docs/data.md and the speedrun notes): each
fact in many phrasings, spread over separate documents rather than packed into one;
pages re-rendered with fresh random phrasings and sentence order every time; and
web-style quiz sheets, most with the answer right after each question, some with an
answer key at the end. Every fact type the assistant is asked about (the capital and
:data:`pocketgpt.data.countries.FACT_TYPES`) is on every page and in the quiz sheets:
a fact that appears on a page only now and then, or never in a quiz, is not learnt.

>>> import random
>>> from pocketgpt.data.countries import Country, fact_values
>>> spain = Country("Spain", "Madrid", "Europe", "Southern Europe", 46507760, 505992.0,
...                 ("Spanish",), ("Euro",), ("France", "Portugal"), "Spanish")
>>> page = render_page(spain, random.Random(0))
>>> page.count("Madrid") >= CAPITAL_SENTENCES_PER_PAGE and "Portugal" in page and "Euro" in page
True
>>> quiz_answer(spain, "neighbours"), quiz_answer(spain, "region")
('France and Portugal', 'Southern Europe')
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Iterator

from pocketgpt.data.countries import FACT_TYPES, Country, fact_values

# Three capital sentences and one of each other fact per page: measured, six capital
# phrasings on one page taught no more than three, and the room goes to the other facts.
CAPITAL_SENTENCES_PER_PAGE = 3

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
REVERSE_QUESTION = ("{k} is the capital of which country?", "Which country has {k} as its capital?")
TITLES = ("{c}", "# {c}", "{c}: facts", "Country profile: {c}", "{c} at a glance", "About {c}", "{c} - overview")
QUIZ_TITLES = ("World capitals quiz", "Geography quiz", "Capital cities: test yourself", "Quiz: capitals of the world",
               "Homework: capital cities", "Trivia night - capitals round", "Practice questions: geography")


# One phrasing per sentence; {c} the country, {v} the value(s) in words, {s} a plural "s".
FACT_SENTENCES = {
    "language": ("People in {c} speak {v}.", "The official language{s} of {c}: {v}.", "In {c}, people speak {v}.",
                 "{v} {is_are} spoken in {c}.", "The language{s} of {c} {is_are} {v}.",
                 "Most people in {c} speak {v}.", "Q: Which language do people speak in {c}? A: {v}."),
    "region": ("{c} lies in {v}.", "{c} is located in {v}.", "Geographically, {c} belongs to {v}.",
               "{c} is a country in {v}.", "You will find {c} in {v}.", "On the map, {c} is in {v}.",
               "Q: In which part of the world is {c}? A: {v}."),
    "currency": ("The currency of {c} is the {v}.", "In {c} people pay with the {v}.",
                 "The money used in {c} is the {v}.", "{c} uses the {v} as its currency.",
                 "Prices in {c} are given in the {v}.", "The official currency of {c} is the {v}.",
                 "Q: What is the currency of {c}? A: the {v}."),
    "neighbours": ("{c} borders {v}.", "The neighbours of {c} are {v}.", "{c} shares borders with {v}.",
                   "The countries next to {c} are {v}.", "{c} has land borders with {v}.",
                   "Q: Which countries border {c}? A: {v}."),
    "demonym": ("People from {c} are called {v}.", "Someone from {c} is described as {v}.",
                "The demonym of {c} is {v}.", "A citizen of {c} is {v}.", "The people of {c} are known as {v}.",
                "Q: What do you call people from {c}? A: {v}."),
}
# quiz questions per fact type; the first of each is the one the facts eval asks
FACT_QUESTIONS = {
    "capital": ("What is the capital of {c}?", "What is the capital city of {c}?", "Which city is the capital of {c}?",
                "What city is the capital of {c}?", "Name the capital of {c}.", "What is {c}'s capital?",
                "The capital of {c} is which city?"),
    "language": ("Which language do people speak in {c}?", "What language is spoken in {c}?",
                 "What is the official language of {c}?", "What do people speak in {c}?"),
    "region": ("In which part of the world is {c}?", "Where is {c}?", "Which region is {c} in?",
               "Where is {c} located?"),
    "currency": ("What is the currency of {c}?", "Which currency is used in {c}?", "What money do they use in {c}?"),
    "neighbours": ("Which countries border {c}?", "What are the neighbours of {c}?",
                   "Which countries are next to {c}?"),
    "demonym": ("What do you call people from {c}?", "What are people from {c} called?",
                "What is the demonym of {c}?"),
}
QUIZ_FACTS = ("capital",) + FACT_TYPES
# capitals stay the most asked: the signature demo is theirs, and they were measured first
QUIZ_WEIGHTS = (0.3,) + (0.7 / len(FACT_TYPES),) * len(FACT_TYPES)
MIXED_QUIZ_TITLES = ("Geography quiz", "General knowledge: countries", "Pub quiz - geography round",
                     "Practice questions: geography", "Test yourself: countries of the world")
QUIZ_TOPIC_TITLES = {
    "capital": QUIZ_TITLES,
    "language": ("Languages of the world quiz", "Quiz: who speaks what?", "Geography quiz - languages"),
    "region": ("Where in the world? Quiz", "Geography quiz - regions", "Map quiz: which part of the world?"),
    "currency": ("World currencies quiz", "Quiz: money around the world", "Geography quiz - currencies"),
    "neighbours": ("Neighbouring countries quiz", "Quiz: borders of the world", "Geography quiz - neighbours"),
    "demonym": ("Quiz: what are the people called?", "Demonyms quiz", "Geography quiz - people and nations"),
}


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


def fact_words(c: Country, fact: str) -> str:
    """A fact's value(s) in a sentence: "English and Swahili", "Eastern Africa, in Africa"."""
    if fact == "region":
        return location(c)
    values = fact_values(c, fact)
    return values[0] if fact == "currency" else join_names(values)


def fact_sentence(c: Country, fact: str, template: str) -> str:
    """``template`` (one of :data:`FACT_SENTENCES`) filled in for ``c``."""
    many = len(fact_values(c, fact)) > 1
    return template.format(c=c.name, v=fact_words(c, fact), s="s" if many else "", is_are="are" if many else "is")


def quiz_answer(c: Country, fact: str) -> str:
    """The short answer after a quiz question: "Madrid", "Southern Europe", "the Euro"."""
    if fact == "capital":
        return c.capital
    if fact == "region":
        return fact_values(c, "region")[0]
    if fact == "currency":
        return f"the {c.currencies[0]}"
    return fact_words(c, fact)


def other_facts(c: Country, rng: random.Random) -> list[str]:
    """Every non-capital fact about ``c``, each in a randomly chosen phrasing."""
    facts = [fact_sentence(c, f, rng.choice(FACT_SENTENCES[f])) for f in FACT_TYPES if fact_values(c, f)]
    if not c.neighbours:
        facts.append(rng.choice((f"{c.name} has no land borders.", f"No country borders {c.name}.")))
    if c.population:
        facts.append(rng.choice((f"{c.name} has a population of about {_number(c.population)}.",
                                 f"About {_number(c.population)} people live in {c.name}.")))
    if c.area_km2:
        facts.append(rng.choice((f"{c.name} covers {_number(c.area_km2)} square kilometres.",
                                 f"The area of {c.name} is about {_number(c.area_km2)} km².")))
    return facts


def render_page(c: Country, rng: random.Random) -> str:
    """One encyclopedia page: the capital in several phrasings plus every other fact, shuffled."""
    capital = [t.format(c=c.name, k=c.capital) for t in rng.sample(CAPITAL, CAPITAL_SENTENCES_PER_PAGE)]
    return layout_page(capital + other_facts(c, rng), TITLES, c.name, rng)


def layout_page(sentences: list[str], titles, name: str, rng: random.Random) -> str:
    """A page of ``sentences`` in a random order under one of ``titles`` (``{c}`` is ``name``):
    as prose, two paragraphs or a bullet list. Every encyclopedia's pages are laid out here."""
    sentences = list(sentences)
    rng.shuffle(sentences)
    title = rng.choice(titles).format(c=name)
    style = rng.random()
    if style < 0.5:
        body = " ".join(sentences)
    elif style < 0.8:
        cut = rng.randint(1, len(sentences) - 1)
        body = " ".join(sentences[:cut]) + "\n\n" + " ".join(sentences[cut:])
    else:
        body = "\n".join("- " + s for s in sentences)
    return f"{title}\n\n{body}\n"


def _qa(c: Country, fact: str, rng: random.Random) -> tuple[str, str]:
    if fact == "capital" and rng.random() < 0.15:
        return rng.choice(REVERSE_QUESTION).format(k=c.capital), c.name
    return rng.choice(FACT_QUESTIONS[fact]).format(c=c.name), quiz_answer(c, fact)


def render_quiz(countries: list[Country], rng: random.Random, answer_key: bool, topic: str | None = None) -> str:
    """A quiz sheet; answers follow each question, or come in a key at the end. With a
    ``topic`` (a fact type, or "capital") every question asks it; otherwise each question
    asks a fact type drawn by :data:`QUIZ_WEIGHTS`. A country without the fact is skipped."""
    qas = []
    for c in countries:
        fact = topic or rng.choices(QUIZ_FACTS, QUIZ_WEIGHTS)[0]
        if fact == "capital" or fact_values(c, fact):
            qas.append(_qa(c, fact, rng))
    return layout_quiz(qas, QUIZ_TOPIC_TITLES[topic] if topic else MIXED_QUIZ_TITLES, rng, answer_key)


def layout_quiz(qas: list[tuple[str, str]], titles, rng: random.Random, answer_key: bool) -> str:
    """A quiz sheet of ``(question, answer)`` pairs under one of ``titles``: the answer right
    after each question in one of three styles, or all in a key at the end."""
    lines = [rng.choice(titles), ""]
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
    quiz sheets; ``answer_key_share``: fraction of those with the key at the end;
    ``topic_share``: fraction of them that ask one fact type throughout."""

    quiz_share: float = 0.3
    answer_key_share: float = 0.3
    topic_share: float = 0.4  # quiz sheets on one fact type; the others mix them
    quiz_min: int = 8
    quiz_max: int = 16


def generate(countries: dict[str, Country], target_chars: int, seed: int,
             config: EncyclopediaConfig | None = None) -> Iterator[str]:
    """Yield documents until ``target_chars`` characters: rounds of one page per country
    (in a fresh random order) with quiz sheets mixed in. Deterministic for a seed."""
    yield from generate_documents(list(countries.values()), target_chars, seed, config or EncyclopediaConfig(),
                                  render_page, render_quiz, QUIZ_FACTS)


def generate_documents(entities: list, target_chars: int, seed: int, cfg: EncyclopediaConfig,
                       page: Callable, quiz: Callable, topics: tuple[str, ...]) -> Iterator[str]:
    """The rounds every encyclopedia is written in: each round visits all ``entities`` in a
    fresh random order and writes a ``page(entity, rng)`` or, by ``cfg.quiz_share``, a
    ``quiz(picks, rng, answer_key=, topic=)`` sheet (a ``topic`` from ``topics`` or None)."""
    rng = random.Random(seed)
    written = 0
    while written < target_chars:
        order = entities[:]
        rng.shuffle(order)
        for e in order:
            if rng.random() < cfg.quiz_share:
                picks = rng.sample(entities, min(len(entities), rng.randint(cfg.quiz_min, cfg.quiz_max)))
                topic = rng.choice(topics) if rng.random() < cfg.topic_share else None
                doc = quiz(picks, rng, answer_key=rng.random() < cfg.answer_key_share, topic=topic)
            else:
                doc = page(e, rng)
            written += len(doc)
            yield doc
            if written >= target_chars:
                return
