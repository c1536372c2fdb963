"""Few-shot prompts: show a base model some solved examples, then the question.

A base model continues text. Put a few worked examples before a new query in
the same format and the likeliest continuation is the answer, followed (if
nothing stops it) by another made-up example; so stop at the separator.

Examples come from a file (:func:`load_examples`):

- ``*.jsonl``: one JSON object per line, rendered through a ``template`` such
  as ``"Q: What is the capital of {country}?\\nA: {capital}"``; the query fills
  the template up to its last field, which is left for the model;
- any other file: plain-text examples separated by blank lines, used as they are.

>>> shots = [{"country": "France", "capital": "Paris"}, {"country": "Spain", "capital": "Madrid"}]
>>> print(build_fewshot_prompt(shots, "Italy", template="Q: capital of {country}?\\nA: {capital}"))
Q: capital of France?
A: Paris
<BLANKLINE>
Q: capital of Spain?
A: Madrid
<BLANKLINE>
Q: capital of Italy?
A:
>>> print(build_fewshot_prompt(["2+2=4", "3+5=8"], "1+6="))
2+2=4
<BLANKLINE>
3+5=8
<BLANKLINE>
1+6=
"""

from __future__ import annotations

import string
from pathlib import Path

from pocketgpt.errors import UserError
from pocketgpt.fsio import read_jsonl_objects


def load_examples(path: str | Path) -> list[str] | list[dict]:
    """Examples from ``path``: dicts from a ``.jsonl`` file, else blank-line-separated text blocks."""
    p = Path(path)
    if p.suffix == ".jsonl":
        out = [rec for _, rec in read_jsonl_objects(p, "one example object")]
    else:
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"{p}: no such few-shot examples file") from None
        except UnicodeDecodeError as e:
            raise UserError(f"{p}: not UTF-8 text ({e})") from None
        blocks = text.replace("\r\n", "\n").split("\n\n")
        out = [b.strip("\n") for b in blocks if b.strip()]
    if not out:
        raise UserError(f"{p}: holds no examples")
    return out


def _fields(template: str) -> list[str]:
    try:
        return [f for _, f, _, _ in string.Formatter().parse(template) if f]
    except ValueError as e:
        raise UserError(f"template: {e}; fields look like {{name}}, literal braces are {{{{ and }}}}") from None


def _render(template: str, rec: dict, where: str) -> str:
    try:
        return template.format_map(rec)
    except KeyError as e:
        raise UserError(f"{where}: has no field {e}; the template uses {', '.join(_fields(template))}") from None


def build_fewshot_prompt(examples: list, query: str | dict, *, template: str | None = None,
                         separator: str = "\n\n", shots: int | None = None) -> str:
    """Examples, each followed by ``separator``, then the query.

    With dict examples a ``template`` is needed; a text ``query`` fills the
    template's first field and the prompt ends where its last field begins
    (stripped of trailing spaces, since BPE tokens usually carry the space).
    """
    if shots is not None:
        if shots < 0:
            raise UserError(f"shots: must be >= 0, got {shots}")
        examples = examples[:shots]
    if any(isinstance(e, dict) for e in examples) or isinstance(query, dict):
        if not template:
            raise UserError("template: JSONL examples need a template, e.g. 'Q: {question}\\nA: {answer}'")
        fields = _fields(template)
        if len(fields) < 2:
            raise UserError(f"template: needs at least two fields (the last is the answer), got {template!r}")
        rendered = []
        for i, e in enumerate(examples, 1):
            if not isinstance(e, dict):
                raise UserError(f"example {i}: is text, but the template needs JSON objects")
            rendered.append(_render(template, e, f"example {i}"))
        head = template[: template.rindex("{" + fields[-1])]
        q = query if isinstance(query, dict) else {fields[0]: query}
        last = _render(head, q, "query").rstrip(" ")
    else:
        rendered = [str(e) for e in examples]
        last = query
    if not last:
        raise UserError("prompt: the query is empty")
    return "".join(r + separator for r in rendered) + last
