"""Token ids to streamed text: whole UTF-8 characters only, stop strings held back.

A byte-level BPE token can end in the middle of a multi-byte character (an
emoji is often two or three tokens). :class:`TextStream` feeds each token's
bytes to an incremental UTF-8 decoder, so a delta only ever carries complete
characters; a character arrives whole once its last byte does.

With stop strings it also holds back any tail of the text that could be the
start of a stop string, so text that turns out to be part of one is never
emitted. The text is checked after every token, so the first stop string to be
completed wins (the earliest-starting one, if a token completes several), and
the text is cut just before it.

>>> class Bytes:  # a stand-in tokenizer: token id i is the single byte i
...     def token_bytes(self, i): return bytes([i])
>>> ts = TextStream(Bytes(), stop=("\\n\\n",))
>>> [ts.push(b) for b in "é".encode()]           # two bytes, one character
[('', None), ('é', None)]
>>> [ts.push(b) for b in b"a\\nb\\n\\nc"]
[('a', None), ('', None), ('\\nb', None), ('', None), ('', '\\n\\n'), ('', '\\n\\n')]
"""

from __future__ import annotations

import codecs


class TextStream:
    """Turns one sequence's token ids (:meth:`push`), or their bytes
    (:meth:`push_bytes`, no tokenizer needed), into text deltas. Empty stop
    strings are ignored."""

    def __init__(self, tokenizer=None, stop: tuple[str, ...] = ()):
        self.tokenizer = tokenizer
        self.stop = tuple(s for s in stop if s)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""  # decoded text not yet emitted: it may begin a stop string
        self.stopped: str | None = None  # the stop string that matched, once one has

    def push(self, token_id: int) -> tuple[str, str | None]:
        """Add a token; return (text now safe to emit, the stop string if one just matched)."""
        return self.push_bytes(self.tokenizer.token_bytes(token_id))

    def push_bytes(self, data: bytes) -> tuple[str, str | None]:
        """:meth:`push` for a token given as its bytes."""
        if self.stopped is not None:
            return "", self.stopped
        self._held += self._decoder.decode(data)
        return self._release()

    def flush(self) -> str:
        """End of generation: the rest of the text (an unfinished character becomes U+FFFD)."""
        if self.stopped is not None:
            return ""
        self._held += self._decoder.decode(b"", final=True)
        out, self._held = self._held, ""
        return out

    def _release(self) -> tuple[str, str | None]:
        held = self._held
        if not self.stop:
            self._held = ""
            return held, None
        first = None
        for s in self.stop:
            i = held.find(s)
            if i >= 0 and (first is None or i < first[0]):
                first = (i, s)
        if first is not None:
            self.stopped = first[1]
            self._held = ""
            return held[: first[0]], self.stopped
        keep = 0  # the longest tail of held that is a proper prefix of some stop string
        for s in self.stop:
            for n in range(min(len(s) - 1, len(held)), keep, -1):
                if held.endswith(s[:n]):
                    keep = n
                    break
        out, self._held = held[: len(held) - keep], held[len(held) - keep :]
        return out, None
