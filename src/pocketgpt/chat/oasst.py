"""The OpenAssistant (oasst1 / oasst2) importer: message trees into conversations.

The export has one row per message, as JSON Lines or parquet, with at least
``message_id``, ``parent_id`` (null for a tree's root), ``role`` (``prompter`` or
``assistant``), ``text``, ``lang`` and ``rank`` (0 is the best-ranked sibling; null when
unranked). Rows with ``deleted: true`` or ``review_result: false`` are dropped with
their subtrees.

Each tree becomes conversations that follow the **best-ranked assistant reply** at every
assistant turn (lowest rank; an unranked reply loses to a ranked one, ties go to the
earlier row), and **every prompter follow-up** of that reply, so one tree gives one
conversation per branch of user follow-ups. A conversation ends at an assistant reply;
one that is a strict prefix of another from the same tree is dropped. Only messages
whose ``lang`` is in ``langs`` are followed (``langs=None`` keeps all).

>>> rows = [dict(message_id="q", parent_id=None, role="prompter", text="Hi?", lang="en", rank=None),
...         dict(message_id="a1", parent_id="q", role="assistant", text="Meh.", lang="en", rank=1),
...         dict(message_id="a0", parent_id="q", role="assistant", text="Hello!", lang="en", rank=0)]
>>> [m["content"] for m in conversations_from_rows(rows).conversations[0].messages]
['Hi?', 'Hello!']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from pocketgpt.chat.conversation import Conversation
from pocketgpt.chat.rows import OASST_COLUMNS as REQUIRED
from pocketgpt.chat.rows import columns, is_parquet, iter_rows
from pocketgpt.errors import UserError

ROLE_MAP = {"prompter": "user", "assistant": "assistant"}


@dataclass
class OasstImport:
    conversations: list[Conversation]
    stats: dict = field(default_factory=dict)


def read_rows(path: str | Path) -> list[dict]:
    """Rows of an oasst export, from ``.parquet`` (a row group at a time) or JSON Lines
    (optionally ``.gz``); each row's ``_where`` names it for errors."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; expected an OpenAssistant export (.jsonl or .parquet)")
    if is_parquet(path):
        missing = [c for c in REQUIRED if c not in columns(path)]
        if missing:
            raise UserError(f"{path}: parquet lacks column(s) {', '.join(missing)}; an oasst export has "
                            f"{', '.join(REQUIRED)}")
    rows = []
    for where, row in iter_rows(path, "one oasst message"):
        row["_where"] = where
        rows.append(row)
    return rows


def _rank_key(row: dict, order: int) -> tuple:
    r = row.get("rank")
    bad = r is None or (isinstance(r, float) and math.isnan(r))
    return (math.inf if bad else float(r), order)


def conversations_from_rows(rows: list[dict], langs=("en",), where: str = "oasst") -> OasstImport:
    """Build conversations from oasst message rows (see the module docstring for the rules)."""
    langs = set(langs) if langs else None
    nodes, order, children = {}, {}, {}
    stats = dict(rows=len(rows), trees=0, trees_kept=0, dropped_deleted=0, dropped_lang=0, orphans=0,
                 conversations=0)
    for i, row in enumerate(rows):
        at = row.get("_where", f"{where}: row {i}")
        for key in REQUIRED:
            if key not in row:
                raise UserError(f"{at}: missing field {key!r}; an oasst message has {', '.join(REQUIRED)}")
        if row["role"] not in ROLE_MAP:
            raise UserError(f"{at}: role {row['role']!r}; expected 'prompter' or 'assistant'")
        if not isinstance(row["text"], str):
            raise UserError(f"{at}: 'text' must be a string, got {type(row['text']).__name__}")
        mid = row["message_id"]
        if mid in nodes:
            raise UserError(f"{at}: duplicate message_id {mid!r}")
        nodes[mid], order[mid] = row, i
    for mid, row in nodes.items():
        if row.get("deleted") is True or row.get("review_result") is False:
            stats["dropped_deleted"] += 1
            continue
        pid = row["parent_id"]
        if pid in (None, ""):
            children.setdefault(None, []).append(mid)
        elif pid in nodes:
            children.setdefault(pid, []).append(mid)
        else:
            stats["orphans"] += 1

    other_lang: set = set()

    def usable(mid: str, role: str) -> bool:
        row = nodes[mid]
        if row["role"] != role or not row["text"].strip():
            return False
        if langs is not None and row["lang"] not in langs:
            other_lang.add(mid)
            return False
        return True

    out = []
    for root in children.get(None, []):
        stats["trees"] += 1
        if not usable(root, "prompter"):
            continue
        found: list[tuple[str, ...]] = []
        stack = [(root,)]
        while stack:  # depth-first over the prompter branches
            path = stack.pop()
            replies = [c for c in children.get(path[-1], []) if usable(c, "assistant")]
            if not replies:
                if len(path) > 1:
                    found.append(path[:-1])  # ends at the last assistant reply
                continue
            best = min(replies, key=lambda c: _rank_key(nodes[c], order[c]))
            path = path + (best,)
            follow = [c for c in children.get(best, []) if usable(c, "prompter")]
            if not follow:
                found.append(path)
            stack += [path + (p,) for p in reversed(follow)]
        unique = list(dict.fromkeys(found))
        keep = [p for p in unique if not any(len(q) > len(p) and q[:len(p)] == p for q in unique)]
        if keep:
            stats["trees_kept"] += 1
        for path in keep:
            msgs = [{"role": ROLE_MAP[nodes[m]["role"]], "content": nodes[m]["text"]} for m in path]
            tree = nodes[root].get("message_tree_id", root)
            out.append(Conversation(msgs, f"{where}: tree {tree}", {"source": "oasst", "tree": str(tree)}))
    stats["conversations"], stats["dropped_lang"] = len(out), len(other_lang)
    return OasstImport(out, stats)


def import_oasst(path: str | Path, langs=("en",)) -> OasstImport:
    """Read an oasst export file and build its conversations."""
    return conversations_from_rows(read_rows(path), langs=langs, where=str(path))
