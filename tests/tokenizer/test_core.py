"""Tokenizer behaviour: round trips, the reference encoder, specials, files, errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pocketgpt.errors import UserError
from pocketgpt.tokenizer import DEFAULT_SPECIALS, GPT2_PATTERN, Tokenizer, train

from tok_testlib import SAMPLE, unicode_text  # noqa: E402  (beside this file; see conftest.py)

@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return train([SAMPLE] * 5 + [SAMPLE.upper(), SAMPLE[::-1]], vocab_size=700, progress=False)


def test_vocab_layout(tok):
    n_merges = len(tok.merges)
    assert tok.vocab_size == 256 + n_merges + len(DEFAULT_SPECIALS) == 700
    assert [tok.special_tokens[s] for s in DEFAULT_SPECIALS] == list(range(256 + n_merges, 700))
    assert tok.eot_id == tok.special_tokens["<|endoftext|>"]
    assert all(tok.ranks[bytes([b])] == b for b in range(256))
    assert tok.meta["trained_on"]["documents"] == 7


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=unicode_text)
def test_round_trip_bytes_exact(tok, s):
    ids = tok.encode(s)
    assert tok.decode_bytes(ids) == s.encode("utf-8")
    assert tok.decode(ids) == s


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(s=unicode_text)
def test_tiktoken_path_equals_reference_encoder(tok, s):
    assert tok.encode(s) == tok.encode_reference(s)
    assert tok.encode(s, allowed_special="all") == tok.encode_reference(s, allowed_special="all")


def test_reference_agrees_on_sample(tok):
    assert tok.encode(SAMPLE) == tok.encode_reference(SAMPLE)
    assert len(tok.encode(SAMPLE)) < len(SAMPLE.encode()) / 2  # the merges actually compress


@pytest.mark.parametrize("special", DEFAULT_SPECIALS)
def test_special_strings_are_plain_text_unless_allowed(tok, special):
    text = f"hi {special} there"
    plain = tok.encode(text)
    assert tok.special_tokens[special] not in plain
    assert tok.decode(plain) == text
    allowed = tok.encode(text, allowed_special={special})
    assert allowed.count(tok.special_tokens[special]) == 1
    assert tok.decode(allowed) == text
    with pytest.raises(ValueError, match="unknown special"):
        tok.encode(text, allowed_special={"<|nope|>"})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(list(DEFAULT_SPECIALS) + ["<|", "|>", "user", "a", " "]), max_size=12))
def test_no_control_token_from_text(tok, parts):
    text = "".join(parts)
    ids = tok.encode(text)
    assert not set(ids) & set(tok.special_tokens.values())
    assert tok.encode_batch([text]) == [ids]


def test_decode_replaces_split_characters(tok):
    ids = tok.encode("é")  # two bytes; at this vocab possibly one token
    raw = "é".encode()
    single = [tok.ranks[raw[:1]]]
    assert tok.decode(single) == "\ufffd"
    assert tok.decode_bytes(single) == raw[:1]
    assert tok.decode(ids) == "é"
    with pytest.raises(ValueError, match="not in this vocabulary"):
        tok.decode([tok.vocab_size + 5])


def test_encode_batch_processes_equal_single(tok, monkeypatch):
    import pocketgpt.tokenizer.core as core

    texts = [SAMPLE[i:] + str(i) for i in range(40)]
    monkeypatch.setattr(core, "_PROCESS_THRESHOLD_CHARS", 10)  # force the process pool
    assert tok.encode_batch(texts, workers=2) == [tok.encode(t) for t in texts]
    assert tok.encode_batch(texts, workers=1) == [tok.encode(t) for t in texts]


def test_save_load_round_trip(tok, tmp_path):
    tok.save(tmp_path / "t")
    files = sorted(p.name for p in (tmp_path / "t").iterdir())
    assert files == ["pocketgpt_tokenizer.json", "tokenizer.json", "tokenizer.tiktoken"]
    back = Tokenizer.load(tmp_path / "t")
    assert back.fingerprint == tok.fingerprint
    assert back.merges == tok.merges  # recovered from the ranks alone
    assert back.encode(SAMPLE) == tok.encode(SAMPLE)
    meta = json.loads((tmp_path / "t" / "pocketgpt_tokenizer.json").read_text())
    assert meta["trained_on"]["documents"] == 7 and meta["pattern"] == tok.pattern
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp dirs left


def test_fingerprint_tracks_vocabulary(tok):
    other = train([SAMPLE], vocab_size=700, progress=False)
    same = train([SAMPLE] * 5 + [SAMPLE.upper(), SAMPLE[::-1]], vocab_size=700, progress=False)
    assert same.fingerprint == tok.fingerprint
    assert other.fingerprint != tok.fingerprint
    gpt2 = train([SAMPLE], vocab_size=700, pattern=GPT2_PATTERN, progress=False)
    assert gpt2.fingerprint != other.fingerprint


def test_gpt2_pattern_training_round_trips():
    t = train([SAMPLE] * 3, vocab_size=400, pattern=GPT2_PATTERN, progress=False)
    assert t.encode(SAMPLE) == t.encode_reference(SAMPLE)
    assert t.decode(t.encode(SAMPLE)) == SAMPLE


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(texts=[], vocab_size=300), "corpus is empty"),
        (dict(texts=["", ""], vocab_size=300), "corpus is empty"),
        (dict(texts=["abc"], vocab_size=260), "at least 256 bytes \\+ 5 special tokens = 261"),
        (dict(texts=["abc"], vocab_size=300, special_tokens=("<|a|>", "<|a|>")), "listed more than once"),
        (dict(texts=["abc"], vocab_size=300, special_tokens=("",)), "non-empty"),
    ],
)
def test_bad_training_input(kwargs, message):
    with pytest.raises(UserError, match=message):
        train(progress=False, **kwargs)


def test_load_errors(tmp_path, tok):
    with pytest.raises(UserError, match="not found"):
        Tokenizer.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="not a pocketgpt tokenizer"):
        Tokenizer.load(tmp_path / "empty")
    tok.save(tmp_path / "t")
    (tmp_path / "t" / "pocketgpt_tokenizer.json").write_text("{not json")
    with pytest.raises(UserError, match="corrupt tokenizer metadata"):
        Tokenizer.load(tmp_path / "t")
    tok.save(tmp_path / "u")
    (tmp_path / "u" / "tokenizer.tiktoken").write_text("!!notbase64 1\n")
    with pytest.raises(UserError, match="tokenizer.tiktoken:1"):
        Tokenizer.load(tmp_path / "u")
