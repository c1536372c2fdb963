"""The model as a compressor, next to the stdlib compressors."""

from __future__ import annotations

import bz2
import gzip
import lzma
import math

import torch

from pocketgpt.eval.compression import compression_report, compressor_bpb, model_bpb


def test_compressor_rates_are_the_stdlib_sizes():
    data = ("the capital of France is Paris. " * 50 + "zebra quartz " * 20).encode()
    r = compressor_bpb(data)
    assert math.isclose(r["bz2"], 8 * len(bz2.compress(data, 9)) / len(data))
    assert math.isclose(r["gzip"], 8 * len(gzip.compress(data, compresslevel=9, mtime=0)) / len(data))
    assert math.isclose(r["xz"], 8 * len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) / len(data))
    assert all(0 < v < 8 for v in r.values())


def test_model_bpb_of_a_uniform_model_is_log2_vocab_per_token(tiny):
    _, model, tok = tiny
    import copy

    uniform = copy.deepcopy(model)
    with torch.no_grad():
        for p in uniform.parameters():
            p.zero_()
    texts = ["Paris is the capital of France.", "Question: What is the capital of Peru?\nAnswer: Lima\n"]
    m = model_bpb(uniform, tok, texts)
    n_tokens = sum(len(tok.encode(t)) for t in texts)
    n_bytes = sum(len(t.encode()) for t in texts)
    assert m["tokens"] == n_tokens and m["bytes"] == n_bytes
    assert math.isclose(m["bpb"], n_tokens * math.log2(model.config.vocab_size) / n_bytes, rel_tol=1e-5)


def test_trained_model_compresses_its_own_kind_of_text_better_than_xz(tiny):
    _, model, tok = tiny
    import random

    from eval_testlib import quiz_text

    texts = [quiz_text(random.Random(100 + i)) for i in range(3)]
    rep = compression_report(model, tok, {"quiz": texts})["quiz"]
    assert rep["model_bpb"] < rep["xz_bpb"] and rep["beats_xz"]
    assert math.isclose(rep["ratio_vs"]["xz"], rep["model_bpb"] / rep["xz_bpb"])
