"""Each source format on small files written here, and each kind of bad input."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pocketgpt.data import SourceReport, iter_documents, parse_source
from pocketgpt.errors import UserError


def docs_of(spec, report=None, **kw):
    return list(iter_documents([parse_source(spec, **kw)], report))


def test_text_file_is_one_document(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("line one\n\nline two\n")
    assert docs_of(p) == ["line one\n\nline two\n"]


def test_text_split_on_blank_line_and_literal(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("first doc\nstill first\n\n  \nsecond\n\n\nthird\n")
    assert docs_of(p, split_on="blank-line") == ["first doc\nstill first", "second", "third"]
    q = tmp_path / "b.txt"
    q.write_text("a---b---c")
    assert docs_of(q, split_on="---") == ["a", "b", "c"]


def test_text_split_across_read_blocks(tmp_path, monkeypatch):
    import pocketgpt.data.sources as sources

    monkeypatch.setattr(sources, "TEXT_READ_BLOCK", 7)
    docs = [f"document number {i}\nwith two lines é" for i in range(50)]
    p = tmp_path / "a.txt"
    p.write_text("\n\n".join(docs))
    assert docs_of(p, split_on="\\n\\n") == docs
    assert docs_of(p) == ["\n\n".join(docs)]


def test_directory_recursive_and_glob_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.txt").write_text("two")
    (tmp_path / "1.txt").write_text("one")
    (tmp_path / "skip.md").write_text("not read")
    (tmp_path / "c.jsonl").write_text('{"text": "three"}\n')
    assert docs_of(tmp_path) == ["one", "two", "three"]
    assert docs_of(str(tmp_path / "*.txt")) == ["one"]


def test_invalid_utf8_replaced_and_counted(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"ok \xff\xfe and a real \xef\xbf\xbd and \xc3")
    report = SourceReport()
    (doc,) = docs_of(p, report)
    assert doc == "ok \ufffd\ufffd and a real \ufffd and \ufffd"
    assert report.replaced_utf8 == 3
    assert "a.txt" in report.summary()


def test_jsonl_and_gz_with_field(tmp_path):
    rows = [{"text": "alpha", "n": 1}, {"text": "béta"}, {"body": "x", "text": "gamma"}]
    plain = tmp_path / "a.jsonl"
    plain.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as f:
        f.write("\n".join(json.dumps(r) for r in rows))
    assert docs_of(plain) == docs_of(gz) == ["alpha", "béta", "gamma"]
    other = tmp_path / "b.jsonl"
    other.write_text('{"content": "one"}\n{"content": "two"}\n')
    assert docs_of(other, field="content") == ["one", "two"]


@pytest.mark.parametrize(
    "line, needle",
    [
        ('{"text": "ok"', "malformed JSON"),
        ('["a list"]', "expected an object"),
        ('{"body": "x"}', "field 'text' is missing"),
        ('{"text": 5}', "field 'text' is int, expected a string"),
        ('{"text": null}', "field 'text' is NoneType"),
    ],
)
def test_jsonl_bad_lines_name_file_and_line(tmp_path, line, needle):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "fine"}\n' + line + "\n")
    with pytest.raises(UserError) as e:
        docs_of(p)
    assert f"{p}:2" in str(e.value) and needle in str(e.value)
    report = SourceReport(skip_bad=True)
    assert docs_of(p, report) == ["fine"]
    assert report.skipped == 1 and f"{p}:2" in report.skipped_where[0]


def test_truncated_gzip(tmp_path):
    gz = tmp_path / "a.jsonl.gz"
    with gzip.open(gz, "wt") as f:
        f.write("\n".join(json.dumps({"text": f"doc {i} " * 50}) for i in range(200)))
    data = gz.read_bytes()
    gz.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt or truncated gzip"):
        docs_of(gz)


def write_parquet(path, texts, row_group_size):
    pq.write_table(pa.table({"text": texts, "id": list(range(len(texts)))}), path, row_group_size=row_group_size)


def test_parquet_several_row_groups(tmp_path):
    texts = [f"row {i} text" for i in range(25)]
    p = tmp_path / "a.parquet"
    write_parquet(p, texts, row_group_size=4)
    assert pq.ParquetFile(p).num_row_groups == 7
    assert docs_of(p) == texts
    assert docs_of(tmp_path) == texts


def test_parquet_bad_inputs(tmp_path):
    p = tmp_path / "a.parquet"
    write_parquet(p, ["x", "y"], 1)
    with pytest.raises(UserError, match="column 'content' is missing .*columns: text, id"):
        docs_of(p, field="content")
    with pytest.raises(UserError, match="column 'id' has type int64, expected a string"):
        docs_of(p, field="id")
    nulls = tmp_path / "n.parquet"
    pq.write_table(pa.table({"text": ["a", None, "c"]}), nulls)
    with pytest.raises(UserError, match=r"n.parquet: row 1: column 'text' is null"):
        docs_of(nulls)
    report = SourceReport(skip_bad=True)
    assert docs_of(nulls, report) == ["a", "c"] and report.skipped == 1
    truncated = tmp_path / "t.parquet"
    write_parquet(truncated, [f"row {i}" * 20 for i in range(100)], 10)
    truncated.write_bytes(truncated.read_bytes()[:-300])
    with pytest.raises(UserError, match="t.parquet: corrupt or truncated parquet"):
        docs_of(truncated)
    garbage = tmp_path / "g.parquet"
    garbage.write_bytes(b"PAR1" + b"\x00" * 100)
    with pytest.raises(UserError, match="corrupt or truncated parquet"):
        docs_of(garbage)


def test_empty_inputs(tmp_path):
    (tmp_path / "e.txt").write_text("")
    with pytest.raises(UserError, match="empty input"):
        docs_of(tmp_path / "e.txt")
    (tmp_path / "e.jsonl").write_text("\n\n")
    with pytest.raises(UserError, match="empty input"):
        docs_of(tmp_path / "e.jsonl")
    empty_dir = tmp_path / "d"
    empty_dir.mkdir()
    with pytest.raises(UserError, match="empty input"):
        docs_of(empty_dir)
    with pytest.raises(UserError, match="matches no files"):
        docs_of(str(tmp_path / "*.nothing"))
    with pytest.raises(UserError, match="no such file"):
        docs_of(tmp_path / "missing.txt")


def test_hf_without_datasets_is_a_clear_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *a, **k):
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(UserError, match=r"pocketgpt\[hf\]"):
        docs_of("hf:HuggingFaceFW/fineweb-edu:sample-10BT")
