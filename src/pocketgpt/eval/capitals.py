"""Capitals: does the model know what pretraining taught, and does it answer like an assistant?

For an *assistant* checkpoint each question goes through the chat format and the reply is
generated greedily until ``<|end|>``; for a *base* model the same question is asked by
5-shot prompting in the quiz-sheet format of the corpus (in-context learning), the answer
being the line the model writes after ``Answer:``. A reply is right when it contains the
capital, case-insensitively. Countries are split into the fixed held-out 20% (never in
SFT data, :func:`pocketgpt.data.countries.is_held_out`) and the training countries.

*Format* asks the bare question (no chat tokens for the base model, the chat format for
the assistant) and checks whether the reply is an answer: it ends by itself (a stop
token) within the budget and asks no question back. The base model is expected to fail
this: it continues the quiz it thinks it is reading.

Some capitals are spelled inside their country's name (Luxembourg, Singapore); a reply
that only repeats the question names them, so accuracy is also reported without them.

>>> name_contains_capital("Luxembourg", "Luxembourg"), name_contains_capital("France", "Paris")
(True, False)
>>> looks_like_answer("The capital of France is Paris.", stopped=True)
True
>>> looks_like_answer("Paris. What is the capital of Spain?", stopped=False)
False
"""

from __future__ import annotations

from pathlib import Path

from pocketgpt.errors import UserError
from pocketgpt.fsio import read_json
from pocketgpt.eval.lm import greedy

PHRASINGS = (
    "What is the capital of {c}?",
    "Which city is the capital of {c}?",
    "What is the capital city of {c}?",
)
FEW_SHOT = 5
FORMAT_PROMPTS = (
    "What is the capital of France?",
    "What is the capital of Germany?",
    "What is the capital of Japan?",
    "What is the capital of Brazil?",
    "What is the capital of Egypt?",
    "What is the capital of Canada?",
    "What is the capital of India?",
    "What is the capital of Italy?",
    "What is the capital of Kenya?",
    "What is the capital of Peru?",
)


def name_contains_capital(name: str, capital: str) -> bool:
    return capital.lower() in name.lower()


def looks_like_answer(reply: str, stopped: bool) -> bool:
    """An assistant-style answer: non-empty, ended by a stop token, no question asked back."""
    return stopped and bool(reply.strip()) and "?" not in reply


def load_countries(path: str | Path | None = None, cache_dir=None) -> dict[str, str]:
    """``{country: capital}`` from a JSON file (an object, or a list of ``{name, capital}``),
    or else from the pinned countryinfo package."""
    if path is None:
        from pocketgpt.data.countries import country_facts

        return {n: c.capital for n, c in country_facts(cache_dir).items()}
    path = Path(path)
    data = read_json(path, missing=f"--countries {path}: no such file", expected="{country: capital}")
    if isinstance(data, list):
        try:
            data = {d["name"]: d["capital"] for d in data}
        except (TypeError, KeyError):
            raise UserError(f"{path}: a list must hold objects with 'name' and 'capital'") from None
    if not isinstance(data, dict) or not data or not all(isinstance(v, str) and v for v in data.values()):
        raise UserError(f"{path}: expected a non-empty object mapping each country to its capital")
    return data


def question_ids(tokenizer, question: str, *, assistant: bool, shots=()) -> list[int]:
    """How a question is asked: a user turn for an assistant; for a base model, the corpus's
    quiz form after the worked ``(question, answer)`` shots (in-context learning)."""
    from pocketgpt.chat.format import render_for_completion

    if assistant:
        return render_for_completion([{"role": "user", "content": question}], tokenizer)
    text = "".join(f"Question: {q}\nAnswer: {a}\n" for q, a in shots) + f"Question: {question}\nAnswer:"
    return [tokenizer.eot_id] + tokenizer.encode(text)


def answer_text(tokenizer, ids: list[int], *, assistant: bool) -> str:
    """The answer in a reply: all of an assistant's; a base model's line after ``Answer:``."""
    reply = tokenizer.decode(ids)
    return reply if assistant else reply.split("\n")[0]


def _summarise(rows: list[dict]) -> dict:
    def acc(sel):
        sel = list(sel)
        return {"accuracy": sum(r["correct"] for r in sel) / len(sel) if sel else None, "n": len(sel)}

    out = {}
    for split in ("held_out", "training"):
        part = [r for r in rows if r["held_out"] == (split == "held_out")]
        out[split] = {**acc(part),
                      "without_name_contained": acc(r for r in part if not r["name_contains_capital"]),
                      "by_phrasing": {p: acc(r for r in part if r["phrasing"] == p)["accuracy"] for p in PHRASINGS}}
    return out


def evaluate_capitals(model, tokenizer, countries: dict[str, str], *, assistant: bool,
                      phrasings=PHRASINGS, max_new_tokens: int = 24, batch_size: int = 48,
                      held_out=None, limit: int | None = None) -> dict:
    """Accuracy on held-out and training countries, the format rate, and every reply.

    ``held_out`` decides the split (default :func:`pocketgpt.data.countries.is_held_out`);
    ``limit`` keeps the first N countries of each split (for quick runs and tests).
    """
    from pocketgpt.chat.format import stop_ids
    from pocketgpt.data.countries import is_held_out

    held_out = held_out or is_held_out
    names = sorted(countries)
    if limit:
        names = [n for n in names if held_out(n)][:limit] + [n for n in names if not held_out(n)][:limit]
    shots = [n for n in sorted(countries) if not held_out(n) and not name_contains_capital(n, countries[n])]
    stops = stop_ids(tokenizer)
    items, prompts = [], []
    for name in names:
        worked = [(f"What is the capital of {s}?", countries[s]) for s in shots if s != name][:FEW_SHOT]
        for p in phrasings:
            q = p.format(c=name)
            items.append((name, p, q))
            prompts.append(question_ids(tokenizer, q, assistant=assistant, shots=worked))
    outs = greedy(model, prompts, max_new_tokens, stops, batch_size=batch_size)
    rows = []
    for (name, p, q), (ids, stopped) in zip(items, outs):
        answer = answer_text(tokenizer, ids, assistant=assistant)
        rows.append({"country": name, "capital": countries[name], "phrasing": p, "question": q,
                     "reply": answer.strip(), "correct": countries[name].lower() in answer.lower(),
                     "held_out": bool(held_out(name)),
                     "name_contains_capital": name_contains_capital(name, countries[name])})
    fmt = format_rate(model, tokenizer, assistant=assistant, max_new_tokens=max(32, max_new_tokens))
    return {"mode": "assistant (chat format, greedy)" if assistant else f"base ({FEW_SHOT}-shot quiz prompt, greedy)",
            "countries": len(names), "phrasings": list(phrasings), **_summarise(rows), "format": fmt,
            "replies": rows}


def bare_questions(model, tokenizer, prompts, *, assistant: bool, max_new_tokens: int) -> list[tuple[list[int], bool]]:
    """Greedy replies to bare questions: a user turn for the assistant, raw text (a new
    document) for a base model; ``(reply ids, stopped)`` each."""
    from pocketgpt.chat.format import render_for_completion, stop_ids

    if assistant:
        ids = [render_for_completion([{"role": "user", "content": q}], tokenizer) for q in prompts]
    else:
        ids = [[tokenizer.eot_id] + tokenizer.encode(q) for q in prompts]
    return greedy(model, ids, max_new_tokens, stop_ids(tokenizer))


def format_rate(model, tokenizer, *, assistant: bool, prompts=FORMAT_PROMPTS, max_new_tokens: int = 32) -> dict:
    """How often the bare question gets an answer-shaped reply (see :func:`looks_like_answer`)."""
    outs = bare_questions(model, tokenizer, prompts, assistant=assistant, max_new_tokens=max_new_tokens)
    samples = [{"prompt": q, "reply": tokenizer.decode(o), "stopped": s, "answer_format": looks_like_answer(
        tokenizer.decode(o), s)} for q, (o, s) in zip(prompts, outs)]
    return {"rate": sum(s["answer_format"] for s in samples) / len(samples), "n": len(samples), "samples": samples}
