"""Chat sets by shape: the rows of a parquet, JSON Lines or JSON file, and what they hold.

Public SFT sets ship as parquet or JSON Lines whose rows carry a ``messages`` list of
``{role, content}`` (smol-smoltalk, UltraChat...); OpenAssistant ships one row per
message of a tree. The file extension says how to read the rows, never what they are:
:func:`detect` looks at the columns (parquet's schema, or the keys of the first JSON rows).

- ``.parquet``: read one row group at a time, so a large set never sits in memory as a
  table (the conversations made from it still do).
- ``.json``: a JSON array of row objects when it starts with ``[``, else JSON Lines
  (many datasets name JSON Lines ``.json``).
- anything else (``.jsonl``, ``.jsonl.gz``...): JSON Lines.

Rows are named ``FILE:LINE`` for JSON Lines and ``FILE: row N`` (from 1) otherwise.

>>> import tempfile, os
>>> p = os.path.join(tempfile.mkdtemp(), "set.json")
>>> _ = open(p, "w").write('[{"messages": [], "source": "x"}]')
>>> detect(p), [w.rsplit(":", 1)[1] for w, _ in iter_rows(p, "a row")]
('messages', [' row 1'])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from pocketgpt.errors import UserError
from pocketgpt.fsio import read_jsonl_objects

# the columns that make a file an OpenAssistant export (see chat.oasst)
OASST_COLUMNS = ("message_id", "parent_id", "role", "text", "lang", "rank")
SNIFF_ROWS = 100  # JSON rows whose keys decide the shape


def is_parquet(path: str | Path) -> bool:
    return Path(path).suffix == ".parquet"


def _parquet_file(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise UserError(f"{path}: not a readable parquet file ({e})") from None


def _is_json_array(path: Path) -> bool:
    if path.suffix != ".json":
        return False
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"[")


def iter_rows(path: str | Path, what: str) -> Iterator[tuple[str, dict]]:
    """``(where, row)`` for every row of the file; ``what`` names one row in errors."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file; expected a chat set (.parquet, .jsonl or .json)")
    if is_parquet(path):
        pf = _parquet_file(path)
        n = 0
        for g in range(pf.num_row_groups):
            try:
                rows = pf.read_row_group(g).to_pylist()
            except Exception as e:
                raise UserError(f"{path}: row group {g}: cannot read ({e})") from None
            for row in rows:
                n += 1
                yield f"{path}: row {n}", row
    elif _is_json_array(path):
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"{path}: not a valid JSON array ({e}); expected [{what}, ...]") from None
        for n, row in enumerate(items, 1):
            if not isinstance(row, dict):
                raise UserError(f"{path}: row {n}: expected a JSON object ({what}), got {type(row).__name__}")
            yield f"{path}: row {n}", row
    else:
        yield from read_jsonl_objects(path, what)


def columns(path: str | Path) -> list[str] | None:
    """The parquet schema's column names, or the keys of the first JSON rows; ``None`` if no rows."""
    path = Path(path)
    if is_parquet(path):
        return list(_parquet_file(path).schema_arrow.names)
    # the union over the first rows, so one bad row at the top (skippable with --skip-bad)
    # does not hide the file's shape
    keys: dict = {}
    for n, (_, row) in enumerate(iter_rows(path, "one conversation object")):
        keys.update(dict.fromkeys(row))
        if n >= SNIFF_ROWS:
            break
    return list(keys) if keys else None


def detect(path: str | Path, field: str = "messages") -> str:
    """``"messages"`` (a column ``field`` of conversations), ``"oasst"`` (a message-tree
    export) or ``"empty"`` (no rows); anything else is a :class:`UserError` naming the
    file and the columns found."""
    path = Path(path)
    cols = columns(path)
    if cols is None:
        return "empty"
    if field in cols:
        return "messages"
    # JSON Lines exports were recognised by message_id alone before: keep that, the
    # importer then names any other missing field on its row
    if all(c in cols for c in OASST_COLUMNS) or (not is_parquet(path) and "message_id" in cols):
        return "oasst"
    names = ", ".join(map(repr, cols))
    found = f"columns {names}" if is_parquet(path) else f"keys {names} in the first rows"
    raise UserError(
        f"{path}: not a chat set pocketgpt can read: found {found}; "
        f"expected a {field!r} column holding a list of {{role, content}} messages (the shape of smol-smoltalk "
        f"and most public SFT sets; pass --field NAME when the list has another name), or an OpenAssistant "
        f"export with columns {', '.join(OASST_COLUMNS)}")
