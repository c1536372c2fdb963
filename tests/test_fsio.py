"""Reading JSON Lines: every record with its place, and errors that name file and line."""

from __future__ import annotations

import gzip

import pytest

from pocketgpt.errors import UserError
from pocketgpt.fsio import read_jsonl_objects


def test_records_and_their_lines_plain_and_gzipped(tmp_path):
    text = '{"a": 1}\n\n  \n{"a": "é"}\n'
    (tmp_path / "x.jsonl").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "x.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    for name in ("x.jsonl", "x.jsonl.gz"):
        got = list(read_jsonl_objects(tmp_path / name, "a record"))
        assert got == [(f"{tmp_path / name}:1", {"a": 1}), (f"{tmp_path / name}:4", {"a": "é"})]


@pytest.mark.parametrize("content,match", [
    (b'{"a": 1}\n{"a": \n', r"x.jsonl:2: not valid JSON .*expected a record per line"),
    (b'{"a": 1}\n[1, 2]\n', r"x.jsonl:2: expected a JSON object \(a record\), got list"),
    (b'{"a": 1}\n{"a": "\xff"}\n', r"x.jsonl:2: not UTF-8 text"),
])
def test_bad_lines_are_named(tmp_path, content, match):
    (tmp_path / "x.jsonl").write_bytes(content)
    with pytest.raises(UserError, match=match):
        list(read_jsonl_objects(tmp_path / "x.jsonl", "a record"))


def test_missing_and_truncated_files(tmp_path):
    with pytest.raises(UserError, match="no such file; expected a JSON Lines file"):
        list(read_jsonl_objects(tmp_path / "nope.jsonl", "a record"))
    data = gzip.compress(b'{"a": 1}\n' * 1000)
    (tmp_path / "t.jsonl.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="t.jsonl.gz: cannot read"):
        list(read_jsonl_objects(tmp_path / "t.jsonl.gz", "a record"))
