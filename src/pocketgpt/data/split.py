"""The train/val split rule: which documents of a stream are held out.

Token shards put these documents in ``val`` and the default corpus writes them to its
``heldout/`` files, so both stages hold out the same positions for the same fraction.
It lives below both so that neither has to import the other for it.
"""

from __future__ import annotations

import math
from fractions import Fraction


def is_val_document(i: int, val_fraction: Fraction) -> bool:
    """Document ``i`` goes to val when ``ceil((i+1)f) > ceil(i f)``: evenly spaced, starting at 0.

    >>> [i for i in range(10) if is_val_document(i, Fraction(1, 4))]
    [0, 4, 8]
    """
    return math.ceil((i + 1) * val_fraction) > math.ceil(i * val_fraction)
