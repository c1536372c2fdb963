"""Conversation files: rows of ``{"messages": [...]}``, and loading by shape.

Each row of a conversation file (a JSON Lines line, a JSON array item, a parquet row)
carries a ``messages`` list in the OpenAI format; other keys (``source``, ``id``...) are
kept but ignored by training. Blank lines are skipped. Errors name the file and row. Each becomes a
:class:`~pocketgpt.chat.conversation.Conversation` (importable from here too).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "chat.jsonl")
>>> write_jsonl(path, [Conversation([{"role": "user", "content": "Hi"},
...                                  {"role": "assistant", "content": "Hello!"}])])
>>> [c.messages[1]["content"] for c in read_jsonl(path)]
['Hello!']
"""

from __future__ import annotations

import warnings
from pathlib import Path

from pocketgpt.chat.conversation import Conversation
from pocketgpt.chat.format import ROLE_TOKENS, validate
from pocketgpt.chat.oasst import import_oasst
from pocketgpt.chat.rows import detect, iter_rows
from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_file


def read_conversations(path: str | Path, *, field: str = "messages", for_training: bool = True,
                       drop_unknown_roles: bool = False, skip_bad: bool = False) -> list[Conversation]:
    """Conversations from a ``.parquet``, ``.jsonl`` or ``.json`` file whose rows carry a
    ``field`` list of ``{role, content}`` messages; other columns are kept in ``meta``.

    Roles other than system/user/assistant (``tool``, ``function``...) are an error naming
    the row, or with ``drop_unknown_roles`` those messages are left out (the rest must
    still alternate). With ``skip_bad`` a bad row is skipped and counted (one warning per
    file) instead of stopping the run.
    """
    path = Path(path)
    out, bad, first = [], 0, None
    for where, row in iter_rows(path, f'one {{"{field}": [...]}} object'):
        try:
            out.append(_conversation(row, where, field, for_training, drop_unknown_roles))
        except UserError as e:
            if not skip_bad:
                raise
            bad, first = bad + 1, first or str(e)
    if bad:
        warnings.warn(f"{path}: skipped {bad} bad row(s) (--skip-bad); the first: {first}", stacklevel=2)
    if not out:
        raise UserError(f"{path}: no conversations" + (f" (all {bad} rows were bad)" if bad else " (the file is empty)"))
    return out


def _conversation(row: dict, where: str, field: str, for_training: bool, drop_unknown: bool) -> Conversation:
    messages = row.get(field)
    if messages is None:
        raise UserError(f"{where}: expected an object with a {field!r} list, e.g. "
                        '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}'
                        f"; found keys {', '.join(map(repr, row)) or '(none)'}")
    if isinstance(messages, list):
        unknown = [i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") not in ROLE_TOKENS]
        if unknown and not drop_unknown:
            i = unknown[0]
            raise UserError(f"{where}: message {i}: role {messages[i].get('role')!r} is not one of system, user, "
                            "assistant (pass --drop-unknown-roles to leave such messages out)")
        drop = set(unknown)  # empty unless drop_unknown; the rest must still alternate (validate checks)
        messages = [m for i, m in enumerate(messages) if i not in drop]
    meta = {k: v for k, v in row.items() if k != field}
    return Conversation(validate(messages, where, for_training=for_training), where, meta)


def read_jsonl(path: str | Path, *, for_training: bool = True) -> list[Conversation]:
    """Read and validate a ``{"messages": [...]}`` JSON Lines file."""
    return read_conversations(path, for_training=for_training)


def write_jsonl(path: str | Path, conversations) -> None:
    """Write conversations atomically, one JSON object per line."""
    with atomic_file(path, "w") as f:
        for c in conversations:
            f.write(c.to_json() + "\n")


def expand_paths(paths) -> list[Path]:
    """Files named, with a directory standing for its ``*.jsonl`` and ``*.parquet`` files (sorted)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted([*p.glob("*.jsonl"), *p.glob("*.parquet")])
            if not found:
                raise UserError(f"{p}: directory has no .jsonl or .parquet conversation files")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"{p}: no such file or directory")
    return out


def load_conversations(paths, *, oasst_langs=("en",), field: str = "messages", drop_unknown_roles: bool = False,
                       skip_bad: bool = False) -> list[Conversation]:
    """Conversations from every file, each read by its shape (:func:`pocketgpt.chat.rows.detect`):
    rows with a ``field`` list of messages, or OpenAssistant exports, imported along
    best-ranked replies. Options as for :func:`read_conversations`."""
    out = []
    for p in expand_paths(paths):
        kind = detect(p, field)
        if kind == "oasst":
            out += import_oasst(p, langs=oasst_langs).conversations
        elif kind == "empty":
            raise UserError(f"{p}: no conversations (the file is empty)")
        else:
            out += read_conversations(p, field=field, drop_unknown_roles=drop_unknown_roles, skip_bad=skip_bad)
    return out
