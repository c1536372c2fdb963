"""Text deltas: whole UTF-8 characters only; stop strings cut exactly and never leak."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pocketgpt.serve.text import TextAssembler, token_text


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
    a = TextAssembler(stops)
    out = []
    chunks = _chunks(text.encode(), cuts)
    for piece in chunks:
        delta = a.feed(piece)
        assert "\ufffd" not in delta  # never half a character
        out.append(delta)
    out.append(a.finish())
    assert "".join(out) == _expected(chunks, stops)
    assert a.text == "".join(out)


def test_stop_string_spanning_tokens_is_held_back_then_dropped():
    a = TextAssembler(["END"])
    assert a.feed(b"hello E") == "hello "  # "E" might start "END"
    assert a.feed(b"N") == ""
    assert a.feed(b"D and more") == "" and a.stopped
    assert a.text == "hello "


def test_held_text_is_released_when_it_turns_out_not_to_be_a_stop():
    a = TextAssembler(["END"])
    assert a.feed(b"E") == ""
    assert a.feed(b"x") == "Ex"
    assert a.feed(b"EN") == ""
    assert a.finish() == "EN"


def test_incomplete_character_at_the_end_becomes_replacement():
    a = TextAssembler()
    assert a.feed("é".encode()[:1]) == ""
    assert a.finish() == "\ufffd"


def test_token_text_escapes_partial_bytes():
    assert token_text(" 日".encode()) == " 日"
    assert token_text("日".encode()[:2]) == "\\xe6\\x97"
