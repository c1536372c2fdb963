"""Token text for display in the API and the web UI's inspector.

Streamed reply text goes through :class:`pocketgpt.generate.text.TextStream`
(whole UTF-8 characters only, stop strings held back), the same as the engine's.
"""

from __future__ import annotations


def token_text(data: bytes) -> str:
    """A token's bytes for display: UTF-8 where valid, ``\\xNN`` escapes for partial characters.

    >>> token_text("é".encode()), token_text(b"\\xc3")
    ('é', '\\\\xc3')
    """
    return data.decode("utf-8", errors="backslashreplace")
