"""Chat sets by shape: parquet / JSON Lines / JSON rows with a messages list, oasst by its
columns, and errors naming the file, row and columns found. Files are written here with pyarrow."""

from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pocketgpt.chat.data import load_conversations
from pocketgpt.chat.rows import detect
from pocketgpt.errors import UserError


def conv(q, a, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


# the smol-smoltalk shape: a messages list of {content, role} structs and a source column
ROWS = [{"messages": conv(f"q{i}", f"a{i}", system="Be brief." if i % 2 else None), "source": "smol"}
        for i in range(5)]


def write_parquet(path, rows, row_group_size=2):
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def test_parquet_jsonl_and_json_array_load_the_same(tmp_path):
    pq_path = write_parquet(tmp_path / "train-00000-of-00001.parquet", ROWS)
    assert pq.ParquetFile(pq_path).num_row_groups == 3  # read group by group, rows keep counting
    jl = tmp_path / "set.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    arr = tmp_path / "set.json"
    arr.write_text(json.dumps(ROWS))
    lines_json = tmp_path / "lines.json"  # JSON Lines named .json, as many datasets do
    lines_json.write_text(jl.read_text())
    got = [load_conversations([p]) for p in (pq_path, jl, arr, lines_json)]
    want = [r["messages"] for r in ROWS]
    for convs in got:
        assert [c.messages for c in convs] == want
    assert got[0][4].where == f"{pq_path}: row 5" and got[0][0].meta == {"source": "smol"}
    assert got[2][1].where == f"{arr}: row 2"


def test_field_picks_another_column(tmp_path):
    p = write_parquet(tmp_path / "c.parquet", [{"conversation": r["messages"]} for r in ROWS])
    with pytest.raises(UserError, match=r"found columns 'conversation'.*--field"):
        load_conversations([p])
    assert len(load_conversations([p], field="conversation")) == 5


def test_oasst_parquet_goes_to_the_importer(tmp_path):
    rows = [dict(message_id="q", parent_id=None, role="prompter", text="Hi?", lang="en", rank=None),
            dict(message_id="a", parent_id="q", role="assistant", text="Hello!", lang="en", rank=0)]
    p = write_parquet(tmp_path / "oasst.parquet", rows)
    assert detect(p) == "oasst"
    assert [c.messages for c in load_conversations([p])] == [conv("Hi?", "Hello!")]


def test_neither_shape_names_file_and_columns(tmp_path):
    p = write_parquet(tmp_path / "qa.parquet", [{"prompt": "q", "completion": "a"}])
    with pytest.raises(UserError) as e:
        load_conversations([p])
    msg = str(e.value)
    assert str(p) in msg and "'prompt', 'completion'" in msg and "message_id" in msg and "\n" not in msg


def test_unknown_roles_error_or_drop(tmp_path):
    tool = [{"role": "user", "content": "2+2?"}, {"role": "tool", "content": "4"},
            {"role": "assistant", "content": "4."}]
    p = write_parquet(tmp_path / "t.parquet", [ROWS[0], {"messages": tool, "source": "x"}])
    with pytest.raises(UserError, match=r"t.parquet: row 2: message 1: role 'tool'.*--drop-unknown-roles"):
        load_conversations([p])
    convs = load_conversations([p], drop_unknown_roles=True)
    assert convs[1].messages == [tool[0], tool[2]]


@pytest.mark.parametrize("bad, needle", [
    ({"source": "no messages"}, "row 2: expected an object with a 'messages' list"),
    ({"messages": []}, "row 2: 'messages' must be a non-empty list"),
    ({"messages": [{"role": "user", "content": 3}, {"role": "assistant", "content": "x"}]},
     "row 2: message 0 (user): 'content' must be a string, got int"),
])
def test_bad_rows_error_or_are_counted_skips(tmp_path, bad, needle):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([ROWS[0], bad, ROWS[1]]))  # a JSON array, rows named from 1
    with pytest.raises(UserError, match=re.escape(needle)):
        load_conversations([p])
    with pytest.warns(UserWarning, match=r"bad.json: skipped 1 bad row\(s\)"):
        assert len(load_conversations([p], skip_bad=True)) == 2


def test_a_file_of_only_bad_rows_is_an_error_even_when_skipping(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"messages": []}) + "\n")
    with pytest.warns(UserWarning), pytest.raises(UserError, match=r"no conversations \(all 1 rows were bad\)"):
        load_conversations([p], skip_bad=True)


def test_empty_and_unreadable_files(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(UserError, match="e.jsonl: no conversations"):
        load_conversations([tmp_path / "e.jsonl"])
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(UserError, match="junk.parquet: not a readable parquet file"):
        load_conversations([tmp_path / "junk.parquet"])
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(UserError, match="broken.json: not a valid JSON array"):
        load_conversations([tmp_path / "broken.json"])
