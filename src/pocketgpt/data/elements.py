"""Chemical element facts from the pinned ``mendeleev`` package, and the held-out elements.

The wheel ships its data as an SQLite database, ``mendeleev/elements.db``; it is extracted
into the package cache (atomically, next to the verified wheel) and read with the standard
library's :mod:`sqlite3`, never by importing mendeleev. Each :class:`Element` carries the
facts a person asks about: the symbol, the atomic number, the category ("noble gas"), the
period, the standard state at room temperature and the year of discovery. A value the
database lacks, or that it cannot settle (an element whose melting and boiling points are
unknown has no state here), is left out, never guessed.

The held-out elements use the countries' mechanism (:func:`pocketgpt.data.countries.is_held_out`)
with their own salt: about 20%, fixed by the name.

>>> category_name("Noble gases"), category_name("Alkali metals"), category_name("Lanthanides")
('noble gas', 'alkali metal', 'lanthanide')
>>> state_at_room_temperature([(234.3, 629.8)]), state_at_room_temperature([(None, 4.2)])
('liquid', 'gas')
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from pocketgpt.data.countries import is_held_out
from pocketgpt.data.packages import PINS, fetch_pinned, iter_members
from pocketgpt.errors import UserError
from pocketgpt.fsio import atomic_write_bytes

HELD_OUT_SALT = "pocketgpt-heldout-elements-v1:"
ROOM_TEMPERATURE_K = 298.15
DB_MEMBER = "mendeleev/elements.db"

# the facts asked and taught about an element (its name is the entity)
ELEMENT_FACTS = ("symbol", "number", "category", "period", "state", "discovered")


@dataclass(frozen=True)
class Element:
    """One element's facts; a missing value is ``None`` (or "" for text)."""

    name: str
    symbol: str
    number: int
    category: str = ""
    period: int | None = None
    state: str = ""
    discovered: int | None = None  # the year; None for elements known since antiquity

    @property
    def held_out(self) -> bool:
        return is_element_held_out(self.name)


def is_element_held_out(name: str) -> bool:
    """True for the fixed ~20% of elements that SFT data must never mention."""
    return is_held_out(name, HELD_OUT_SALT)


def held_out_elements(elements: dict[str, Element]) -> list[str]:
    """The held-out names among ``elements``, sorted."""
    return sorted(n for n in elements if is_element_held_out(n))


def element_values(e: Element, fact: str) -> tuple[str, ...]:
    """An element's value for one fact type, as text; naming it answers a question about it.

    >>> fe = Element("Iron", "Fe", 26, "transition metal", 4, "solid", None)
    >>> element_values(fe, "symbol"), element_values(fe, "number"), element_values(fe, "discovered")
    (('Fe',), ('26',), ())
    """
    if fact not in ELEMENT_FACTS:
        raise UserError(f"elements: unknown fact type {fact!r}; expected one of {', '.join(ELEMENT_FACTS)}")
    value = getattr(e, fact)
    return (str(value),) if value not in (None, "") else ()


def category_name(series: str) -> str:
    """mendeleev's series name as a singular noun phrase: "Noble gases" -> "noble gas"."""
    s = series.strip().lower()
    return s[:-2] if s.endswith("gases") else s[:-1] if s.endswith("s") else s


def state_at_room_temperature(points: list[tuple[float | None, float | None]]) -> str:
    """"solid", "liquid" or "gas" at 25 °C from (melting, boiling) points in kelvin, one pair
    per allotrope; "" when a pair cannot settle it or the allotropes disagree. A melting point
    without a boiling point (as for francium, 294 K) is not enough to call it a liquid."""
    states = set()
    for melt, boil in points:
        if boil is not None and boil < ROOM_TEMPERATURE_K:
            states.add("gas")
        elif melt is not None and melt > ROOM_TEMPERATURE_K:
            states.add("solid")
        elif melt is None and boil is not None:  # sublimes (carbon): solid below that point
            states.add("solid")
        elif melt is not None and boil is not None:
            states.add("liquid")
        else:
            return ""
    return states.pop() if len(states) == 1 else ""


def _database(archive: Path) -> Path:
    """``elements.db`` from the wheel, extracted once next to it (rewritten if it differs)."""
    data = next((d for m, d in iter_members(archive) if m == DB_MEMBER), None)
    if data is None:
        raise UserError(f"{archive}: no {DB_MEMBER} member; is this the mendeleev package?")
    target = archive.parent / ".extracted" / "elements.db"
    if not target.is_file() or target.read_bytes() != data:
        target.parent.mkdir(exist_ok=True)
        atomic_write_bytes(target, data)
    return target


def parse_mendeleev(archive: str | os.PathLike) -> dict[str, Element]:
    """``{name: Element}`` from mendeleev's ``elements``, ``series`` and ``phasetransitions`` tables."""
    db = _database(Path(archive))
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            series = dict(con.execute("SELECT id, name FROM series"))
            points: dict[int, list] = {}
            for z, melt, boil in con.execute(
                    "SELECT atomic_number, melting_point, boiling_point FROM phasetransitions ORDER BY id"):
                points.setdefault(z, []).append((melt, boil))
            rows = con.execute("SELECT atomic_number, name, symbol, series_id, period, discovery_year "
                               "FROM elements ORDER BY atomic_number").fetchall()
        finally:
            con.close()
    except sqlite3.Error as e:
        raise UserError(f"{archive}: {DB_MEMBER}: not the expected mendeleev database ({e})") from None
    out = {}
    for z, name, symbol, series_id, period, year in rows:
        if not name or not symbol or not isinstance(z, int):
            continue
        out[name.strip()] = Element(
            name=name.strip(), symbol=symbol.strip(), number=z,
            category=category_name(series[series_id]) if series.get(series_id) else "",
            period=period if isinstance(period, int) and period > 0 else None,
            state=state_at_room_temperature(points.get(z, [])),
            discovered=year if isinstance(year, int) and year > 0 else None,
        )
    if not out:
        raise UserError(f"{archive}: {DB_MEMBER} has no elements")
    return dict(sorted(out.items()))


def element_facts(cache_dir: str | os.PathLike | None = None, pins: dict | None = None) -> dict[str, Element]:
    """``{name: Element}`` from the pinned mendeleev package (fetched into the cache once)."""
    return parse_mendeleev(fetch_pinned("mendeleev", cache_dir, pins or PINS))
