"""Streaming text: deltas are whole characters, stop strings never leak."""

from __future__ import annotations

import doctest

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pocketgpt.generate import Engine, text
from pocketgpt.generate.text import TextStream

from .conftest import tiny_model


class ByteTok:
    """Token id i is the single byte i: every multi-byte character spans tokens."""

    def token_bytes(self, i):
        return bytes([i])


def test_multibyte_characters_arrive_whole_with_a_real_tokenizer(tok):
    s = "a🙂é漢🚀b"
    byte_ids = [tok.encode_ordinary(chr(b))[0] if b < 128 else tok.ranks[bytes([b])] for b in s.encode()]
    ts = TextStream(tok)
    deltas = [ts.push(i)[0] for i in byte_ids] + [ts.flush()]
    assert "".join(deltas) == s
    # each character is emitted by the token carrying its last byte, and never in part
    ends, pos = [], 0
    for ch in s:
        pos += len(ch.encode())
        ends.append(pos - 1)
    assert [d for d in deltas[:-1] if d] == list(s)
    assert [i for i, d in enumerate(deltas[:-1]) if d] == ends


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab é🙂漢\n"), min_size=0, max_size=30))
def test_stream_of_real_token_ids_reassembles_the_text(tok, s):
    # The tokenizer's own tokens (some are partial UTF-8: merges may cut inside a character).
    ids = tok.encode(s)
    ts = TextStream(tok)
    deltas = [ts.push(i)[0] for i in ids] + [ts.flush()]
    assert "".join(deltas) == s
    assert all("\ufffd" not in d for d in deltas)


def test_unfinished_character_at_the_end_becomes_replacement():
    ts = TextStream(ByteTok())
    assert [ts.push(b)[0] for b in "🙂".encode()[:3]] == ["", "", ""]
    assert ts.flush() == "\ufffd"


@settings(max_examples=200, deadline=None)
@given(s=st.text(alphabet="ab\n", max_size=25), stops=st.lists(st.text(alphabet="ab\n", min_size=1, max_size=3),
                                                                min_size=1, max_size=3))
def test_stop_strings_cut_at_first_match_and_never_leak(s, stops):
    ts = TextStream(ByteTok(), tuple(stops))
    # streaming semantics: the first stop string to be completed wins (earliest start on a tie)
    cuts = []
    for n in range(1, len(s) + 1):
        cuts = [i for i in (s[:n].find(x) for x in stops) if i >= 0]
        if cuts:
            break
    want = s[: min(cuts)] if cuts else s
    emitted, hit = "", None
    for b in s.encode():
        d, hit = ts.push(b)
        emitted += d
        assert want.startswith(emitted)  # nothing beyond the cut is ever released
        if hit:
            break
    if not hit:
        emitted += ts.flush()
    assert emitted == want
    assert (hit is not None) == bool(cuts)


def test_engine_text_deltas_and_stop_strings(tok):
    model = tiny_model(vocab_size=tok.vocab_size, block_size=96)
    engine = Engine(model, tok)
    free = engine.generate("The capital of", max_new_tokens=40, temperature=0)
    assert free.text == "".join(t.text for t in free.tokens)
    assert free.text == tok.decode(free.ids)
    assert free.finish_reason == "length"
    # stop at a piece of text the free run produced after a few tokens
    stop = free.text[len(tok.decode(free.ids[:8])):][:3]
    assert stop
    cut = engine.generate("The capital of", max_new_tokens=40, temperature=0, stop=(stop, "never-produced"))
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.find(stop)]
    assert cut.ids == free.ids[: len(cut.ids)] and len(cut.ids) < 40


def test_padded_vocabulary_never_yields_ids_without_text(tok):
    model = tiny_model(vocab_size=tok.vocab_size + 40, block_size=64)
    with torch.no_grad():  # make the padding rows the most likely tokens
        model.wte.weight[tok.vocab_size:] *= 50
    plain = Engine(model).generate([1, 2, 3], max_new_tokens=30, temperature=1.0, seed=0)
    assert any(i >= tok.vocab_size for i in plain.ids)
    c = Engine(model, tok).generate([1, 2, 3], max_new_tokens=30, temperature=1.0, seed=0)
    assert len(c.ids) == 30 and max(c.ids) < tok.vocab_size and c.text == tok.decode(c.ids)


def test_docstring_examples():
    assert doctest.testmod(text).failed == 0


# Raw token bytes, as the server feeds them (tokens cut anywhere, stops of any kind).

def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def _expected(chunks: list[bytes], stops: list[str]) -> str:
    """Naive reference: generation stops at the first chunk after which some stop string
    appears in the text so far; the reply is cut at the earliest occurrence there."""
    so_far = b""
    for c in chunks:
        so_far += c
        text = so_far.decode("utf-8", errors="ignore")
        hits = [text.find(s) for s in stops if s in text]
        if hits:
            return text[: min(hits)]
    return so_far.decode()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab\n é日🙂", max_size=40), st.lists(st.integers(0, 200), max_size=12),
       st.lists(st.text(alphabet="ab\n é🙂", min_size=1, max_size=4), max_size=3))
def test_deltas_match_naive_cut_at_any_byte_split(text, cuts, stops):
    a = TextStream(stop=tuple(stops))
    out = []
    chunks = _chunks(text.encode(), cuts)
    for piece in chunks:
        delta, _ = a.push_bytes(piece)
        assert "\ufffd" not in delta  # never half a character
        out.append(delta)
    out.append(a.flush())
    assert "".join(out) == _expected(chunks, stops)


def test_stop_string_spanning_tokens_is_held_back_then_dropped():
    a = TextStream(stop=("END",))
    assert a.push_bytes(b"hello E") == ("hello ", None)  # "E" might start "END"
    assert a.push_bytes(b"N") == ("", None)
    assert a.push_bytes(b"D and more") == ("", "END")
    assert a.flush() == ""


def test_held_text_is_released_when_it_turns_out_not_to_be_a_stop():
    a = TextStream(stop=("END",))
    assert a.push_bytes(b"E")[0] == ""
    assert a.push_bytes(b"x")[0] == "Ex"
    assert a.push_bytes(b"EN")[0] == ""
    assert a.flush() == "EN"


def test_incomplete_character_from_bytes_becomes_replacement():
    a = TextStream()
    assert a.push_bytes("é".encode()[:1])[0] == ""
    assert a.flush() == "\ufffd"
