"""Hugging Face ``tokenizers`` format and GPT-2 file format, both ways.

Byte-level BPE in those formats writes each byte as a printable unicode character
(the GPT-2 convention), so tokens can be JSON keys and ``merges.txt`` lines:

>>> b2u = bytes_to_unicode()
>>> b2u[ord("a")], b2u[ord(" ")], b2u[ord("\\n")]
('a', 'Ġ', 'Ċ')
>>> token_to_str(b" the"), str_to_token("Ġthe")
('Ġthe', b' the')
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from pocketgpt.errors import UserError


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """Map every byte to a printable character: printable Latin-1 bytes map to
    themselves, the rest (controls, space, ...) to code points 256, 257, ... in order."""
    printable = set(range(ord("!"), ord("~") + 1)) | set(range(0xA1, 0xAC + 1)) | set(range(0xAE, 0xFF + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@functools.lru_cache(maxsize=1)
def _unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def token_to_str(token: bytes) -> str:
    b2u = bytes_to_unicode()
    return "".join(b2u[b] for b in token)


def str_to_token(s: str, where: str = "token") -> bytes:
    u2b = _unicode_to_bytes()
    try:
        return bytes(u2b[c] for c in s)
    except KeyError as e:
        raise UserError(f"{where}: {s!r} is not a byte-level BPE token (character {e.args[0]!r})") from None


def hf_tokenizer_json(
    ranks: dict[bytes, int], merges: list[tuple[bytes, bytes]], special_tokens: dict[str, int], pattern: str
) -> dict:
    """The ``tokenizer.json`` document for a byte-level BPE with a regex pre-split.

    Merges are applied by priority (list order), ``ignore_merges`` is off so whole
    words are not looked up first, and specials are added tokens.
    """
    vocab = {token_to_str(tok): i for tok, i in sorted(ranks.items(), key=lambda kv: kv[1])}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": i,
                "content": s,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
            for s, i in sorted(special_tokens.items(), key=lambda kv: kv[1])
        ],
        "normalizer": None,
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        },
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [f"{token_to_str(a)} {token_to_str(b)}" for a, b in merges],
        },
    }


def read_gpt2_files(
    vocab_json: str | Path, merges_txt: str | Path
) -> tuple[dict[bytes, int], list[tuple[bytes, bytes]], dict[str, int]]:
    """Read GPT-2's ``vocab.json`` + ``merges.txt`` into ``(ranks, merges, specials)``.

    Entries of the form ``<|...|>`` in ``vocab.json`` (GPT-2 has ``<|endoftext|>``
    = 50256) are returned as special tokens, not ranks.
    """
    vocab_json, merges_txt = Path(vocab_json), Path(merges_txt)
    for p in (vocab_json, merges_txt):
        if not p.is_file():
            raise UserError(f"{p}: file not found")
    try:
        vocab = json.loads(vocab_json.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{vocab_json}: not a valid JSON vocabulary ({e})") from None
    if not isinstance(vocab, dict):
        raise UserError(f"{vocab_json}: expected a JSON object mapping token strings to ids")
    ranks: dict[bytes, int] = {}
    specials: dict[str, int] = {}
    for s, i in vocab.items():
        if not isinstance(i, int):
            raise UserError(f"{vocab_json}: the id of {s!r} is {i!r}, expected an integer")
        if s.startswith("<|") and s.endswith("|>"):
            specials[s] = i
        else:
            ranks[str_to_token(s, str(vocab_json))] = i
    merges: list[tuple[bytes, bytes]] = []
    for lineno, line in enumerate(merges_txt.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#version"):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise UserError(f"{merges_txt}:{lineno}: expected two tokens separated by one space, got {line!r}")
        a, b = (str_to_token(p, f"{merges_txt}:{lineno}") for p in parts)
        if a + b not in ranks:
            raise UserError(f"{merges_txt}:{lineno}: merge {line!r} makes a token missing from {vocab_json}")
        merges.append((a, b))
    return ranks, merges, specials
