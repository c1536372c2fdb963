"""The OpenAssistant importer on a small message tree written here, in the export's schema."""

from __future__ import annotations

import json

import pytest

from pocketgpt.chat.data import load_conversations
from pocketgpt.chat.oasst import conversations_from_rows, import_oasst
from pocketgpt.errors import UserError


def M(mid, parent, role, text, rank=None, lang="en", **kw):
    return dict(message_id=mid, parent_id=parent, role=role, text=text, lang=lang, rank=rank,
                message_tree_id=kw.pop("tree", "t1"), **kw)


# Tree t1:
#   q1 "Capital of France?"
#     a1 (rank 1) "Lyon."           <- worse
#     a2 (rank 0) "Paris."          <- best
#       q2 "And Spain?"
#         a3 (rank 0) "Madrid."
#         a4 (rank 1) "Seville."
#       q3 "Thanks!"                 (no reply: that branch ends at a2, a prefix -> dropped)
#       q4 "Danke" (lang de)         (filtered)
#     a5 (rank None) "Dunno."        <- unranked loses to ranked
#     a6 (rank 0, deleted) "Paris!"  <- deleted
# Tree t2 (German root): dropped by the language filter.
# Tree t3: q9 with one unranked reply a9 and a follow-up with no answer: kept as [q9, a9].
ROWS = [
    M("q1", None, "prompter", "Capital of France?"),
    M("a1", "q1", "assistant", "Lyon.", rank=1),
    M("a2", "q1", "assistant", "Paris.", rank=0),
    M("q2", "a2", "prompter", "And Spain?"),
    M("a3", "q2", "assistant", "Madrid.", rank=0),
    M("a4", "q2", "assistant", "Seville.", rank=1),
    M("q3", "a2", "prompter", "Thanks!"),
    M("q4", "a2", "prompter", "Danke", lang="de"),
    M("a5", "q1", "assistant", "Dunno."),
    M("a6", "q1", "assistant", "Paris!", rank=0, deleted=True),
    M("g1", None, "prompter", "Hauptstadt?", lang="de", tree="t2"),
    M("g2", "g1", "assistant", "Berlin.", lang="de", rank=0, tree="t2"),
    M("q9", None, "prompter", "Hi", tree="t3"),
    M("a9", "q9", "assistant", "Hello.", tree="t3"),
    M("q10", "a9", "prompter", "Bye", tree="t3"),
    M("x1", "missing", "assistant", "orphan", tree="t4"),
]

WANT = [
    [("user", "Capital of France?"), ("assistant", "Paris."), ("user", "And Spain?"), ("assistant", "Madrid.")],
    [("user", "Hi"), ("assistant", "Hello.")],
]


def _pairs(convs):
    return [[(m["role"], m["content"]) for m in c.messages] for c in convs]


def test_best_ranked_paths_and_language_filter():
    res = conversations_from_rows(ROWS, langs=("en",))
    assert _pairs(res.conversations) == WANT
    assert res.stats["trees"] == 3 and res.stats["trees_kept"] == 2
    assert res.stats["dropped_deleted"] == 1 and res.stats["orphans"] == 1
    assert res.stats["dropped_lang"] == 2  # q4 and the German root


def test_every_language_and_german_only():
    every = _pairs(conversations_from_rows(ROWS, langs=None).conversations)
    assert [("user", "Hauptstadt?"), ("assistant", "Berlin.")] in every
    # with q4 followed (lang filter off), q4 has no reply, so the t1 conversations stay the same
    assert WANT[0] in every
    assert _pairs(conversations_from_rows(ROWS, langs=("de",)).conversations) == [
        [("user", "Hauptstadt?"), ("assistant", "Berlin.")]]


def test_prompter_branches_each_give_a_conversation():
    rows = [M("q", None, "prompter", "Q"), M("a", "q", "assistant", "A", rank=0),
            M("f1", "a", "prompter", "F1"), M("r1", "f1", "assistant", "R1"),
            M("f2", "a", "prompter", "F2"), M("r2", "f2", "assistant", "R2")]
    got = _pairs(conversations_from_rows(rows).conversations)
    assert sorted(got) == sorted([[("user", "Q"), ("assistant", "A"), ("user", "F1"), ("assistant", "R1")],
                                  [("user", "Q"), ("assistant", "A"), ("user", "F2"), ("assistant", "R2")]])


def test_jsonl_and_parquet_exports_read_the_same(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    jl = tmp_path / "oasst.jsonl"
    jl.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    cols = ("message_id", "parent_id", "role", "text", "lang", "rank", "message_tree_id")
    table = pa.table({c: [r.get(c) for r in ROWS] for c in cols} | {"deleted": [r.get("deleted", False) for r in ROWS]})
    pq.write_table(table, tmp_path / "oasst.parquet")
    assert _pairs(import_oasst(jl).conversations) == WANT
    assert _pairs(import_oasst(tmp_path / "oasst.parquet").conversations) == WANT
    # load_conversations recognises both without being told
    assert _pairs(load_conversations([jl, tmp_path / "oasst.parquet"])) == WANT + WANT


def test_bad_rows_are_named(tmp_path):
    with pytest.raises(UserError, match=r"row 1: role 'bot'"):
        conversations_from_rows([ROWS[0], M("z", "q1", "bot", "x")])
    with pytest.raises(UserError, match="missing field 'rank'"):
        conversations_from_rows([{k: v for k, v in ROWS[0].items() if k != "rank"}])
    with pytest.raises(UserError, match="duplicate message_id 'q1'"):
        conversations_from_rows([ROWS[0], ROWS[0]])
    bad = tmp_path / "x.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{oops\n")
    with pytest.raises(UserError, match=r"x.jsonl:2: not valid JSON"):
        import_oasst(bad)
