"""The train/val split rule: which documents of a stream are held out.

Token shards put these documents in ``val`` and the default corpus writes them to its
``heldout/`` files, so both stages hold out the same positions for the same fraction.
It lives below both so that neither has to import the other for it.
"""

from __future__ import annotations

from fractions import Fraction


def is_val_document(i: int, val_fraction: Fraction) -> bool:
    """Document ``i`` goes to val when ``ceil((i+1)f) > ceil(i f)``: evenly spaced, starting at 0.

    >>> [i for i in range(10) if is_val_document(i, Fraction(1, 4))]
    [0, 4, 8]
    """
    # integers, not Fraction arithmetic: this runs once per document (12% of a tokenize run)
    p, q = val_fraction.numerator, val_fraction.denominator
    return -((-(i + 1) * p) // q) > -((-i * p) // q)


def val_mask(start: int, count: int, val_fraction: Fraction):
    """:func:`is_val_document` for documents ``start .. start+count-1`` at once (a numpy bool
    array), in exact integer arithmetic, so a merge of parts decides as a single run does.

    >>> val_mask(3, 7, Fraction(1, 4)).nonzero()[0].tolist()  # documents 4 and 8
    [1, 5]
    """
    import numpy as np

    p, q = val_fraction.numerator, val_fraction.denominator
    i = np.arange(start, start + count + 1, dtype=np.int64)
    ceil = -((-i * p) // q)  # ceil(i p / q), exact in int64 for i up to 2^63 / 10^6
    return ceil[1:] > ceil[:-1]
