"""Token text for display: partial UTF-8 shown as escapes (reply streaming is tested
with generate.text.TextStream, which the server uses)."""

from __future__ import annotations

from pocketgpt.serve.text import token_text


def test_token_text_escapes_partial_bytes():
    assert token_text(" 日".encode()) == " 日"
    assert token_text("日".encode()[:2]) == "\\xe6\\x97"
