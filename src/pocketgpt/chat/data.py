"""Conversation files: JSON Lines of ``{"messages": [...]}``, and loading by kind.

Each line of a conversation file is one object with a ``messages`` list in the OpenAI
format; other keys (``source``, ``id``...) are kept but ignored by training. Blank lines
are skipped. Errors name the file and line. Each becomes a
:class:`~pocketgpt.chat.conversation.Conversation` (importable from here too).

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "chat.jsonl")
>>> write_jsonl(path, [Conversation([{"role": "user", "content": "Hi"},
...                                  {"role": "assistant", "content": "Hello!"}])])
>>> [c.messages[1]["content"] for c in read_jsonl(path)]
['Hello!']
"""

from __future__ import annotations

import json
from pathlib import Path

from pocketgpt.chat.conversation import Conversation
from pocketgpt.chat.format import validate
from pocketgpt.chat.oasst import import_oasst
from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_file, read_jsonl_objects


def read_jsonl(path: str | Path, *, for_training: bool = True) -> list[Conversation]:
    """Read and validate a ``{"messages": [...]}`` JSON Lines file."""
    path = Path(path)
    out = []
    for where, row in read_jsonl_objects(path, 'one {"messages": [...]} object'):
        if "messages" not in row:
            raise UserError(f"{where}: expected an object with a 'messages' list, e.g. "
                            '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}')
        meta = {k: v for k, v in row.items() if k != "messages"}
        out.append(Conversation(validate(row["messages"], where, for_training=for_training), where, meta))
    if not out:
        raise UserError(f"{path}: no conversations (the file is empty)")
    return out


def write_jsonl(path: str | Path, conversations) -> None:
    """Write conversations atomically, one JSON object per line."""
    with atomic_file(path, "w") as f:
        for c in conversations:
            f.write(c.to_json() + "\n")


def _looks_like_oasst(path: Path) -> bool:
    if path.suffix == ".parquet":
        return True
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    return False
                return isinstance(row, dict) and "message_id" in row and "messages" not in row
    return False


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


def load_conversations(paths, *, oasst_langs=("en",)) -> list[Conversation]:
    """Conversations from every file: chat JSON Lines, or OpenAssistant exports (detected
    by a ``.parquet`` suffix or a ``message_id`` key), imported along best-ranked replies."""
    out = []
    for p in expand_paths(paths):
        if _looks_like_oasst(p):
            out += import_oasst(p, langs=oasst_langs).conversations
        else:
            out += read_jsonl(p)
    return out
