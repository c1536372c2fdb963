"""``pocketgpt tokenizer train|encode|stats``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from pocketgpt.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenizer", help="train, inspect and use a byte-level BPE tokenizer")
    tsub = p.add_subparsers(dest="tokenizer_command", metavar="ACTION", required=True)

    t = tsub.add_parser("train", help="train a tokenizer on text files")
    t.add_argument("--input", nargs="+", required=True, metavar="PATH", help="text files, or directories walked for *.txt")
    t.add_argument("--vocab-size", type=int, required=True, help="total vocabulary: 256 bytes + merges + special tokens")
    t.add_argument("--out", required=True, help="output directory (written atomically)")
    t.add_argument("--pattern", choices=["gpt4", "gpt2"], default="gpt4", help="pre-split regex (default: gpt4)")
    t.add_argument("--special", nargs="*", default=None, metavar="TOKEN", help="special tokens (default: the five chat specials)")
    t.add_argument("--workers", type=int, default=None, help="pre-split processes (default: all cores)")
    t.set_defaults(func=cmd_train)

    e = tsub.add_parser("encode", help="encode stdin and print the ids as JSON")
    e.add_argument("--tokenizer", required=True, metavar="DIR")
    e.add_argument("--show", action="store_true", help="print the text with token boundaries visible instead")
    e.add_argument("--allow-special", action="store_true", help="let special-token strings in the text become control tokens")
    e.set_defaults(func=cmd_encode)

    s = tsub.add_parser("stats", help="bytes per token and vocabulary use on some text")
    s.add_argument("--tokenizer", required=True, metavar="DIR")
    s.add_argument("--input", nargs="+", required=True, metavar="PATH")
    s.set_defaults(func=cmd_stats)


# -- reading inputs -------------------------------------------------------------------


def text_files(paths: list[str]) -> list[Path]:
    """Expand files and directories (walked for ``*.txt``, sorted) into a file list."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.txt") if f.is_file())
            if not found:
                raise UserError(f"{p}: directory holds no *.txt files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise UserError(f"{p}: no such file or directory")
    return files


def read_text(path: Path) -> str:
    """Read a file as UTF-8. Invalid bytes become U+FFFD and a warning gives the count."""
    from pocketgpt.data.sources import SourceReport, decode_utf8

    report = SourceReport()
    text = decode_utf8(path.read_bytes(), str(path), report)
    if report.replaced_utf8:
        print(f"warning: {path}: {report.replaced_utf8} invalid UTF-8 sequence(s) replaced with U+FFFD", file=sys.stderr)
    return text


def _documents(files: list[Path], totals: dict) -> Iterator[str]:
    for f in files:
        text = read_text(f)
        totals["bytes"] += len(text.encode("utf-8"))
        yield text


# -- commands ---------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from pocketgpt.tokenizer import DEFAULT_SPECIALS, PATTERNS, train
    from pocketgpt.tokenizer.core import EmptyCorpusError

    files = text_files(args.input)
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    totals = {"bytes": 0}
    specials = DEFAULT_SPECIALS if args.special is None else tuple(args.special)
    try:
        tok = train(
            _documents(files, totals), args.vocab_size, pattern=PATTERNS[args.pattern], special_tokens=specials,
            workers=args.workers,
        )
    except EmptyCorpusError:
        named = ", ".join(map(str, files[:3])) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        raise UserError(f"{named}: empty; the training corpus is empty, expected UTF-8 text to learn merges from") from None
    tok.meta["trained_on"].update(bytes=totals["bytes"], files=[str(f) for f in files][:100], n_files=len(files))
    info = tok.meta["trained_on"]
    if info["merges_learned"] < info["merges_requested"]:
        print(
            f"warning: the corpus only supports {info['merges_learned']} merges of the {info['merges_requested']} "
            f"requested; the vocabulary has {tok.vocab_size} ids instead of {args.vocab_size}",
            file=sys.stderr,
        )
    tok.save(args.out)
    print(f"trained {tok.vocab_size}-token tokenizer on {totals['bytes']:,} bytes in {info['seconds']:.1f}s -> {args.out}")
    return 0


def _load(path: str):
    from pocketgpt.tokenizer import Tokenizer

    return Tokenizer.load(path)


def cmd_encode(args: argparse.Namespace) -> int:
    tok = _load(args.tokenizer)
    text = sys.stdin.read()
    ids = tok.encode(text, allowed_special="all" if args.allow_special else ())
    if not args.show:
        print(json.dumps(ids))
        return 0
    pieces = [_show_piece(tok.decode_bytes([i])) for i in ids]
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        colours = ("\x1b[48;5;153m\x1b[30m", "\x1b[48;5;223m\x1b[30m")
        out = "".join(f"{colours[k % 2]}{p}" for k, p in enumerate(pieces)) + "\x1b[0m"
    else:
        out = "|".join(pieces)
    print(out)
    print(f"({len(ids)} tokens, {len(text.encode('utf-8'))} bytes)", file=sys.stderr)
    return 0


def _show_piece(raw: bytes) -> str:
    """A token's text, or its bytes as ``<e2><80>`` when it is part of a character."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(f"<{b:02x}>" for b in raw)


def cmd_stats(args: argparse.Namespace) -> int:
    tok = _load(args.tokenizer)
    files = text_files(args.input)
    n_bytes, used, n_tokens = 0, set(), 0
    for f in files:
        text = read_text(f)
        ids = tok.encode_ordinary(text)
        n_bytes += len(text.encode("utf-8"))
        n_tokens += len(ids)
        used.update(ids)
    if n_tokens == 0:
        raise UserError("no text in the input files")
    n_regular = len(tok.ranks)
    print(f"tokenizer       {args.tokenizer} ({tok.vocab_size} ids, {len(tok.special_tokens)} special)")
    print(f"bytes           {n_bytes:,}")
    print(f"tokens          {n_tokens:,}")
    print(f"bytes/token     {n_bytes / n_tokens:.3f}")
    print(f"vocab used      {len(used):,} of {n_regular:,} regular tokens ({100 * len(used) / n_regular:.1f}%)")
    return 0
