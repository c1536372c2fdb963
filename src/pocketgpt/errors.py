"""User-facing errors.

A :class:`UserError` is a mistake in what the user gave us (a missing file, a bad
value, a malformed record). The CLI prints its message as one paragraph and exits
non-zero without a traceback; anything else is a bug and keeps its traceback.

>>> try:
...     raise UserError("corpus.txt: the file is empty; expected UTF-8 text")
... except UserError as e:
...     print(e)
corpus.txt: the file is empty; expected UTF-8 text
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input, reported without a traceback."""

    exit_code = 2
