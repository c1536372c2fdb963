"""Conversation JSON Lines: round trip and errors naming file and line."""

from __future__ import annotations

import json

import pytest

from pocketgpt.chat.data import Conversation, load_conversations, read_jsonl, write_jsonl
from pocketgpt.errors import UserError

GOOD = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}], "source": "t"}


def test_round_trip_keeps_extra_keys(tmp_path):
    p = tmp_path / "c.jsonl"
    write_jsonl(p, [Conversation(GOOD["messages"], meta={"source": "t"})])
    got = read_jsonl(p)
    assert got[0].messages == GOOD["messages"] and got[0].meta == {"source": "t"}
    assert got[0].where == f"{p}:1"
    assert json.loads(p.read_text()) == GOOD


@pytest.mark.parametrize("line, msg", [
    ("{not json", ":3: not valid JSON"),
    ('{"msgs": []}', ":3: expected an object with a 'messages' list"),
    (json.dumps({"messages": [{"role": "assistant", "content": "x"}]}), ":3: message 0: role 'assistant' out of order"),
    (json.dumps({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]}),
     ":3: message 1 (assistant): content is empty"),
])
def test_errors_name_file_and_line(tmp_path, line, msg):
    p = tmp_path / "c.jsonl"
    p.write_text(json.dumps(GOOD) + "\n\n" + line + "\n")
    with pytest.raises(UserError) as e:
        read_jsonl(p)
    assert f"{p}{msg}" in str(e.value)


def test_directories_expand_and_missing_paths_fail(tmp_path):
    (tmp_path / "d").mkdir()
    for n in ("b", "a"):
        (tmp_path / "d" / f"{n}.jsonl").write_text(json.dumps(GOOD) + "\n")
    assert [c.where.split("/")[-1] for c in load_conversations([tmp_path / "d"])] == ["a.jsonl:1", "b.jsonl:1"]
    with pytest.raises(UserError, match="no such file or directory"):
        load_conversations([tmp_path / "nope.jsonl"])
    (tmp_path / "e").mkdir()
    with pytest.raises(UserError, match="no .jsonl or .parquet"):
        load_conversations([tmp_path / "e"])
