"""What to ask: prompts and topics read from files, one task per (prompt, sample), and
the conversation each task becomes.

A prompts file is plain text (one user message per line) or, named ``*.jsonl``, one
``{"prompt": ..., "system": ...}`` object per line (``system`` optional). A topics file
has one topic per line; the teacher turns each into a question with the template.
Blank lines and lines starting with ``#`` are skipped in text files.

A task's id is a hash of its prompt (or topic and template), the settings and the sample
index, so the same run asked again makes the same ids and a rerun can skip finished ones.

>>> p = Prompt("prompts.txt:1", user="What is a cat?")
>>> task_id(p, {"model": "m", "temperature": 0.7}, 0) == task_id(p, {"temperature": 0.7, "model": "m"}, 0)
True
>>> refused("I'm sorry, but I can't help with that."), refused("I can't be sure, but it is Paris.")
(True, False)
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from pocketgpt.errors import UserError

DEFAULT_TEMPLATE = ("Write one question that a curious person might ask an AI assistant about {topic}. "
                    "Write only the question, nothing else.")
USER_SIMULATOR = ("You are playing the user in a conversation with an AI assistant. Read the conversation so far "
                  "and write the user's next message: a natural follow-up question or reply, in the user's own "
                  "voice. Write only that message, with no label or quotes.")
# The openings of a refusal; matched at the start of a reply, apostrophes straightened, any case.
REFUSAL = re.compile(
    r"^\W*(?:(?:(?:i'?m|i am) (?:so |very |really )?)?sorry,? (?:but )?)?"
    r"(?:(?:i (?:cannot|can ?not|can't|won't|will not)|(?:i am|i'?m) (?:unable|not able) to)"
    r" (?:help|assist|provide|comply|fulfil|fulfill|answer|do that|support|create|generate|write|engage)"
    r"|as an ai\b|as a language model\b|as an ai language model\b)", re.I)


def refused(text: str) -> bool:
    """Whether a reply opens like a refusal ("I can't help", "I cannot assist", "As an AI", ...)."""
    return bool(REFUSAL.match(text.replace("\u2019", "'")[:200]))


@dataclass(frozen=True)
class Prompt:
    """One line of the input: a user message, or a topic to make one from."""

    where: str  # FILE:LINE
    user: str | None = None
    topic: str | None = None
    system: str | None = None


@dataclass(frozen=True)
class Task:
    id: str
    prompt: Prompt
    sample: int


def task_id(prompt: Prompt, settings: dict, sample: int) -> str:
    key = {"user": prompt.user, "topic": prompt.topic, "system": prompt.system, "settings": settings, "sample": sample}
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]


def _text_lines(path: Path, what: str):
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; expected {what}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory; expected a file of {what}") from None
    for n, line in enumerate(raw.split(b"\n"), 1):
        try:
            text = line.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise UserError(f"{path}:{n}: not UTF-8 text ({e.reason} at byte {e.start}); expected {what}") from None
        if text and not text.startswith("#"):
            yield f"{path}:{n}", text


def _string(obj: dict, key: str, where: str, required: bool) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        got = "missing" if value is None else f"{type(value).__name__} {value!r}"[:80]
        raise UserError(f"{where}: {key!r} must be a non-empty string, got {got}; expected "
                        '{"prompt": "...", "system": "..."} per line (system optional)')
    return value


def read_prompts(path, system: str | None = None) -> list[Prompt]:
    """Prompts from ``path`` (text, or ``.jsonl``); ``system`` is the default system message."""
    from pocketgpt.fsio import read_jsonl_objects

    path = Path(path)
    out = []
    if path.suffix == ".jsonl":
        for where, obj in read_jsonl_objects(path, '{"prompt": "...", "system": "..."} (system optional)'):
            unknown = sorted(set(obj) - {"prompt", "system"})
            if unknown:
                raise UserError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; expected "
                                '{"prompt": "...", "system": "..."} per line (system optional)')
            out.append(Prompt(where, user=_string(obj, "prompt", where, True),
                              system=_string(obj, "system", where, False) or system))
    else:
        out = [Prompt(w, user=t, system=system) for w, t in _text_lines(path, "one user message per line")]
    if not out:
        raise UserError(f"{path}: no prompts (the file is empty); expected one user message per line")
    return out


def read_topics(path, system: str | None = None) -> list[Prompt]:
    out = [Prompt(w, topic=t, system=system) for w, t in _text_lines(Path(path), "one topic per line")]
    if not out:
        raise UserError(f"{path}: no topics (the file is empty); expected one topic per line")
    return out


def read_exclude(path) -> list[str]:
    """Names to exclude: one per line, or JSON lines with ``name`` and ``capital`` (the output of
    ``pocketgpt data countries --held-out``)."""
    names = []
    for where, text in _text_lines(Path(path), "one name per line"):
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise UserError(f"{where}: not valid JSON ({e.msg}); expected a name, or an object with "
                                "'name' (and 'capital')") from None
            got = [obj.get(k) for k in ("name", "capital") if isinstance(obj.get(k), str) and obj.get(k).strip()]
            if not got:
                raise UserError(f"{where}: the object has no 'name' string; expected a name per line, or JSON "
                                "lines as `pocketgpt data countries --held-out` prints")
            names += got
        else:
            names.append(text)
    return names


def make_tasks(prompts: list[Prompt], settings: dict, samples: int) -> list[Task]:
    """One task per prompt and sample, in order; a repeated prompt is asked once."""
    seen, out = set(), []
    for p in prompts:
        for k in range(samples):
            tid = task_id(p, settings, k)
            if tid not in seen:
                seen.add(tid)
                out.append(Task(tid, p, k))
    return out


def transcript(messages: list[dict]) -> str:
    """The conversation so far as the user simulator reads it."""
    names = {"user": "User", "assistant": "Assistant"}
    return "\n\n".join(f"{names[m['role']]}: {m['content']}" for m in messages if m["role"] in names)


def clean_question(text: str) -> str:
    """A generated user message without surrounding whitespace, quotes or a "User:" label."""
    text = re.sub(r"^\s*(?:user|question)\s*:\s*", "", text.strip(), flags=re.I)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text
