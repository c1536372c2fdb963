"""The generated encyclopedia of the chemical elements: the country encyclopedia's recipe
(:mod:`.encyclopedia`) for another kind of entity.

Every page states each fact the element has (:data:`pocketgpt.data.elements.ELEMENT_FACTS`)
in a randomly chosen phrasing, in a random order, laid out by the shared
:func:`~pocketgpt.data.encyclopedia.layout_page`; quiz sheets ask one fact type or mix them,
with the answer after each question or in a key at the end
(:func:`~pocketgpt.data.encyclopedia.layout_quiz`), and are written in the same rounds
(:func:`~pocketgpt.data.encyclopedia.generate_documents`).

>>> import random
>>> from pocketgpt.data.elements import Element
>>> fe = Element("Iron", "Fe", 26, "transition metal", 4, "solid", None)
>>> page = render_element_page(fe, random.Random(0))
>>> all(v in page for v in ("Fe", "26", "transition metal", "4", "solid"))
True
>>> element_sentence(fe, "category", ELEMENT_SENTENCES["category"][0])
'Iron is a transition metal.'
>>> element_quiz_answer(fe, "category"), element_quiz_answer(fe, "symbol")
('a transition metal', 'Fe')
"""

from __future__ import annotations

import random
from typing import Iterator

from pocketgpt.data.elements import ELEMENT_FACTS, Element, element_values
from pocketgpt.data.encyclopedia import EncyclopediaConfig, generate_documents, layout_page, layout_quiz

# {e} the element, {v} the value, {a} "a"/"an" for {v}
ELEMENT_SENTENCES = {
    "symbol": ("The chemical symbol of {e} is {v}.", "{e} has the chemical symbol {v}.", "{v} is the symbol for {e}.",
               "The symbol for {e} is {v}.", "Chemists write {e} as {v}.", "In formulas, {e} is written {v}.",
               "Q: What is the chemical symbol of {e}? A: {v}."),
    "number": ("The atomic number of {e} is {v}.", "{e} has the atomic number {v}.", "{e} is element number {v}.",
               "An atom of {e} has {v} protons.", "{e} is element {v} of the periodic table.",
               "Q: What is the atomic number of {e}? A: {v}."),
    "category": ("{e} is {a} {v}.", "{e} is classified as {a} {v}.", "Chemically, {e} is {a} {v}.",
                 "In the periodic table, {e} is {a} {v}.", "{e} belongs to the elements called {p}.",
                 "Q: What kind of element is {e}? A: {a} {v}."),
    "period": ("{e} is in period {v} of the periodic table.", "{e} sits in period {v}.", "{e} belongs to period {v}.",
               "In the periodic table, {e} is found in period {v}.", "Period {v} of the periodic table includes {e}.",
               "Q: In which period of the periodic table is {e}? A: period {v}."),
    "state": ("At room temperature {e} is {a} {v}.", "{e} is {a} {v} at room temperature.",
              "Under normal conditions, {e} is {a} {v}.", "At 25 degrees Celsius, {e} is {a} {v}.",
              "Q: Is {e} a solid, a liquid or a gas at room temperature? A: {a} {v}."),
    "discovered": ("{e} was discovered in {v}.", "{e} was first identified in {v}.", "Scientists discovered {e} in {v}.",
                   "The discovery of {e} dates from {v}.", "{e} has been known since {v}.",
                   "Q: When was {e} discovered? A: in {v}."),
}
# quiz questions per fact type; the first of each is the one the elements eval asks
ELEMENT_QUESTIONS = {
    "symbol": ("What is the chemical symbol of {e}?", "What is the symbol for {e}?", "Which symbol does {e} have?"),
    "number": ("What is the atomic number of {e}?", "Which atomic number does {e} have?",
               "How many protons does an atom of {e} have?"),
    "category": ("What kind of element is {e}?", "What type of element is {e}?",
                 "Which family of elements does {e} belong to?"),
    "period": ("In which period of the periodic table is {e}?", "Which period is {e} in?",
               "What period does {e} belong to?"),
    "state": ("Is {e} a solid, a liquid or a gas at room temperature?", "What state is {e} in at room temperature?",
              "At room temperature, is {e} a solid, liquid or gas?"),
    "discovered": ("When was {e} discovered?", "In which year was {e} discovered?", "What year was {e} discovered?"),
}
# questions asked the other way round, answered with the element's name
REVERSE_QUESTIONS = {"symbol": ("Which element has the symbol {v}?", "{v} is the symbol of which element?"),
                     "number": ("Which element has the atomic number {v}?", "What is element number {v}?")}
TITLES = ("{c}", "# {c}", "{c}: facts", "Element profile: {c}", "{c} (chemical element)", "About {c}",
          "{c} - the element")
MIXED_QUIZ_TITLES = ("Chemistry quiz", "The periodic table: test yourself", "Science quiz - chemical elements",
                     "Practice questions: chemistry", "Pub quiz - science round")
QUIZ_TOPIC_TITLES = {
    "symbol": ("Element symbols quiz", "Quiz: chemical symbols", "Chemistry homework: symbols of the elements"),
    "number": ("Atomic numbers quiz", "Quiz: the elements by number", "Chemistry practice: atomic numbers"),
    "category": ("Quiz: kinds of elements", "Metals, nonmetals and more: a quiz", "Chemistry quiz - element groups"),
    "period": ("Periodic table quiz: periods", "Quiz: which period?", "Chemistry practice: rows of the table"),
    "state": ("Solid, liquid or gas? A quiz", "Quiz: states of the elements", "Chemistry quiz - states of matter"),
    "discovered": ("History of chemistry quiz", "Quiz: when was it discovered?", "Discoveries of the elements quiz"),
}


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def plural(category: str) -> str:
    """``plural("noble gas") -> "noble gases"``, ``plural("halogen") -> "halogens"``."""
    return category + ("es" if category.endswith("gas") else "s")


def element_sentence(e: Element, fact: str, template: str) -> str:
    """``template`` (one of :data:`ELEMENT_SENTENCES`) filled in for ``e``."""
    (v,) = element_values(e, fact)
    return template.format(e=e.name, v=v, a=_article(v), p=plural(v))


def element_quiz_answer(e: Element, fact: str) -> str:
    """The short answer after a quiz question: "Fe", "26", "a transition metal", "period 4"."""
    (v,) = element_values(e, fact)
    if fact in ("category", "state"):
        return f"{_article(v)} {v}"
    return f"period {v}" if fact == "period" else v


def render_element_page(e: Element, rng: random.Random) -> str:
    """One page: every fact the element has, each in a random phrasing, shuffled."""
    sentences = [element_sentence(e, f, rng.choice(ELEMENT_SENTENCES[f])) for f in ELEMENT_FACTS
                 if element_values(e, f)]
    return layout_page(sentences, TITLES, e.name, rng)


def _qa(e: Element, fact: str, rng: random.Random) -> tuple[str, str]:
    if fact in REVERSE_QUESTIONS and rng.random() < 0.15:
        return rng.choice(REVERSE_QUESTIONS[fact]).format(v=element_values(e, fact)[0]), e.name
    return rng.choice(ELEMENT_QUESTIONS[fact]).format(e=e.name), element_quiz_answer(e, fact)


def render_element_quiz(elements: list[Element], rng: random.Random, answer_key: bool, topic: str | None = None) -> str:
    """A quiz sheet on ``topic`` (a fact type) or on a random fact type per question; an
    element without the fact is skipped."""
    qas = []
    for e in elements:
        fact = topic or rng.choice(ELEMENT_FACTS)
        if element_values(e, fact):
            qas.append(_qa(e, fact, rng))
    return layout_quiz(qas, QUIZ_TOPIC_TITLES[topic] if topic else MIXED_QUIZ_TITLES, rng, answer_key)


def generate_elements(elements: dict[str, Element], target_chars: int, seed: int,
                      config: EncyclopediaConfig | None = None) -> Iterator[str]:
    """Yield pages and quiz sheets until ``target_chars`` characters; deterministic for a seed."""
    yield from generate_documents(list(elements.values()), target_chars, seed, config or EncyclopediaConfig(),
                                  render_element_page, render_element_quiz, ELEMENT_FACTS)
