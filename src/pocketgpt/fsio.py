"""Atomic file and directory writes, so no half-written output passes for a good one.

Every output is written to a temporary sibling and renamed into place; a rename on
the same filesystem is atomic, so a reader sees either the old file or the new one.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> atomic_write_text(os.path.join(d, "a.txt"), "hello")
>>> open(os.path.join(d, "a.txt")).read()
'hello'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from pocketgpt.errors import UserError


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator:
    """Open a temp file next to ``path``; on success it is renamed onto ``path``.

    On any exception the temp file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp directory that is renamed to ``path`` when the block succeeds.

    With ``overwrite=True`` an existing ``path`` is replaced (moved aside, then
    deleted only after the new one is in place). On failure the temp directory
    is deleted and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        old = None
        if path.exists():
            if not overwrite:
                raise FileExistsError(f"{path} already exists")
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes, read in chunks so memory stays flat."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_json(path: str | os.PathLike, missing: str, expected: str = ""):
    """The JSON value in ``path``; a missing file is a :class:`UserError` saying
    ``missing``, an unreadable one names the file, the parser's reason and ``expected``.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.json"
    >>> _ = p.write_text('{"a": 1}')
    >>> read_json(p, missing="no such file")
    {'a': 1}
    """
    import json

    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(missing) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})" + (f"; expected {expected}" if expected else "")) from None


def read_jsonl_objects(path: str | os.PathLike, what: str) -> Iterator[tuple[str, dict]]:
    """``("FILE:LINE", object)`` for every non-blank line of a JSON Lines file
    (``.gz`` compressed too). Errors name the file and line and say what was
    expected: ``what`` describes one line's object, e.g. "one oasst message".

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.jsonl"
    >>> _ = p.write_text('{"a": 1}\\n\\n{"a": 2}\\n')
    >>> [(w.rsplit(":", 1)[1], o) for w, o in read_jsonl_objects(p, "a record")]
    [('1', {'a': 1}), ('3', {'a': 2})]
    """
    import gzip
    import json

    path = Path(path)
    try:
        f = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file; expected a JSON Lines file, {what} per line") from None
    with f:
        try:
            for n, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise UserError(f"{path}:{n}: not UTF-8 text ({e.reason} at byte {e.start})") from None
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{n}: not valid JSON ({e.msg} at column {e.colno}); "
                                    f"expected {what} per line") from None
                if not isinstance(obj, dict):
                    raise UserError(f"{path}:{n}: expected a JSON object ({what}), got {type(obj).__name__}")
                yield f"{path}:{n}", obj
        except (OSError, EOFError) as e:  # a truncated or corrupt .gz
            raise UserError(f"{path}: cannot read ({e})") from None
