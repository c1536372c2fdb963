"""The model as a compressor: its bits per byte next to gzip, bz2 and xz on the same bytes.

A language model that assigns probability ``p`` to the next token can code it in
``-log2 p`` bits with an arithmetic coder, so its cross-entropy in bits per UTF-8 byte
*is* a compression rate (the model's own size not counted, as for a shared dictionary).
The classic compressors here are the standard library's, at their strongest settings.

>>> rates = compressor_bpb(b"abc" * 1000)
>>> sorted(rates), rates["xz"] < 8
(['bz2', 'gzip', 'xz'], True)
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
from pathlib import Path

from pocketgpt.eval.lm import bits_per_byte, text_nats


def compressor_bpb(data: bytes) -> dict[str, float]:
    """Bits per byte of ``gzip -9``, ``bz2 -9`` and ``xz -9e`` on ``data``."""
    n = max(len(data), 1)
    return {
        "gzip": 8 * len(gzip.compress(data, compresslevel=9, mtime=0)) / n,
        "bz2": 8 * len(bz2.compress(data, compresslevel=9)) / n,
        "xz": 8 * len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) / n,
    }


def model_bpb(model, tokenizer, texts: list[str]) -> dict:
    """The model's bits per byte on ``texts``, each scored as a document after ``<|endoftext|>``."""
    ids = [[tokenizer.eot_id] + tokenizer.encode(t) for t in texts]
    nats = sum(text_nats(model, ids))
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    n_tokens = sum(len(i) - 1 for i in ids)
    return {"bpb": bits_per_byte(nats, n_bytes), "bytes": n_bytes, "tokens": n_tokens,
            "bytes_per_token": n_bytes / max(n_tokens, 1)}


def compression_report(model, tokenizer, groups: dict[str, list[str]]) -> dict:
    """Per group of texts: the model's bpb, each compressor's, and model/compressor ratios."""
    out = {}
    for name, texts in groups.items():
        if not texts:
            continue
        m = model_bpb(model, tokenizer, texts)
        rates = compressor_bpb("".join(texts).encode("utf-8"))
        out[name] = {"model_bpb": m["bpb"], **{f"{k}_bpb": v for k, v in rates.items()},
                     "ratio_vs": {k: m["bpb"] / v for k, v in rates.items()},
                     "beats_xz": m["bpb"] < rates["xz"], "bytes": m["bytes"], "tokens": m["tokens"],
                     "documents": len(texts)}
    return out


def read_texts(path: str | Path, max_bytes: int) -> list[str]:
    """Documents of a ``.jsonl`` (field ``text``) or a text file, up to about ``max_bytes``."""
    path = Path(path)
    docs = []
    if path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                docs.append(json.loads(line)["text"])
    else:
        docs = [path.read_text(encoding="utf-8")]
    out, total = [], 0
    for d in docs:
        if total >= max_bytes:
            break
        d = d.encode("utf-8")[: max_bytes - total].decode("utf-8", errors="ignore")
        out.append(d)
        total += len(d.encode("utf-8"))
    return out
