"""Matching names in text the way the held-out rule does: whole words, any case, accents folded.

Used by :mod:`.mix` (the held-out countries of the default SFT mix) and by
:mod:`.synth` (``--exclude FILE``), so that both drop the same mentions.

>>> pattern = names_pattern(["Cameroon", "Yaoundé", "The Gambia"])
>>> [bool(pattern.search(fold(t))) for t in ("Life in YAOUNDE", "gambia's coast", "Cameroonian food")]
[True, True, False]
"""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lower case with accents removed: 'Yaoundé' -> 'yaounde'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).lower()


def names_pattern(names) -> re.Pattern:
    """A regex matching (on :func:`fold`-ed text) any of ``names`` as whole words; a name
    starting with "The " also matches without it. No names: a pattern that never matches."""
    terms = set()
    for name in names:
        t = fold(name).strip()
        if t:
            terms.add(t)
            if t.startswith("the ") and t[4:].strip():
                terms.add(t[4:].strip())
    if not terms:
        return re.compile(r"(?!)")
    alts = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alts})(?!\w)")
