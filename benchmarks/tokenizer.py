"""Tokenizer benchmark: our trainer vs HF ``tokenizers`` BpeTrainer, our batch
encoding vs one tiktoken thread, on ~50 MB of real text found on this machine.

    python benchmarks/tokenizer.py [--mb 50] [--vocab-size 32768] [--repeats 1]

The corpus is assembled offline from text the machine already has: Debian's
/usr/share/doc files, the Python docs topics (pydoc_data) and the standard
library's own sources, in a fixed order. Each trainer runs in its own fresh
process so wall time and peak RSS are its own. Both use the GPT-4 split pattern
and the same vocabulary size; the ratios printed are ours / baseline.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import sysconfig
import tempfile
import time
from pathlib import Path


def build_corpus(target_bytes: int) -> list[str]:
    """Documents of real text from this machine, in a deterministic order."""
    from pydoc_data.topics import topics

    docs: list[str] = list(topics.values())
    n = sum(len(d.encode()) for d in docs)
    files = sorted(glob.glob("/usr/share/doc/**/*", recursive=True))
    files = [f for f in files if not f.endswith(".gz") and os.path.isfile(f) and os.path.getsize(f) < 2_000_000]
    files += sorted(glob.glob(os.path.join(sysconfig.get_paths()["stdlib"], "**", "*.py"), recursive=True))
    for f in files:
        if n >= target_bytes:
            break
        try:
            text = Path(f).read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        docs.append(text)
        n += len(text.encode())
    return docs


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (pool workers): unlike
    wall time, it barely moves when other programs compete for the cores."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _train_ours(docs_path: str, vocab_size: int, q) -> None:
    from pocketgpt.tokenizer import train

    docs = json.loads(Path(docs_path).read_text())
    t0, c0 = time.perf_counter(), _cpu_seconds()
    tok = train(docs, vocab_size, progress=False)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    tok.save(Path(docs_path).with_name("tok"))  # the encoding benchmark reuses it
    q.put({"seconds": seconds, "cpu": cpu, "rss_mb": _peak_rss_mb(), "vocab": tok.vocab_size, "stats": tok.meta["trained_on"]})


def _train_hf(docs_path: str, vocab_size: int, q) -> None:
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers

    from pocketgpt.tokenizer import DEFAULT_SPECIALS, GPT4_PATTERN

    docs = json.loads(Path(docs_path).read_text())
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GPT4_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(DEFAULT_SPECIALS),
    )
    t0, c0 = time.perf_counter(), _cpu_seconds()
    tok.train_from_iterator(docs, trainer)
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    q.put({"seconds": seconds, "cpu": cpu, "rss_mb": _peak_rss_mb(), "vocab": tok.get_vocab_size()})


def run_isolated(fn, *args) -> dict:
    ctx = mp.get_context("spawn")  # a fresh interpreter: its peak RSS is its own
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    result = q.get()
    p.join()
    return result


def bench_encoding(docs: list[str], tok_dir: str, n_bytes: int) -> dict:
    from pocketgpt.tokenizer import Tokenizer

    tok = Tokenizer.load(tok_dir)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    ref = tok.encoding.encode_ordinary_batch(docs, num_threads=1)
    t_tiktoken, c_tiktoken = time.perf_counter() - t0, _cpu_seconds() - c0
    t0, c0 = time.perf_counter(), _cpu_seconds()
    ours = tok.encode_batch(docs)
    t_ours, c_ours = time.perf_counter() - t0, _cpu_seconds() - c0
    assert ours == ref, "batch encoding disagrees with tiktoken"
    return {
        "tiktoken_1thread_mbs": n_bytes / 1e6 / t_tiktoken,
        "ours_batch_mbs": n_bytes / 1e6 / t_ours,
        "cpu_ratio": c_ours / c_tiktoken,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=50)
    ap.add_argument("--vocab-size", type=int, default=32768)
    ap.add_argument("--repeats", type=int, default=1, help="train each this many times, keep the fastest")
    args = ap.parse_args()

    docs = build_corpus(int(args.mb * 1e6))
    n_bytes = sum(len(d.encode()) for d in docs)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"corpus: {len(docs)} documents, {n_bytes / 1e6:.1f} MB; vocab {args.vocab_size}; GPT-4 split pattern")

    with tempfile.TemporaryDirectory() as tmp:
        docs_path = os.path.join(tmp, "docs.json")
        Path(docs_path).write_text(json.dumps(docs))
        results = {"ours": [], "hf": []}
        for _ in range(args.repeats):  # alternate, so drift in machine load hits both
            results["hf"].append(run_isolated(_train_hf, docs_path, args.vocab_size))
            results["ours"].append(run_isolated(_train_ours, docs_path, args.vocab_size))
        ours = min(results["ours"], key=lambda r: r["seconds"])
        hf = min(results["hf"], key=lambda r: r["seconds"])
        ours_rss, ours_worker_rss = ours["rss_mb"]
        hf_rss, _ = hf["rss_mb"]
        print("\n== training ==")
        print(f"HF tokenizers BpeTrainer : {hf['seconds']:7.2f} s wall, {hf['cpu']:6.2f} s CPU   peak RSS {hf_rss:7.0f} MB")
        s = ours["stats"]
        print(
            f"pocketgpt train          : {ours['seconds']:7.2f} s wall, {ours['cpu']:6.2f} s CPU   peak RSS {ours_rss:7.0f} MB main + "
            f"{ours_worker_rss:.0f} MB largest pre-split worker"
        )
        print(f"  pre-split {s['presplit_seconds']:.2f} s ({s['distinct_chunks']} distinct chunks), "
              f"merges {s['merge_seconds']:.2f} s ({s['merges_learned']} merges)")
        print(f"ratio (ours / HF)        : wall time {ours['seconds'] / hf['seconds']:.2f}x, CPU time {ours['cpu'] / hf['cpu']:.2f}x, "
              f"peak RSS {ours_rss / hf_rss:.2f}x (main process)")

        enc = bench_encoding(docs, os.path.join(tmp, "tok"), n_bytes)
        print(f"\n== encoding (the trained vocab {args.vocab_size}) ==")
        print(f"tiktoken, 1 thread       : {enc['tiktoken_1thread_mbs']:6.1f} MB/s")
        print(f"pocketgpt encode_batch   : {enc['ours_batch_mbs']:6.1f} MB/s ({os.cpu_count()} processes)")
        print(f"ratio (ours / tiktoken)  : {enc['ours_batch_mbs'] / enc['tiktoken_1thread_mbs']:.2f}x throughput; "
              f"{enc['cpu_ratio']:.2f}x the CPU time (process overhead)")


if __name__ == "__main__":
    sys.exit(main())
