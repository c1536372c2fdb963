"""Token ids to text deltas: whole UTF-8 characters only, and stop strings held back.

A byte-level BPE token can end in the middle of a multi-byte character, so each
token's bytes go through an incremental UTF-8 decoder: a character is released
only once all its bytes have arrived. Text that could be the start of a stop
string is held back until it is clearly not one, so a stop string never leaks
to the client, even when it spans several tokens.

>>> a = TextAssembler(stop=["\\n\\n"])
>>> a.feed(b"caf\\xc3"), a.feed(b"\\xa9 ok\\n")
('caf', 'é ok')
>>> a.feed(b"\\nmore"), a.stopped
('', True)
>>> a.text
'café ok'
"""

from __future__ import annotations

import codecs


class TextAssembler:
    """Accumulates token bytes; ``feed`` returns the text that is safe to send now."""

    def __init__(self, stop: list[str] | tuple[str, ...] = ()):
        self.stop = [s for s in stop if s]
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buf = ""  # everything decoded so far
        self._sent = 0  # characters of _buf already returned
        self.stopped = False

    @property
    def text(self) -> str:
        """The text sent so far (after ``finish``, the whole reply)."""
        return self._buf[: self._sent]

    def _held(self) -> int:
        """How many trailing characters might be the start of a stop string."""
        hold = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(self._buf) - self._sent), 0, -1):
                if self._buf.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        return hold

    def feed(self, data: bytes) -> str:
        if self.stopped:
            return ""
        start = max(self._sent - max((len(s) for s in self.stop), default=0), 0)
        self._buf += self._decoder.decode(data)
        cut = min((i for s in self.stop if (i := self._buf.find(s, start)) != -1), default=-1)
        if cut != -1:
            self.stopped = True
            self._buf = self._buf[:cut]
            out = self._buf[self._sent:]
            self._sent = len(self._buf)
            return out
        end = len(self._buf) - self._held()
        out = self._buf[self._sent:end]
        self._sent = max(self._sent, end)
        return out

    def finish(self) -> str:
        """Flush held-back text and any incomplete character (as U+FFFD)."""
        if self.stopped:
            return ""
        self._buf += self._decoder.decode(b"", final=True)
        out = self._buf[self._sent:]
        self._sent = len(self._buf)
        return out


def token_text(data: bytes) -> str:
    """A token's bytes for display: UTF-8 where valid, ``\\xNN`` escapes for partial characters.

    >>> token_text("é".encode()), token_text(b"\\xc3")
    ('é', '\\\\xc3')
    """
    return data.decode("utf-8", errors="backslashreplace")
