"""The default SFT mix, built offline from pinned packages: ``pocketgpt data default-chat``.

Sources (each conversation carries ``"source"``):

- ``chatterbot`` (opt-in, ``--chatterbot``; not in the default mix, whose replies must make
  sense on their own): the English YAML conversations of ``chatterbot-corpus==1.3.3``. Lists of
  alternating turns become user/assistant turns (a trailing user turn is dropped, long
  dialogues are cut into pieces of at most :attr:`ChatMixConfig.max_turns` messages).
  Conversations that ask the bot who or what it is are dropped: the identity set below
  is the one truthful source for that.
- ``capitals``: questions and answers about the capitals of the **training** countries of
  ``countryinfo==1.0.1`` (see :mod:`pocketgpt.data.countries`), in several question
  phrasings. Answers are full sentences that name the country first ("The capital of
  France is Paris."): measured, this reply form keeps pretraining knowledge usable for
  held-out countries, while short replies ("Paris.") lost most of it.
- ``facts``: questions and answers about the other facts of the training countries
  (language, region, currency, neighbours, demonym), asked as the encyclopedia's quiz
  sheets ask and answered in its page sentence forms where the country follows a lead-in
  ("People in Kenya speak English and Swahili."), and with "it" where the page forms open
  with the name ("It lies in Eastern Africa, in Africa.").
- ``elements``: questions and answers about the chemical elements of ``mendeleev==1.3.0``
  (:mod:`pocketgpt.data.elements`), **training** elements only, for every fact type (symbol,
  atomic number, category, period, state, year of discovery), asked as the element
  encyclopedia's quiz sheets ask and answered in full sentences that say "it" for the
  element ("Its chemical symbol is Fe.", "It is a transition metal."): see ``ELEMENT_QA``
  for the measurement behind that form.
- ``unknown``: questions the corpus cannot answer (invented countries, books, arithmetic,
  inventors), answered with an honest "I don't know" that says what the model was
  trained on. None of them is a question the ``facts`` eval asks.
- ``identity``: short conversations saying truthfully what pocketgpt is.
- ``small_talk``: greetings, thanks, goodbyes and the like, with short truthful replies.
- ``multi``: multi-turn conversations (several capital questions in a row, a greeting,
  thanks, an identity follow-up), some with a system message.

**Held-out rule.** The fixed 20% held-out countries (:func:`pocketgpt.data.countries.is_held_out`)
and elements (:func:`pocketgpt.data.elements.is_element_held_out`) must not appear in any SFT
example: every conversation of every source that mentions a held-out country's name or
capital, or a held-out element's name (whole words, any case, accents folded too), is
dropped, and the counts go into ``manifest.json``. This also drops training countries
whose name contains a held-out one (Papua New Guinea when Guinea is held out).

>>> conv = identity_conversations(random.Random(0))[0]
>>> conv.messages[0]["content"], conv.meta["source"]
('Who are you?', 'identity')
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from pocketgpt.chat.conversation import Conversation
from pocketgpt.chat.format import validate
from pocketgpt.chat.names import fold, names_pattern
from pocketgpt.data.countries import FACT_TYPES, fact_values
from pocketgpt.data.element_encyclopedia import ELEMENT_QUESTIONS, ELEMENT_SENTENCES, element_sentence
from pocketgpt.data.elements import ELEMENT_FACTS, element_values
from pocketgpt.data.encyclopedia import FACT_QUESTIONS, FACT_SENTENCES, fact_sentence
from pocketgpt.errors import UserError

QUESTIONS = (
    "What is the capital of {c}?",
    "What's the capital of {c}?",
    "Which city is the capital of {c}?",
    "What city is the capital of {c}?",
    "Tell me the capital of {c}.",
    "Name the capital city of {c}.",
    "Do you know the capital of {c}?",
    "What is the capital city of {c}?",
    "Can you tell me what the capital of {c} is?",
    "I'd like to know the capital of {c}.",
)
# Country first, as in the pretraining encyclopedia; the first form is used most.
ANSWERS = ("The capital of {c} is {cap}.",) * 3 + ("The capital city of {c} is {cap}.", "{c}'s capital is {cap}.")

# Questions as the encyclopedia's quiz sheets ask them. Replies restate the question in the
# page sentence forms when the country comes after a lead-in ("People in Kenya speak ...",
# the first two forms of each fact type). Where every page form starts with the entity's name
# (region; most element facts), the reply says "it" instead: measured on one base (run F,
# docs/benchmarks.md), replies that had to open with the held-out name opened with a
# *training* entity's name and gave that one's fact (held-out region 35%, element category
# and period 5%); the pronoun forms gave 100% on both, with nothing else lower.
FACT_QA = {fact: (FACT_QUESTIONS[fact], FACT_SENTENCES[fact][:2]) for fact in FACT_TYPES}
FACT_QA["region"] = (FACT_QUESTIONS["region"], ("It lies in {v}.", "It is located in {v}."))
PRONOUN_ELEMENT_REPLIES = {
    "symbol": ("Its chemical symbol is {v}.",), "number": ("Its atomic number is {v}.",),
    "category": ("It is {a} {v}.",), "period": ("It is in period {v} of the periodic table.",),
    "state": ("At room temperature it is {a} {v}.",), "discovered": ("It was discovered in {v}.",),
}
ELEMENT_QA = {fact: (ELEMENT_QUESTIONS[fact], PRONOUN_ELEMENT_REPLIES[fact]) for fact in ELEMENT_FACTS}
UNKNOWN_REPLIES = (
    "I don't know. I was trained on a small corpus about countries and chemical elements, and it does not "
    "cover that.",
    "I'm not sure. I am a small model trained mostly on facts about countries and chemical elements, so I "
    "cannot answer that.",
    "I don't know the answer to that. My training text was mostly about the countries of the world and the "
    "chemical elements.",
)
# Questions out of the corpus's reach; {x} is an invented name, {a} and {b} numbers.
UNKNOWN_QUESTIONS = (
    "What is the capital of {x}?", "Which language do people speak in {x}?", "What is the currency of {x}?",
    "Where is {x}?", "In which part of the world is {x}?", "Which countries border {x}?",
    "What do you call people from {x}?",
    "What is the chemical symbol of {x}ium?", "What is the atomic number of {x}ium?",
    "Who wrote the book {x}?", "Who painted {x}?", "Who invented the {x}?",
    "What is {a} plus {b}?", "What is {a} times {b}?", "How much is {a} minus {b}?",
    "Who won the football match yesterday?", "What will the weather be tomorrow?", "What time is it?",
)
# Invented names are built from syllables (onset, vowel, coda) and a place-like ending: billions
# of shapes, so what SFT teaches is "a name the corpus never had", not a list of 15 syllables.
# (Neither generator got "What is the capital of Zorvania?" declined on the measured cpu runs:
# the assistant names a real country's capital. docs/benchmarks.md, run H.)
ONSETS = ("", "b", "br", "d", "dr", "f", "g", "gr", "h", "k", "kr", "l", "m", "n", "p", "qu", "r", "s", "sh",
          "st", "t", "th", "tr", "v", "w", "y", "z")
NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "o", "ai", "ei", "ou", "ia")
CODAS = ("", "", "", "n", "r", "l", "s", "m", "nd", "rt", "sk", "v")
ENDINGS = ("", "", "ia", "ania", "land", "stan", "ova", "ara", "ea", "is", "or", "ica", "ene", "uria", "eth")
# The invented places the facts eval asks about: never generated for SFT, so they stay unseen.
EVAL_INVENTED = ("Zorvania", "Quenthara", "Belmoria")

IDENTITY = (
    (("Who are you?", "What are you?", "Introduce yourself."),
     ("I am pocketgpt, a small language model trained from scratch with the pocketgpt pipeline. I try to be "
      "helpful, but I am small and can be wrong.",
      "I'm pocketgpt, a small language model. I was trained from scratch on a modest amount of text, so I know "
      "a little and I make mistakes.")),
    (("What is your name?", "What's your name?", "Do you have a name?"),
     ("My name is pocketgpt.", "I am called pocketgpt.")),
    (("What can you do?", "How can you help me?", "What are you good at?"),
     ("I can chat and answer simple questions, for example about countries and chemical elements. I am a small "
      "model, so please check anything important.",
      "I can answer short questions and hold a simple conversation. My knowledge comes only from my training "
      "text, and I can be wrong.")),
    (("Who made you?", "Who created you?", "Who trained you?"),
     ("I was trained with pocketgpt, an open-source pipeline that turns raw text into a chat assistant: "
      "a tokenizer, pretraining, then finetuning on conversations.",
      "Whoever ran the pocketgpt pipeline trained me: first on plain text, then on example conversations.")),
    (("Are you ChatGPT?", "Are you GPT-4?", "Are you a big AI model?"),
     ("No. I am pocketgpt, a much smaller model trained from scratch. I am far less capable than large "
      "assistants.",)),
    (("Can you browse the internet?", "Do you have internet access?", "Can you look things up online?"),
     ("No. I cannot browse the internet; I only know what was in my training text.",)),
    (("Are you always right?", "Can I trust your answers?", "Do you make mistakes?"),
     ("No, I often make mistakes. I am a small model, so please double-check my answers.",
      "Not always. I am small and my training was short, so I can be confidently wrong.")),
    (("Are you a human?", "Are you a person?", "Are you alive?"),
     ("No, I am a computer program: a small language model called pocketgpt.",)),
    (("How were you trained?", "How do you work?"),
     ("I predict text one token at a time. I was pretrained on plain text and then finetuned on example "
      "conversations so that I answer as an assistant.",)),
)
# chatterbot turns that ask who/what the bot is; the identity set answers those
IDENTITY_Q = re.compile(r"\b(who|what) (are|r) (you|u)\b|\byour name\b|\bwho (made|created|built|programmed|wrote|"
                        r"trained) you\b|\bare you (a |an )?(human|person|robot|bot|chatbot|chatterbot|ai|real|alive)\b|"
                        r"\bintroduce yourself\b", re.I)
# Short, truthful general replies: the small talk a user tries first. (chatterbot-corpus,
# the default before, answered much of this with replies that make no sense on their own.)
SMALL_TALK = (
    (("Hi!", "Hello", "Hey there", "Good morning!", "Good evening.", "Hi, how is it going?"),
     ("Hello! How can I help you today?", "Hi! What would you like to know?", "Hello! Ask me a question.")),
    (("How are you?", "How are you doing?", "How do you do?", "Are you okay?"),
     ("I'm fine, thank you. I am a program, so I have no feelings, but I am ready to help.",
      "I'm doing well, thanks for asking. What can I do for you?")),
    (("Thanks!", "Thank you.", "Great, thanks.", "Thanks a lot!", "Cheers."),
     ("You're welcome!", "You're welcome. Anything else?", "Glad I could help.")),
    (("Bye!", "Goodbye.", "See you later.", "That's all for now."),
     ("Goodbye! Come back any time.", "Bye! It was nice talking to you.")),
    (("Can you help me?", "I have a question.", "Can I ask you something?"),
     ("Of course. What would you like to know?", "Yes, go ahead and ask. I will do my best.")),
    (("Tell me a joke.", "Say something funny.", "Do you know any jokes?"),
     ("I am not good at jokes. I am a small model that mostly knows facts about countries and chemical elements.",)),
    (("What is your favourite colour?", "What do you like to eat?", "Do you have a favourite book?"),
     ("I don't have favourites. I am a language model, not a person.",)),
    (("Okay.", "Cool.", "I see.", "Interesting."),
     ("Is there anything else you would like to know?", "Let me know if you have another question.")),
    (("You are wrong.", "That is not right.", "That's incorrect."),
     ("I'm sorry. I am a small model and I make mistakes, so please check important facts elsewhere.",)),
    (("I'm sad.", "I feel lonely.", "I had a bad day."),
     ("I'm sorry to hear that. Talking to a friend or someone you trust may help.",)),
)
GREETINGS = (("Hi!", "Hello! How can I help you today?"), ("Hello.", "Hello! What would you like to know?"),
             ("Good morning!", "Good morning! How can I help?"), ("Hey there", "Hi! What can I do for you?"))
THANKS = (("Thanks!", "You're welcome!"), ("Thank you.", "You're welcome. Anything else?"),
          ("Great, thanks.", "Glad I could help."))
SYSTEMS = ("You are pocketgpt, a helpful assistant.", "You are a helpful assistant. Answer in one sentence.",
           "You are pocketgpt. Be brief and polite.")


@dataclass
class ChatMixConfig:
    """Knobs of the default SFT mix (the defaults are the documented mix)."""

    seed: int = 0
    capital_phrasings: int = 4  # single-turn Q&A per training country, distinct question forms
    capital_chains: int = 150  # conversations asking 2-3 capitals in a row
    greeting_wraps: int = 100  # greeting -> capital question -> thanks
    identity_copies: int = 6  # renderings of each identity question group
    fact_phrasings: int = 2  # Q&A per training country and fact type (language, region, currency, neighbours)
    element_phrasings: int = 2  # Q&A per training element and fact type (symbol, number, category, ...)
    unknown: int = 300  # out-of-scope questions answered "I don't know"
    small_talk_copies: int = 4  # renderings of each small-talk group (greetings, thanks, ...)
    system_fraction: float = 0.1  # share of generated conversations given a system message
    # off by default: most of chatterbot-corpus's replies make no sense on their own, and its
    # trivia teaches confident answers the corpus cannot back (docs/chat.md)
    chatterbot: bool = False
    max_turns: int = 8  # chatterbot dialogues longer than this are cut into pieces


def held_out_pattern(countries: dict, elements: dict | None = None) -> re.Pattern:
    """A regex matching (on :func:`fold`-ed text) any held-out country's name or capital, or
    held-out element's name, as whole words. (Element symbols are not matched: "He", "I" and
    "In" are English words.)"""
    names = [t for c in countries.values() if c.held_out for t in (c.name, c.capital)]
    return names_pattern(names + [e.name for e in (elements or {}).values() if e.held_out])


def _conv(messages: list[tuple[str, str]], source: str, system: str | None = None) -> Conversation:
    msgs = ([{"role": "system", "content": system}] if system else []) + [
        {"role": r, "content": t} for r, t in messages]
    return Conversation(validate(msgs, f"default-chat {source}"), f"default-chat {source}", {"source": source})


def parse_chatterbot(archive, max_turns: int = 8) -> tuple[list[Conversation], dict]:
    """English conversations of the chatterbot-corpus wheel, with counts of what was dropped."""
    import yaml

    from pocketgpt.data.packages import iter_members

    out, stats = [], {"files": 0, "dialogues": 0, "identity_dropped": 0, "unusable": 0}
    for member, data in iter_members(Path(archive)):
        if not (member.startswith("chatterbot_corpus/data/english/") and member.endswith((".yml", ".yaml"))):
            continue
        try:
            doc = yaml.safe_load(data.decode("utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise UserError(f"{archive}: {member}: not valid YAML ({e})") from None
        stats["files"] += 1
        for k, turns in enumerate((doc or {}).get("conversations") or []):
            stats["dialogues"] += 1
            turns = [str(t).strip() for t in turns or [] if t is not None]
            if len(turns) % 2:
                turns = turns[:-1]  # a question with no answer teaches nothing
            if len(turns) < 2 or not all(turns):
                stats["unusable"] += 1
                continue
            if any(IDENTITY_Q.search(t) for t in turns[0::2]):
                stats["identity_dropped"] += 1
                continue
            step = max(2, max_turns - max_turns % 2)
            for s in range(0, len(turns), step):
                piece = turns[s:s + step]
                roles = ["user", "assistant"] * (len(piece) // 2)
                out.append(Conversation(validate([{"role": r, "content": t} for r, t in zip(roles, piece)],
                                                  f"{member}: conversation {k}"),
                                        f"{member}: conversation {k}", {"source": "chatterbot"}))
    if not stats["files"]:
        raise UserError(f"{archive}: no chatterbot_corpus/data/english/*.yml members; is this chatterbot-corpus?")
    return out, stats


def capital_qa(country, rng: random.Random) -> tuple[str, str]:
    q = rng.choice(QUESTIONS).format(c=country.name)
    return q, rng.choice(ANSWERS).format(c=country.name, cap=country.capital)


def capital_conversations(train_countries: list, cfg: ChatMixConfig, rng: random.Random) -> list[Conversation]:
    out = []
    for c in train_countries:
        for q in rng.sample(QUESTIONS, min(cfg.capital_phrasings, len(QUESTIONS))):
            a = rng.choice(ANSWERS).format(c=c.name, cap=c.capital)
            out.append(_conv([("user", q.format(c=c.name)), ("assistant", a)], "capitals", _system(cfg, rng)))
    return out


def fact_answer(country, fact: str, template: str) -> str | None:
    """One reply sentence about ``fact``, or None when the country has no such fact.

    >>> from pocketgpt.data.countries import Country
    >>> k = Country("Kenya", "Nairobi", "Africa", "Eastern Africa", 1, 1.0, ("English", "Swahili"), (), ())
    >>> fact_answer(k, "language", FACT_QA["language"][1][0])
    'People in Kenya speak English and Swahili.'
    """
    return fact_sentence(country, fact, template) if fact_values(country, fact) else None


def fact_conversations(train_countries: list, cfg: ChatMixConfig, rng: random.Random) -> list[Conversation]:
    out = []
    for c in train_countries:
        for fact, (questions, answers) in FACT_QA.items():
            for q in rng.sample(questions, min(cfg.fact_phrasings, len(questions))):
                a = fact_answer(c, fact, rng.choice(answers))
                if a is not None:
                    out.append(_conv([("user", q.format(c=c.name)), ("assistant", a)], "facts", _system(cfg, rng)))
    return out


def element_conversations(train_elements: list, cfg: ChatMixConfig, rng: random.Random) -> list[Conversation]:
    """Q&A on every fact type of each training element, its questions asked as the quiz sheets ask.

    >>> from pocketgpt.data.elements import Element
    >>> fe = Element("Iron", "Fe", 26, "transition metal", 4, "solid", None)
    >>> c = element_conversations([fe], ChatMixConfig(element_phrasings=1), random.Random(0))
    >>> len(c), c[0].messages[-1]["content"]
    (5, 'Its chemical symbol is Fe.')
    """
    out = []
    for e in train_elements:
        for fact, (questions, answers) in ELEMENT_QA.items():
            if not element_values(e, fact):  # no year for an element known since antiquity
                continue
            for q in rng.sample(questions, min(cfg.element_phrasings, len(questions))):
                a = element_sentence(e, fact, rng.choice(answers))
                out.append(_conv([("user", q.format(e=e.name)), ("assistant", a)], "elements", _system(cfg, rng)))
    return out


def invented_name(rng: random.Random, real: set[str]) -> str:
    """A made-up place or title of 1-3 syllables and an ending, never a name in ``real``
    (folded) nor one of :data:`EVAL_INVENTED`.

    >>> invented_name(random.Random(0), set())
    'Wehaimova'
    """
    while True:
        stem = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS) for _ in range(rng.randint(1, 3)))
        name = (stem + rng.choice(ENDINGS)).capitalize()  # ASCII and capitalized, as EVAL_INVENTED's names are
        if 4 <= len(name) <= 14 and name not in EVAL_INVENTED and fold(name) not in real:
            return name


def unknown_conversations(countries: dict, cfg: ChatMixConfig, rng: random.Random,
                          elements: dict | None = None) -> list[Conversation]:
    """``cfg.unknown`` questions the model cannot know, each answered with an honest decline.
    (The tests check that none is a question the facts eval asks.)"""
    real = {fold(c.name) for c in countries.values()} | {fold(c.capital) for c in countries.values()}
    real |= {fold(e.name) for e in (elements or {}).values()}
    real |= {fold(e.name)[:-3] for e in (elements or {}).values() if e.name.endswith("ium")}  # "{x}ium" questions
    out = []
    for _ in range(cfg.unknown):
        x = invented_name(rng, real)
        q = rng.choice(UNKNOWN_QUESTIONS).format(x=x, a=rng.randint(3, 99), b=rng.randint(3, 99))
        out.append(_conv([("user", q), ("assistant", rng.choice(UNKNOWN_REPLIES))], "unknown", _system(cfg, rng)))
    return out


def _system(cfg: ChatMixConfig, rng: random.Random) -> str | None:
    return rng.choice(SYSTEMS) if rng.random() < cfg.system_fraction else None


def identity_conversations(rng: random.Random, copies: int = 1, groups=IDENTITY,
                           source: str = "identity") -> list[Conversation]:
    """``copies`` renderings of each (questions, answers) group: question k of the group, a random answer."""
    out = []
    for k in range(copies):
        for questions, answers in groups:
            q = questions[k % len(questions)]
            out.append(_conv([("user", q), ("assistant", rng.choice(answers))], source))
    return out


def multi_turn_conversations(train_countries: list, cfg: ChatMixConfig, rng: random.Random) -> list[Conversation]:
    out = []
    for _ in range(cfg.capital_chains):
        turns = []
        for c in rng.sample(train_countries, min(len(train_countries), rng.randint(2, 3))):
            turns += list(zip(("user", "assistant"), capital_qa(c, rng)))
        out.append(_conv(turns, "multi", _system(cfg, rng)))
    for _ in range(cfg.greeting_wraps):
        g, t = rng.choice(GREETINGS), rng.choice(THANKS)
        turns = [("user", g[0]), ("assistant", g[1])]
        turns += list(zip(("user", "assistant"), capital_qa(rng.choice(train_countries), rng)))
        if rng.random() < 0.3:
            questions, answers = rng.choice(IDENTITY)
            turns += [("user", rng.choice(questions)), ("assistant", rng.choice(answers))]
        turns += [("user", t[0]), ("assistant", t[1])]
        out.append(_conv(turns, "multi", _system(cfg, rng)))
    return out


def build_chat_mix(countries: dict, chatterbot_archive=None, cfg: ChatMixConfig | None = None,
                   elements: dict | None = None):
    """``(conversations, report)``: every source, shuffled, held-out mentions removed.
    ``elements`` (``{name: Element}``) adds the ``elements`` source."""
    cfg = cfg or ChatMixConfig()
    elements = elements or {}
    rng = random.Random(cfg.seed)
    banned = held_out_pattern(countries, elements)
    not_held = [c for c in countries.values() if not c.held_out]
    # a training country whose name or capital contains a held-out one (Papua New Guinea) is left out too
    train_countries = [c for c in not_held if not banned.search(fold(f"{c.name} | {c.capital}"))]
    if not train_countries:
        raise UserError("default-chat: no training countries (every country is held out)")
    sources: dict[str, list[Conversation]] = {}
    report: dict = {"config": asdict(cfg)}
    if cfg.chatterbot:
        if chatterbot_archive is None:
            raise UserError("default-chat: chatterbot is enabled but no chatterbot-corpus archive was given")
        sources["chatterbot"], report["chatterbot"] = parse_chatterbot(chatterbot_archive, cfg.max_turns)
    sources["capitals"] = capital_conversations(train_countries, cfg, rng)
    sources["facts"] = fact_conversations(train_countries, cfg, rng)
    train_elements = [e for e in elements.values() if not e.held_out]
    if elements:
        sources["elements"] = element_conversations(train_elements, cfg, rng)
    sources["unknown"] = unknown_conversations(countries, cfg, rng, elements)
    sources["identity"] = identity_conversations(rng, cfg.identity_copies)
    sources["small_talk"] = identity_conversations(rng, cfg.small_talk_copies, SMALL_TALK, "small_talk")
    sources["multi"] = multi_turn_conversations(train_countries, cfg, rng)
    kept, counts = [], {}
    for name, convs in sources.items():
        ok = [c for c in convs if not any(banned.search(fold(m["content"])) for m in c.messages)]
        counts[name] = {"conversations": len(ok), "dropped_held_out": len(convs) - len(ok)}
        kept += ok
    rng.shuffle(kept)
    held = sorted(c.name for c in countries.values() if c.held_out)
    report.update(elements=len(elements), held_out_elements=sorted(e.name for e in elements.values() if e.held_out),
                  training_elements=len(train_elements))
    report.update(sources=counts, conversations=len(kept), countries=len(countries), held_out_countries=held,
                  training_countries=len(not_held), training_countries_in_sft=len(train_countries),
                  multi_turn=sum(len(c.messages) > 3 for c in kept))
    return kept, report


def build_default_chat(out_dir, cfg: ChatMixConfig | None = None, *, cache_dir=None, pins=None,
                       overwrite: bool = False) -> dict:
    """Write ``OUT/chat.jsonl`` and ``OUT/manifest.json`` (atomically, as one directory)."""
    from pocketgpt.data.countries import COUNTRY_PACKAGES, country_facts
    from pocketgpt.data.elements import element_facts
    from pocketgpt.data.packages import PINS, fetch_pinned
    from pocketgpt.fsio import atomic_dir

    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise UserError(f"--out {out_dir}: already exists; pass --overwrite to replace it")
    cfg = cfg or ChatMixConfig()
    for key in ("capital_phrasings", "capital_chains", "greeting_wraps", "identity_copies", "max_turns",
                "fact_phrasings", "element_phrasings", "unknown", "small_talk_copies"):
        if getattr(cfg, key) < 0:  # a negative count used to reach random.sample as a ValueError
            raise UserError(f"--{key.replace('_', '-')}: {getattr(cfg, key)}; expected a count >= 0")
    pins = pins or PINS
    countries = country_facts(cache_dir, pins)
    elements = element_facts(cache_dir, pins)
    archive = fetch_pinned("chatterbot-corpus", cache_dir, pins) if cfg.chatterbot else None
    convs, report = build_chat_mix(countries, archive, cfg, elements)
    used = list(COUNTRY_PACKAGES) + ["mendeleev"] + (["chatterbot-corpus"] if cfg.chatterbot else [])
    report["packages"] = {n: {"version": pins[n].version, "sha256": pins[n].sha256, "license": pins[n].license}
                          for n in used}
    report["format"] = "one JSON object per line: {\"messages\": [...], \"source\": ...}"
    with atomic_dir(out_dir, overwrite=overwrite) as tmp:
        with open(tmp / "chat.jsonl", "w", encoding="utf-8") as f:
            for c in convs:
                f.write(c.to_json() + "\n")
        (tmp / "manifest.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return report
