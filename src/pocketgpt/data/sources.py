"""Document sources: plain text, JSON Lines, Parquet and Hugging Face datasets.

A source yields documents (``str``). :func:`parse_source` turns a command-line spec
into a :class:`Source`; :func:`iter_documents` walks several of them in order.

Specs:

- ``path/to/file.txt`` (any extension other than the ones below): one document per
  file, or one per piece between delimiters when ``split_on`` is given.
- ``file.jsonl`` / ``file.jsonl.gz``: one JSON object per line, text in ``field``.
- ``file.parquet``: column ``field``, read one row group at a time.
- a directory: every ``*.txt``, ``*.jsonl``, ``*.jsonl.gz`` and ``*.parquet`` below
  it, recursively, in sorted path order, each read by its extension.
- a glob (``data/*.jsonl``): its matches in sorted order.
- ``hf:NAME[:CONFIG]``: a streamed Hugging Face dataset (needs ``pocketgpt[hf]``).

Bad records raise :class:`~pocketgpt.errors.UserError` naming the file, the line or
row, and the field. With a :class:`SourceReport` whose ``skip_bad`` is true they are
skipped and counted instead. Invalid UTF-8 becomes U+FFFD and is counted.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.jsonl").write_text('{"text": "hello"}\\n{"text": "world"}\\n')
>>> list(iter_documents([parse_source(str(d / "a.jsonl"))]))
['hello', 'world']
"""

from __future__ import annotations

import glob
import gzip
import json
import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from pocketgpt.errors import UserError

TEXT_READ_BLOCK = 4 << 20
PARQUET_BATCH_ROWS = 1024
_FFFD = "\ufffd".encode("utf-8")
_SUFFIXES = (".txt", ".jsonl", ".jsonl.gz", ".parquet")


@dataclass
class SourceReport:
    """What reading the sources ran into: skipped records and replaced bytes.

    ``skip_bad=False`` (the default) makes the first bad record an error.
    """

    skip_bad: bool = False
    skipped: int = 0
    skipped_where: list[str] = field(default_factory=list)
    replaced_utf8: int = 0
    replaced_where: list[str] = field(default_factory=list)
    empty_documents: int = 0
    max_listed: int = 20

    def bad(self, where: str, problem: str) -> None:
        """Record a bad record at ``where``; raise unless skipping."""
        if not self.skip_bad:
            raise UserError(f"{where}: {problem} (pass --skip-bad to skip bad records)")
        self.skipped += 1
        if len(self.skipped_where) < self.max_listed:
            self.skipped_where.append(f"{where}: {problem}")

    def replaced(self, where: str, count: int) -> None:
        if count:
            self.replaced_utf8 += count
            if len(self.replaced_where) < self.max_listed:
                self.replaced_where.append(f"{where}: {count}")

    def as_dict(self) -> dict:
        return {
            "skipped": self.skipped,
            "skipped_where": list(self.skipped_where),
            "replaced_invalid_utf8": self.replaced_utf8,
            "replaced_where": list(self.replaced_where),
            "empty_documents": self.empty_documents,
        }

    def summary(self) -> str:
        parts = []
        if self.skipped:
            where = "; ".join(self.skipped_where[:5])
            parts.append(f"skipped {self.skipped} bad record(s) (first: {where})")
        if self.replaced_utf8:
            where = ", ".join(self.replaced_where[:5])
            parts.append(f"replaced {self.replaced_utf8} invalid UTF-8 sequence(s) with U+FFFD ({where})")
        return "; ".join(parts)


def decode_utf8(raw: bytes, where: str, report: SourceReport | None) -> str:
    """Decode UTF-8, replacing invalid sequences with U+FFFD and counting them.

    >>> decode_utf8(b"caf\\xc3\\xa9 \\xff!", "x", None)
    'café \\ufffd!'
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        # A genuine U+FFFD is EF BF BD in the input; anything beyond those was replaced.
        if report is not None:
            report.replaced(where, text.count("\ufffd") - raw.count(_FFFD))
        return text


def _split_pattern(split_on: str | None) -> re.Pattern | None:
    if split_on is None:
        return None
    if split_on in ("blank-line", "blankline", "blank"):
        return re.compile(r"\n[ \t\r]*\n")
    delim = split_on.encode("utf-8").decode("unicode_escape") if "\\" in split_on else split_on
    if not delim:
        raise UserError("--split-on: empty delimiter; expected e.g. 'blank-line' or a string such as '\\n\\n'")
    return re.compile(re.escape(delim))


@dataclass
class Source:
    """One input: a spec plus how to read it. Iterate with :meth:`documents`."""

    spec: str
    field: str = "text"
    split_on: str | None = None

    def files(self) -> list[Path]:
        """The files behind this spec, in the order they are read."""
        if self.spec.startswith("hf:"):
            return []
        p = Path(self.spec)
        if p.is_dir():
            found = [q for q in p.rglob("*") if q.is_file() and q.name.endswith(_SUFFIXES)]
            found.sort(key=lambda q: q.as_posix())
            if not found:
                raise UserError(f"{self.spec}: directory has no {', '.join(_SUFFIXES)} files; empty input")
            return found
        if p.is_file():
            return [p]
        if glob.has_magic(self.spec):
            found = sorted((Path(q) for q in glob.glob(self.spec, recursive=True)), key=lambda q: q.as_posix())
            found = [q for q in found if q.is_file()]
            if not found:
                raise UserError(f"{self.spec}: the pattern matches no files; empty input")
            return found
        raise UserError(f"{self.spec}: no such file or directory; expected a file, directory, glob or hf:NAME")

    def describe(self) -> dict:
        """A JSON description that changes when the input files change (for resume checks)."""
        d: dict = {"spec": self.spec, "field": self.field, "split_on": self.split_on}
        if not self.spec.startswith("hf:"):
            d["files"] = [[f.as_posix(), f.stat().st_size, f.stat().st_mtime_ns] for f in self.files()]
        return d

    def documents(self, report: SourceReport | None = None) -> Iterator[str]:
        report = report if report is not None else SourceReport()
        if self.spec.startswith("hf:"):
            yield from _read_hf(self.spec, self.field, report)
            return
        for path in self.files():
            yield from self._read_file(path, report)

    def _read_file(self, path: Path, report: SourceReport, row_group: int | None = None) -> Iterator[str]:
        name = path.name
        if name.endswith(".jsonl") or name.endswith(".jsonl.gz"):
            yield from _read_jsonl(path, self.field, report)
        elif name.endswith(".parquet"):
            yield from _read_parquet(path, self.field, report, row_group)
        else:
            yield from _read_text(path, _split_pattern(self.split_on), report)

    def pieces(self) -> list[Piece]:
        """The smallest parts one worker reads whole, in reading order: a file, or one
        row group of a parquet file (so one huge file still splits); an ``hf:`` dataset
        is one piece."""
        if self.spec.startswith("hf:"):
            return [Piece(self, None, None, 0)]
        out = []
        for path in self.files():
            if path.name.endswith(".parquet"):
                meta = _parquet_file(path).metadata
                out += [Piece(self, path, g, meta.row_group(g).total_byte_size) for g in range(meta.num_row_groups)]
            else:
                out.append(Piece(self, path, None, path.stat().st_size))
        return out


@dataclass
class Piece:
    """One file, or one row group of a parquet file, of a source; ``size`` (bytes, the
    uncompressed size for a row group) weighs it when the pieces are shared out."""

    source: Source | DocumentList
    path: Path | None  # None: the whole source (an ``hf:`` dataset, a DocumentList)
    row_group: int | None
    size: int

    def name(self) -> str:
        where = self.path.as_posix() if self.path is not None else self.source.describe()["spec"]
        return where if self.row_group is None else f"{where}#{self.row_group}"

    def documents(self, report: SourceReport | None = None) -> Iterator[str]:
        report = report if report is not None else SourceReport()
        if self.path is None:
            return self.source.documents(report)
        return self.source._read_file(self.path, report, self.row_group)


@dataclass
class DocumentList:
    """Documents held in memory, as a source (handy in tests and notebooks)."""

    docs: list
    name: str = "<documents>"

    def describe(self) -> dict:
        import hashlib

        h = hashlib.sha256()
        for d in self.docs:
            # Length-prefixed raw text (repr() costs 10x more); a non-string by its repr.
            data = d.encode("utf-8", "surrogatepass") if isinstance(d, str) else repr(d).encode("utf-8", "replace")
            h.update(b"%c%d:" % (b"s" if isinstance(d, str) else b"r", len(data)) + data)
        return {"spec": self.name, "documents": len(self.docs), "sha256": h.hexdigest()}

    def pieces(self) -> list[Piece]:
        return [Piece(self, None, None, sum(len(d) for d in self.docs if isinstance(d, str)))]

    def documents(self, report: SourceReport | None = None) -> Iterator[str]:
        report = report if report is not None else SourceReport()
        for i, d in enumerate(self.docs):
            if not isinstance(d, str):
                report.bad(f"{self.name}[{i}]", f"document is {type(d).__name__}, expected a string")
                continue
            yield d


def parse_source(spec: str | os.PathLike, field: str = "text", split_on: str | None = None) -> Source:
    """Make a :class:`Source` from a command-line spec (see the module docstring)."""
    spec = os.fspath(spec)
    if not spec:
        raise UserError("empty source spec; expected a file, directory, glob or hf:NAME[:CONFIG]")
    return Source(spec=spec, field=field, split_on=split_on)


def iter_documents(sources: Iterable, report: SourceReport | None = None, allow_empty: bool = False) -> Iterator[str]:
    """Yield every non-empty document of every source (or :class:`Piece`), in order.

    Raises :class:`UserError` if the sources hold no documents at all, unless ``allow_empty``
    (one worker's share of the pieces may hold none).
    """
    report = report if report is not None else SourceReport()
    any_doc = False
    for src in sources:
        for doc in src.documents(report):
            if not doc:
                report.empty_documents += 1
                continue
            any_doc = True
            yield doc
    if not any_doc and not allow_empty:
        raise UserError("the input holds no documents (empty input); expected at least one non-empty document")


def _read_text(path: Path, split: re.Pattern | None, report: SourceReport) -> Iterator[str]:
    """Read a text file in blocks cut at newlines, so no UTF-8 sequence is cut."""
    pending = ""
    pieces = []
    with open(path, "rb") as f:
        while True:
            block = f.read(TEXT_READ_BLOCK)
            if not block:
                break
            block += f.readline()
            text = decode_utf8(block, str(path), report)
            if split is None:
                pieces.append(text)
                continue
            parts = split.split(pending + text)
            pending = parts.pop()
            for part in parts:
                if part.strip():
                    yield part.strip()
    if split is None:
        yield "".join(pieces)
    elif pending.strip():
        yield pending.strip()


def _read_jsonl(path: Path, field_name: str, report: SourceReport) -> Iterator[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                where = f"{path}:{lineno}"
                line = decode_utf8(raw, where, report)
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    report.bad(where, f"malformed JSON ({e.msg} at column {e.colno}); expected one JSON object per line")
                    continue
                if not isinstance(record, dict):
                    report.bad(where, f"a JSON {type(record).__name__}, expected an object with field {field_name!r}")
                    continue
                if field_name not in record:
                    keys = ", ".join(sorted(record)[:10]) or "none"
                    report.bad(where, f"field {field_name!r} is missing (fields present: {keys}); use --field to pick one")
                    continue
                value = record[field_name]
                if not isinstance(value, str):
                    report.bad(where, f"field {field_name!r} is {type(value).__name__}, expected a string")
                    continue
                yield value
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise UserError(f"{path}: corrupt or truncated gzip file ({e}); expected a complete .jsonl.gz") from None


def _parquet_file(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise _corrupt_parquet(path, e) from None


def read_parquet_schema(path: Path):
    """The arrow schema of a parquet file (its footer only)."""
    return _parquet_file(path).schema_arrow


def _corrupt_parquet(path: Path, e: Exception) -> UserError:
    return UserError(f"{path}: corrupt or truncated parquet file ({e}); expected a readable parquet file")


def _read_parquet(path: Path, field_name: str, report: SourceReport, row_group: int | None = None) -> Iterator[str]:
    """Every row group in turn (or just ``row_group``), in record batches of at most
    PARQUET_BATCH_ROWS, so memory stays bounded by a row group's column, not the file."""
    import pyarrow as pa

    pf = _parquet_file(path)
    names = pf.schema_arrow.names
    if field_name not in names:
        raise UserError(f"{path}: column {field_name!r} is missing (columns: {', '.join(names)}); use --field to pick one")
    ctype = pf.schema_arrow.field(field_name).type
    if not (pa.types.is_string(ctype) or pa.types.is_large_string(ctype)):
        raise UserError(f"{path}: column {field_name!r} has type {ctype}, expected a string column")
    groups = range(pf.num_row_groups) if row_group is None else [row_group]
    row = sum(pf.metadata.row_group(g).num_rows for g in range(groups[0])) if groups else 0
    for g in groups:
        try:
            batches = pf.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[g], columns=[field_name],
                                      use_threads=False)
            for batch in batches:
                for value in batch.column(0).to_pylist():
                    if value is None:
                        report.bad(f"{path}: row {row}", f"column {field_name!r} is null, expected a string")
                    else:
                        yield value
                    row += 1
        except (pa.ArrowException, OSError) as e:
            raise _corrupt_parquet(path, e) from None


def _read_hf(spec: str, field_name: str, report: SourceReport) -> Iterator[str]:
    parts = spec[3:].split(":")
    name, config = parts[0], (parts[1] if len(parts) > 1 and parts[1] else None)
    if not name:
        raise UserError(f"{spec}: missing dataset name; expected hf:NAME[:CONFIG]")
    try:
        import datasets
    except ImportError:
        raise UserError(f"{spec}: the 'datasets' library is not installed; pip install 'pocketgpt[hf]'") from None
    try:
        ds = datasets.load_dataset(name, config, split="train", streaming=True)
        for i, record in enumerate(ds):
            value = record.get(field_name)
            if field_name not in record:
                report.bad(f"{spec}: row {i}", f"field {field_name!r} is missing (fields: {', '.join(record)})")
            elif not isinstance(value, str):
                report.bad(f"{spec}: row {i}", f"field {field_name!r} is {type(value).__name__}, expected a string")
            else:
                yield value
    except UserError:
        raise
    except Exception as e:  # the datasets library raises many kinds when offline
        raise UserError(
            f"{spec}: could not stream the dataset from the Hugging Face Hub ({type(e).__name__}: {e}); "
            "are you offline? Download it first, or pass local parquet/jsonl files instead"
        ) from None
