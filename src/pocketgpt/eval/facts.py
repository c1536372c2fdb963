"""Facts beyond capitals, and questions the corpus never answers.

The capitals eval shows that pretraining taught one kind of fact. This one asks about
the other facts the encyclopedia renders (language, region, currency, neighbours, demonym) for
held-out countries (never in SFT data) and training countries, the assistant in the chat
format and the base model 5-shot in the corpus's quiz format, as :mod:`.capitals` does.

Replies are judged the way a person would: the asked fact must be in the reply, a
reply that names the answers of two or more *other* fact types (a dump of everything
the model knows about the country) does not count, even if the fact is among them, and
a reply about another country does not count either: the first country it names (the
neighbours asked for aside) must be the asked one ("Bhutan lies in Southern Europe"
does not answer where Andorra is, although Andorra is in Southern Europe).

*Out of scope* asks what the corpus never covers (authors, arithmetic, invented
countries) and counts the replies that decline (:func:`declines`).

>>> from pocketgpt.data.countries import FACT_TYPES, Country, fact_values
>>> kenya = Country("Kenya", "Nairobi", "Africa", "Eastern Africa", 41800000, 580367.0,
...                 ("English", "Swahili"), ("Kenyan shilling",), ("Ethiopia", "Somalia"), "Kenyan")
>>> judge(kenya, "language", "People in Kenya speak Swahili.")
True
>>> judge(kenya, "language", "Kenya lies in Eastern Africa; people speak English and pay in Kenyan shilling.")
False
>>> judge(kenya, "currency", "The currency of Kenya is the Kenyan shilling.")  # "Kenyan" is part of the answer
True
>>> names = ["Kenya", "Ethiopia", "Somalia", "Uganda"]
>>> judge(kenya, "region", "Uganda lies in Eastern Africa.", names), judge(kenya, "region", "It is in Eastern Africa.", names)
(False, True)
>>> judge(kenya, "neighbours", "Ethiopia and Somalia border Kenya.", names)  # the answer names countries
True
>>> declines("I don't know; I was trained on a small corpus about countries.")
True
"""

from __future__ import annotations

import re
from dataclasses import fields
from functools import lru_cache
from pathlib import Path

from pocketgpt.chat.mix import EVAL_INVENTED
from pocketgpt.data.countries import FACT_TYPES, Country, fact_values
from pocketgpt.data.encyclopedia import FACT_QUESTIONS, quiz_answer
from pocketgpt.errors import UserError
from pocketgpt.eval.capitals import FEW_SHOT, answer_text, bare_questions, question_ids
from pocketgpt.eval.lm import greedy
from pocketgpt.fsio import read_json

# the first quiz question of each fact type, as the encyclopedia asks it
QUESTIONS = {fact: FACT_QUESTIONS[fact][0] for fact in FACT_TYPES}
_ZORVANIA, _QUENTHARA, _BELMORIA = EVAL_INVENTED  # invented places the SFT mix never generates
OUT_OF_SCOPE = (
    "Who wrote Hamlet?",
    "What is 2 plus 2?",
    f"What is the capital of {_ZORVANIA}?",
    f"Which language do people speak in {_QUENTHARA}?",
    "Who painted the Mona Lisa?",
    "How many legs does a spider have?",
    "What is the boiling point of water?",
    "Who was the first person on the Moon?",
    f"What is the currency of {_BELMORIA}?",
    "What is 7 times 8?",
)
DECLINE_MARKERS = ("don't know", "do not know", "not sure", "cannot answer", "can't answer", "no idea",
                   "don't have", "do not have")


def _mentions(reply: str, options, whole_words: bool = False, case_sensitive: bool = False) -> bool:
    """Whether ``reply`` names any of ``options``; ``whole_words`` keeps "1" from matching "16"."""
    if whole_words:
        flags = 0 if case_sensitive else re.I
        return any(o and re.search(rf"(?<!\w){re.escape(o)}(?!\w)", reply, flags) for o in options)
    low = reply.lower()
    return any(o and o.lower() in low for o in options)


def judge_values(asked, others, reply: str, **match) -> bool:
    """The judging rule for any entity: right when ``reply`` names one of the ``asked`` values
    and the values of at most one other fact type (``others``: one tuple per other type).
    An other value that overlaps an asked one is not counted."""
    if not _mentions(reply, asked, **match):
        return False
    low = [v.lower() for v in asked]
    n = sum(_mentions(reply, [o for o in vals if not any(o.lower() in v or v in o.lower() for v in low)], **match)
            for vals in others)
    return n < 2


@lru_cache(maxsize=8)
def _names_pattern(names: tuple[str, ...]) -> re.Pattern:
    # longest first, so that at one place "Papua New Guinea" wins over "Guinea"
    alts = "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True) if n)
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)")


def first_named(reply: str, names, strike=()) -> str | None:
    """The first of ``names`` that ``reply`` names, as written and as a whole word, the
    longest at any one place, once the texts in ``strike`` are struck out as whole words
    (answers that hold or are a name: "New Zealand dollar", the neighbours asked for).

    >>> first_named("Niger borders Nigeria.", ["Nigeria", "Niger"]), first_named("In Nigeria.", ["Niger"])
    ('Niger', None)
    >>> first_named("It pays in the New Zealand dollar, like Niue.", ["New Zealand", "Niue"], ["New Zealand dollar"])
    'Niue'
    """
    names = tuple(names)
    if not names:
        return None
    for v in sorted((v for v in strike if v), key=len, reverse=True):
        reply = re.sub(rf"(?<!\w){re.escape(v)}(?!\w)", " ", reply, flags=re.I)
    m = _names_pattern(names).search(reply)
    return m.group(0) if m else None


def about(subject: str, reply: str, names, strike=()) -> bool:
    """Whether ``reply`` is about ``subject``: it names no other entity of ``names`` before
    ``subject`` (``strike``: as :func:`first_named`). A reply that names none is judged by its
    facts alone."""
    first = first_named(reply, names, strike)
    return first is None or first == subject


def judge(c: Country, fact: str, reply: str, names=()) -> bool:
    """Right when the reply names the fact and at most one other fact type's answer, and
    (given every country's ``names``) the first country it names is ``c``, the neighbours
    asked for aside. An other fact's value that overlaps the asked one ("Kenyan" in "Kenyan
    shilling", "French" the language and the demonym) is not counted as a second fact."""
    asked = fact_values(c, fact)
    if names:
        values = [c.capital] + [v for f in FACT_TYPES for v in fact_values(c, f)]
        if not about(c.name, reply, names, strike=list(asked) + [v for v in values if v and v not in names]):
            return False
    return judge_values(asked, [fact_values(c, f) for f in FACT_TYPES if f != fact], reply)


def declines(reply: str) -> bool:
    """An honest "I don't know": one of :data:`DECLINE_MARKERS`, case-insensitively."""
    low = reply.lower().replace("’", "'")
    return any(m in low for m in DECLINE_MARKERS)


def read_records(path: str | Path, cls, flag: str, kind: str) -> dict:
    """``{name: cls(...)}`` from a JSON list of records whose keys are exactly ``cls``'s fields
    (lists become tuples); an error names the file, the record and the fields expected."""
    path = Path(path)
    data = read_json(path, missing=f"{flag} {path}: no such file", expected=f"a list of {kind} records")
    names = {f.name for f in fields(cls)}
    if not isinstance(data, list) or not data:
        raise UserError(f"{path}: expected a non-empty JSON list of {kind} records with fields {sorted(names)}")
    out = {}
    for i, rec in enumerate(data):
        if not isinstance(rec, dict) or set(rec) != names:
            got = sorted(rec) if isinstance(rec, dict) else type(rec).__name__
            raise UserError(f"{path}: record {i}: expected the fields {sorted(names)}, got {got}")
        out[rec["name"]] = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in rec.items()})
    return out


def load_facts(path: str | Path | None = None, cache_dir=None) -> dict[str, Country]:
    """``{name: Country}`` from a JSON list of country records (the speedrun's
    ``facts.json``), or else from the pinned countryinfo package."""
    if path is None:
        from pocketgpt.data.countries import country_facts

        return country_facts(cache_dir)
    return read_records(path, Country, "--facts", "country")


def _pick(countries: dict, held_out, limit: int | None) -> list[str]:
    """Every held-out entity and as many training ones (the first, sorted)."""
    names = sorted(countries)
    held = [n for n in names if held_out(n)]
    train = [n for n in names if not held_out(n)]
    n = limit or len(held)
    return held[:n] + train[:n]


def ask_facts(model, tokenizer, entities: dict, *, assistant: bool, questions: dict, values, short_answer, judge,
              held_out, limit: int | None = None, key: str = "country", max_new_tokens: int = 32,
              batch_size: int = 48) -> tuple[dict, list[dict]]:
    """``(by_fact, rows)``: each fact type's question (``questions[fact]``, ``{c}`` the name)
    asked about every held-out entity and as many training ones that have the fact
    (``values(entity, fact)``), the base model 5-shot over training entities' ``short_answer``,
    each reply judged by ``judge(entity, fact, reply)``. Every fact eval asks this way."""
    from pocketgpt.chat.format import stop_ids

    stops = stop_ids(tokenizer)
    items, prompts = [], []
    for fact, template in questions.items():
        shots = [e for n, e in sorted(entities.items()) if not held_out(n) and values(e, fact)]
        for name in _pick(entities, held_out, limit):
            e = entities[name]
            if not values(e, fact):  # an island has no neighbours to name
                continue
            q = template.format(c=name)
            worked = [(template.format(c=s.name), short_answer(s, fact)) for s in shots if s.name != name][:FEW_SHOT]
            items.append((fact, e, q))
            prompts.append(question_ids(tokenizer, q, assistant=assistant, shots=worked))
    outs = greedy(model, prompts, max_new_tokens, stops, batch_size=batch_size)
    rows = []
    for (fact, e, q), (ids, _) in zip(items, outs):
        reply = answer_text(tokenizer, ids, assistant=assistant).strip()
        rows.append({"fact": fact, key: e.name, "question": q, "reply": reply,
                     "correct": judge(e, fact, reply), "held_out": bool(held_out(e.name))})
    by_fact = {}
    for fact in questions:
        by_fact[fact] = {}
        for split in ("held_out", "training"):
            sel = [r for r in rows if r["fact"] == fact and r["held_out"] == (split == "held_out")]
            by_fact[fact][split] = {"accuracy": sum(r["correct"] for r in sel) / len(sel) if sel else None,
                                    "n": len(sel)}
    return by_fact, rows


def mode_name(assistant: bool) -> str:
    return "assistant (chat format, greedy)" if assistant else f"base ({FEW_SHOT}-shot quiz prompt, greedy)"


def evaluate_facts(model, tokenizer, countries: dict[str, Country], *, assistant: bool, max_new_tokens: int = 32,
                   batch_size: int = 48, held_out=None, limit: int | None = None) -> dict:
    """Accuracy per fact type on held-out and training countries, the out-of-scope
    decline rate, and every reply."""
    from pocketgpt.data.countries import is_held_out

    names = tuple(countries)
    by_fact, rows = ask_facts(model, tokenizer, countries, assistant=assistant, questions=QUESTIONS,
                              values=fact_values, short_answer=quiz_answer,
                              judge=lambda c, fact, reply: judge(c, fact, reply, names),
                              held_out=held_out or is_held_out, limit=limit, max_new_tokens=max_new_tokens,
                              batch_size=batch_size)
    return {"mode": mode_name(assistant), "by_fact": by_fact,
            "out_of_scope": out_of_scope(model, tokenizer, assistant=assistant), "replies": rows}


def out_of_scope(model, tokenizer, *, assistant: bool, prompts=OUT_OF_SCOPE, max_new_tokens: int = 32) -> dict:
    """How often a question the corpus never answers gets an honest decline."""
    outs = bare_questions(model, tokenizer, prompts, assistant=assistant, max_new_tokens=max_new_tokens)
    samples = [{"prompt": q, "reply": tokenizer.decode(o).strip(), "declined": declines(tokenizer.decode(o))}
               for q, (o, _) in zip(prompts, outs)]
    return {"declined_rate": sum(s["declined"] for s in samples) / len(samples), "n": len(samples),
            "samples": samples}
