"""The output directory: two append-only ledgers and the manifest.

- ``chat.jsonl``: kept conversations in the chat JSON Lines format, each with its task
  ``id``, ``"source": "synth"``, where its prompt came from and the tokens it cost.
- ``dropped.log``: one JSON object per dropped task (``id``, ``reason``, what the teacher
  said), so a rerun does not ask again. Not ``*.jsonl``: ``pocketgpt sft --data DIR``
  reads a directory's ``*.jsonl`` files, and these are not training data.
- ``manifest.json``: written (atomically) when the run starts and when it ends.

Each line is written whole by one writer, then flushed and fsync'd. A process killed
mid-write can leave at most a partial last line; opening the directory again cuts it off
(everything before it is intact), so the files only ever hold whole records.

>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "chat.jsonl").write_bytes(b'{"id": "a", "messages": []}\\n{"id": "b", "mess')
>>> sorted(Ledger(d / "chat.jsonl").ids), (d / "chat.jsonl").read_bytes()
(['a'], b'{"id": "a", "messages": []}\\n')
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_write_text

CHAT, DROPPED, MANIFEST = "chat.jsonl", "dropped.log", "manifest.json"
MANIFEST_FORMAT = "pocketgpt-synth-v1"


def content_key(messages: list[dict]) -> str:
    """Equal for conversations with the same messages: what "exact duplicate" means."""
    return hashlib.sha256(json.dumps(messages, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


class Ledger:
    """An append-only JSON Lines file of records with an ``id``; recovered on open."""

    def __init__(self, path: Path):
        self.path = path
        self.records: list[dict] = []
        self.ids: set[str] = set()
        self.recovered_bytes = 0
        if path.exists():
            self._recover()
        self._fd: int | None = None

    def _recover(self) -> None:
        data = self.path.read_bytes()
        whole = data[: data.rfind(b"\n") + 1]
        if len(whole) < len(data):  # a line cut short by a kill: drop it, keep what is whole
            self.recovered_bytes = len(data) - len(whole)
            os.truncate(self.path, len(whole))
        for n, line in enumerate(whole.split(b"\n")[:-1], 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise UserError(f"{self.path}:{n}: not a synth record ({e}); this file is written by `pocketgpt data "
                                "synth` only: move it away or pass --overwrite to start again") from None
            if not isinstance(rec, dict) or not isinstance(rec.get("id"), str):
                raise UserError(f"{self.path}:{n}: a line without an 'id'; this file is written by `pocketgpt data "
                                "synth` only: move it away or pass --overwrite to start again")
            self.records.append(rec)
            self.ids.add(rec["id"])

    def append(self, record: dict) -> None:
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        view = memoryview(line)
        while view:  # a regular file takes it all at once; the loop is for the rare short write
            view = view[os.write(self._fd, view):]
        os.fsync(self._fd)
        self.records.append(record)
        self.ids.add(record["id"])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Store:
    """``OUT``: the kept and dropped ledgers, what they already hold, and the manifest."""

    def __init__(self, out_dir, key: dict, *, overwrite: bool = False):
        """Open (or create) ``out_dir`` for a run whose settings are ``key`` (compared with
        the manifest there: one directory holds one run's settings)."""
        self.dir = Path(out_dir)
        if self.dir.exists() and not self.dir.is_dir():
            raise UserError(f"--out {self.dir}: is a file; expected a directory (created if missing)")
        manifest = self.dir / MANIFEST
        ours = [self.dir / n for n in (CHAT, DROPPED, MANIFEST)]
        if overwrite:
            for p in ours:
                p.unlink(missing_ok=True)
        elif manifest.exists():
            old = _read_manifest(manifest)
            if old.get("key") != key:
                changed = sorted(k for k in {**key, **old.get("key", {})} if key.get(k) != old.get("key", {}).get(k))
                raise UserError(f"--out {self.dir}: holds a synth run with other settings ({', '.join(changed)} "
                                "differ); rerun with the same settings to resume it, choose another --out, or pass "
                                "--overwrite to start again")
        elif self.dir.exists() and any(self.dir.iterdir()):
            raise UserError(f"--out {self.dir}: exists and is not a synth output (no {MANIFEST}); choose a new or "
                            "empty directory")
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kept, self.dropped = Ledger(self.dir / CHAT), Ledger(self.dir / DROPPED)
        self.done = self.kept.ids | self.dropped.ids
        self.contents = {content_key(r["messages"]) for r in self.kept.records if isinstance(r.get("messages"), list)}

    def keep(self, record: dict) -> bool:
        """Append a kept conversation; ``False`` (and a dropped record) for an exact duplicate."""
        key = content_key(record["messages"])
        if key in self.contents:
            self.drop({**record, "reason": "duplicate"})
            return False
        self.contents.add(key)
        self.kept.append(record)
        self.done.add(record["id"])
        return True

    def drop(self, record: dict) -> None:
        self.dropped.append(record)
        self.done.add(record["id"])

    def counts(self) -> dict:
        """Kept and dropped (by reason) over everything in the ledgers, and the tokens they cost."""
        dropped: dict[str, int] = {}
        for r in self.dropped.records:
            dropped[r.get("reason", "?")] = dropped.get(r.get("reason", "?"), 0) + 1
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "requests": 0}
        for r in self.kept.records + self.dropped.records:
            for k in usage:
                usage[k] += int((r.get("usage") or {}).get(k, 0))
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return {"kept": len(self.kept.records), "dropped": dict(sorted(dropped.items())),
                "truncated_kept": sum(1 for r in self.kept.records if r.get("truncated")), "usage": usage}

    def write_manifest(self, manifest: dict) -> None:
        atomic_write_text(self.dir / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.kept.close()
        self.dropped.close()


def _read_manifest(path: Path) -> dict:
    from pocketgpt.fsio import read_json

    m = read_json(path, missing=f"{path}: no such file", expected="a pocketgpt data synth manifest")
    if not isinstance(m, dict) or m.get("format") != MANIFEST_FORMAT:
        raise UserError(f"{path}: not a `pocketgpt data synth` manifest (format {MANIFEST_FORMAT}); choose another "
                        "--out or pass --overwrite")
    return m
